from llmplan.cli.app import main

main()
