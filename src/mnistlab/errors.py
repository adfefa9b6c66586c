"""Exceptions raised by mnistlab: each says what was expected, what was found, and what to do."""

__all__ = [
    "DatasetNotFoundError",
    "FormatError",
    "IntegrityError",
    "MissingExtraError",
    "MnistlabError",
    "ModelError",
    "UnknownDatasetError",
]


class MnistlabError(Exception):
    """Base class of every error mnistlab raises on purpose."""


class FormatError(MnistlabError, ValueError):
    """A file or array does not have the structure its format requires."""


class IntegrityError(MnistlabError, ValueError):
    """Bytes do not match their pinned hash: corrupt, truncated, or not the expected dataset."""


class UnknownDatasetError(MnistlabError, LookupError):
    """A dataset name that is not in the registry and not a path."""

    def __str__(self) -> str:  # LookupError would wrap the message in quotes
        return str(self.args[0])


class DatasetNotFoundError(MnistlabError, LookupError):
    """A known dataset that no source (cache, system, package, mirror) could provide."""

    def __str__(self) -> str:
        return str(self.args[0])


class MissingExtraError(MnistlabError, ImportError):
    """An optional dependency (an extra such as ``mnistlab[torch]``) is not installed."""


class ModelError(MnistlabError, ValueError):
    """A saved model that cannot be used: corrupt, from another version, or given the wrong input."""
