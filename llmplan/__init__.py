"""llmplan: which GPU to buy or rent (and how many) to run a given LLM, and what it will cost.

The package is a pure core (records, memory, throughput, cost, solver) with thin edges:
``llmplan.hub`` is the only module that talks to the Hugging Face Hub, ``llmplan.cli`` the only
one that parses arguments or prints. Nothing heavy is imported here, so ``llmplan --help`` is instant.
"""

__version__ = "0.1.0"
