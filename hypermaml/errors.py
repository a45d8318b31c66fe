"""Error types that the command line catches, kept apart from torch: ``hypermaml --help`` and a usage mistake
answer without the two seconds that importing torch takes. ``hypermaml.checkpoint`` and the package re-export
``CheckpointError``; ``ConfigError`` lives with the config reader (``hypermaml.config_io``) and
``DataMissingError`` with the data folder (``hypermaml.data.base``)."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A file that cannot be loaded as a HyperMAML Studio checkpoint; the message says why."""
