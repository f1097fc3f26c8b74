"""One error hierarchy. The library raises these; only the CLI turns them into one-line messages."""


class LlmplanError(Exception):
    """Base class: every expected failure is one of these, with a one-line, user-facing message."""

    exit_code = 1


class InvalidInputError(LlmplanError):
    """A value the user gave is out of range or malformed (negative tokens, unknown quant, ...)."""

    exit_code = 2


class UnknownModelError(LlmplanError):
    """The model is neither in the catalog nor reachable on the Hub."""


class UnknownGpuError(LlmplanError):
    """No row of the GPU table matches the name."""


class DataFileError(LlmplanError):
    """A data file (GPU table, catalog, scenario file) is malformed; the message names file and line."""


class HubError(LlmplanError):
    """The Hub could not answer (offline, timeout, gated, rate-limited)."""


class NoConfigError(HubError):
    """The repository has no config.json (GGUF-only or not a transformers model)."""


class GatedModelError(HubError):
    """The repository is gated and no (valid) token was given."""


class MissingSpecError(LlmplanError):
    """A prediction needs a spec the data lacks; we refuse rather than guess."""
