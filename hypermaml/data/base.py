"""What every dataset reader shares: the ``LabelledImages`` they return, and the data folder they read
(``$HYPERMAML_DATA`` or the per-user folder ``hypermaml data prepare`` writes), with the one-line errors that
say how to make it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch  # imported where used: the command line reads this module without loading torch

DATA_ENV = "HYPERMAML_DATA"


@dataclass(frozen=True)
class LabelledImages:
    """x: (N, 1, H, W) float32 in [0, 1], dark on light; y: (N,) int64 in 0..len(class_names)-1."""

    x: torch.Tensor
    y: torch.Tensor
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"{len(self.x)} images but {len(self.y)} labels")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def select_classes(self, keep: list[int]) -> LabelledImages:
        """Only the classes ``keep`` (old ids), relabelled 0..len(keep)-1 in that order."""
        import torch

        remap = torch.full((self.n_classes,), -1, dtype=torch.long)
        remap[torch.tensor(keep, dtype=torch.long)] = torch.arange(len(keep))
        new_y = remap[self.y]
        mask = new_y >= 0
        return LabelledImages(self.x[mask], new_y[mask], tuple(self.class_names[i] for i in keep))


class DataMissingError(FileNotFoundError):
    """A data folder or file the readers need is absent. The message is one line: what is missing, where,
    and the command that makes it (``hypermaml data prepare``)."""


def default_data_dir() -> Path:
    """The per-user data folder: where ``hypermaml data prepare`` writes by default and where the readers
    look when ``$HYPERMAML_DATA`` is not set (e.g. ``~/.local/share/hypermaml/data`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("hypermaml", appauthor=False)) / "data"


def prepare_hint(folder: str | os.PathLike) -> str:
    """The command that builds ``folder`` (the same words in every missing-data message)."""
    return f"run: hypermaml data prepare --dest {folder} (offline: add --from FOLDER holding the official archives)"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: ``root`` if given, else ``$HYPERMAML_DATA``, else ``default_data_dir()``.

    Raises ``DataMissingError`` (one line, with the command that makes the folder) when it does not exist.
    """
    if root is not None:
        path, origin = Path(root).expanduser(), "the root argument"
    elif os.environ.get(DATA_ENV):
        path, origin = Path(os.environ[DATA_ENV]).expanduser(), f"${DATA_ENV}"
    else:
        path = default_data_dir()
        if not path.is_dir():
            raise DataMissingError(
                f"no data folder: ${DATA_ENV} is not set and the default folder {path} does not exist; "
                f"{prepare_hint(path)}, or set ${DATA_ENV}"
            )
        return path
    if not path.is_dir():
        state = "is a file, not a folder" if path.exists() else "does not exist"
        raise DataMissingError(f"data folder {path} {state} (from {origin}); {prepare_hint(path)}")
    return path


def data_file(root: str | os.PathLike | None, *parts: str) -> Path:
    """``data_root(root) / parts``, or ``DataMissingError`` naming the file and the command that makes it."""
    folder = data_root(root)
    path = folder.joinpath(*parts)
    if path.exists():
        return path
    missing = f"{'/'.join(parts)} is missing from the data folder {folder}"
    if folder.parent.joinpath(*parts).exists():  # pointed at omniglot/ or emnist-byclass-test/ inside it
        where = "the root argument" if root is not None else f"${DATA_ENV}"
        raise DataMissingError(f"{missing}, but its parent folder has it: set {where} to {folder.parent}")
    hint = prepare_hint(folder)
    if root is None and not os.environ.get(DATA_ENV):  # the default folder: the data may be prepared elsewhere
        hint += f"; for data prepared elsewhere, set ${DATA_ENV} to the folder holding omniglot/ and emnist-byclass-test/"
    raise DataMissingError(f"{missing}; {hint}")
