"""Self-describing checkpoints: ``{format_version, config, state_dict, metrics}``, loaded as data only."""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import torch

from .backbones import Conv4, IdentityBackbone, build_backbone
from .base import FewShotModel
from .config import ConfigError, ModelConfig, from_dict, to_dict
from .custom_backbone import ModuleBackbone
from .errors import CheckpointError as CheckpointError  # defined apart from torch, for the command line

FORMAT_VERSION = 1


def build_model(config: ModelConfig) -> FewShotModel:
    """A freshly initialised model of ``config.method``."""
    from .hypermaml import HyperMAML
    from .maml import MAML
    from .protonet import ProtoNet

    cls = {"maml": MAML, "hypermaml": HyperMAML, "protonet": ProtoNet}[config.method]
    return cls(config, build_backbone(config.backbone))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a checkpoint is as readable as any other file
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(model: FewShotModel, path: str | os.PathLike, metrics: dict | None = None) -> None:
    """Write ``model`` (config + weights + metrics) to ``path`` atomically.

    A model around your own backbone (``custom_backbone.ModuleBackbone``) is saved too, with the backbone's class
    name under ``custom_backbone``: ``load`` cannot rebuild a class from a checkpoint (data, never code) and
    says so; build the model again and ``load_state_dict`` the weights (``read_checkpoint(path)["state_dict"]``).
    """
    data = {
        "format_version": FORMAT_VERSION,
        "config": to_dict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metrics": dict(metrics if metrics is not None else model.metrics),
    }
    custom = custom_backbone(model)
    if custom is not None:
        data["custom_backbone"] = custom
    atomic_torch_save(data, path)


def custom_backbone(model: FewShotModel) -> str | None:
    """The qualified class name of ``model``'s backbone when ``build_model`` cannot rebuild it from the config
    (a user's own module), else None."""
    backbone = model.backbone
    if type(backbone) in (Conv4, IdentityBackbone):
        return None
    cls = type(backbone.module) if isinstance(backbone, ModuleBackbone) else type(backbone)
    return f"{cls.__module__}.{cls.__qualname__}"


_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default format is a zip archive
# torch.save(..., _use_new_zipfile_serialization=False) starts with the pickled magic number, protocol 2
_LEGACY_MAGIC = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)
_REQUIRED_KEYS = ("format_version", "config", "state_dict")
# torch.load(weights_only=True) names what it refused; "Unsupported operand" instead means a broken pickle
_UNSAFE = re.compile(r"Unsupported global|Unsupported class|not an allowed global|GLOBAL ")


def bundled_dir() -> Path | None:
    """The folder of the checkpoints shipped with hypermaml (package data in a wheel, ``pretrained/`` in a
    source checkout), or None when neither exists."""
    dirs = _bundled_dirs()
    return dirs[0] if dirs else None


def bundled_names() -> list[str]:
    """The names ``hm.load`` accepts for the bundled checkpoints, sorted, without ``.pt``
    (``"omniglot_emnist_hypermaml_1shot"``, ``"transductive/omniglot_emnist_hypermaml_1shot"``, ...)."""
    names = set()
    for folder in _bundled_dirs():
        for file in folder.rglob("*.pt"):
            rel = file.relative_to(folder)
            if file.is_file() and not any(part.startswith(".") for part in rel.parts):
                names.add(rel.with_suffix("").as_posix())
    return sorted(names)


def _bundled_dirs() -> list[Path]:
    package = Path(__file__).absolute().parent  # the hypermaml package
    candidates = (package / "pretrained", package.parent / "pretrained")
    return [d for d in candidates if d.is_dir()]


def _bundled_name(path: str | os.PathLike) -> str | None:
    """``path`` as a bundled checkpoint's name (relative, no ``..``, ``.pt`` optional), else None."""
    text = os.fspath(path)
    if not isinstance(text, str) or not text or text.startswith("~"):
        return None
    parts = text.replace(os.sep, "/").split("/")
    if PurePosixPath(text).is_absolute() or any(part in ("", ".", "..") for part in parts):
        return None
    if len(parts) > 1 and not any((folder / parts[0]).is_dir() for folder in _bundled_dirs()):
        return None  # a path into some other folder, not "transductive/<name>"
    return "/".join(parts).removesuffix(".pt")


def resolve(path: str | os.PathLike) -> Path:
    """The checkpoint file ``path`` names: an existing path as it is, else a bundled checkpoint's name
    (``"omniglot_emnist_hypermaml_1shot"``, ``".pt"`` optional). Raises ``CheckpointError`` if neither."""
    given = Path(path)
    if given.exists():
        return given
    name = _bundled_name(path)
    if name is not None:
        for folder in _bundled_dirs():
            candidate = folder / f"{name}.pt"
            if candidate.is_file():
                return candidate
        names = bundled_names()
        hint = f"; bundled checkpoints: {', '.join(names)}" if names else "; no bundled checkpoints are installed"
        raise CheckpointError(f"no such checkpoint file '{path}'{hint}")
    raise CheckpointError(f"no such checkpoint file '{path}'")


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict, validated; raises ``CheckpointError`` with a reason a user can act on.

    ``path`` is a file, or the name of a bundled checkpoint (see ``resolve``).
    """
    path = resolve(path)
    data = _torch_load(path)
    if isinstance(data, dict) and "format_version" not in data and {"model", "optimizer", "history"} <= data.keys():
        raise CheckpointError(
            f"'{path}' is a training state (last.pt, for --resume), not a model checkpoint; "
            f"use {path.with_name('best.pt')} from the same run folder"
        )
    if not isinstance(data, dict) or "format_version" not in data:
        holds = "" if isinstance(data, dict) else f"; it holds a {type(data).__name__}"
        raise CheckpointError(f"'{path}' is a PyTorch file but not a HyperMAML Studio checkpoint (no format_version{holds})")
    version = data["format_version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(
            f"'{path}' has format_version {version!r} ({type(version).__name__}), not an integer; "
            f"this library reads format_version 1 to {FORMAT_VERSION}"
        )
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"'{path}' has format_version {version}, newer than this library reads ({FORMAT_VERSION}); "
            f"update hypermaml to load it"
        )
    if version < 1:
        raise CheckpointError(
            f"'{path}' has format_version {version}, which no release wrote; "
            f"this library reads format_version 1 to {FORMAT_VERSION}"
        )
    missing = [k for k in _REQUIRED_KEYS if k not in data]
    if missing:
        raise CheckpointError(
            f"'{path}' lacks {', '.join(missing)} (a checkpoint holds format_version, config, state_dict, metrics)"
        )
    state = data["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"'{path}' has a malformed state_dict (need a dict of name -> tensor)")
    if data.get("metrics") is not None and not isinstance(data["metrics"], dict):
        raise CheckpointError(f"'{path}' has malformed metrics: a {type(data['metrics']).__name__}, not a dict")
    return data


def _torch_load(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` with each way it can fail named for what it is."""
    if path.is_dir():
        raise CheckpointError(f"'{path}' is a directory, not a checkpoint file")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(len(_LEGACY_MAGIC))
    except OSError as exc:
        raise CheckpointError(f"'{path}' cannot be read: {exc.strerror or exc}") from exc
    if size == 0:
        raise CheckpointError(f"'{path}' is empty (0 bytes), not a checkpoint; it may be an interrupted download")
    corrupt = f"'{path}' is truncated or corrupt ({size} bytes); save or download it again"
    if head.startswith(_ZIP_MAGIC):
        # A zip whose end (the central directory) is missing was cut short; torch reports it only as an
        # internal miniz error, so look first.
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise CheckpointError(corrupt) from exc
        if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            raise CheckpointError(f"'{path}' is not a checkpoint (not a PyTorch file: a zip archive without data.pkl)")
    elif len(head) < len(_LEGACY_MAGIC) and _LEGACY_MAGIC.startswith(head):
        raise CheckpointError(corrupt)  # the first bytes of an old-format PyTorch file, and nothing more
    elif not head.startswith(_LEGACY_MAGIC):
        raise CheckpointError(f"'{path}' is not a checkpoint (not a PyTorch file)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if _UNSAFE.search(str(exc)):
            # weights_only refuses pickled code and objects: report it as what it is
            raise CheckpointError(f"'{path}' holds objects other than plain data; refusing to load it") from exc
        raise CheckpointError(corrupt) from exc
    except Exception as exc:  # RuntimeError (zip member), EOFError, struct.error, ...: the bytes are damaged
        raise CheckpointError(corrupt) from exc


def cuda_problem(device: str | torch.device) -> str | None:
    """Why ``device`` cannot be used here (a CUDA device without CUDA), or None; callers add what to do instead."""
    if torch.device(device).type != "cuda" or torch.cuda.is_available():
        return None
    build = "this torch is a CPU-only build" if torch.version.cuda is None else "torch sees no CUDA device here"
    return f"device {str(device)!r} was asked for but {build}"


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> FewShotModel:
    """Rebuild any method from the config stored in the file; returns it in eval mode on ``device``.

    Args:
        path: a checkpoint file, or the name of a bundled one (``"omniglot_emnist_hypermaml_1shot"``,
            ``"transductive/omniglot_emnist_hypermaml_1shot"``; ``bundled_names()`` lists them).

    Raises:
        CheckpointError: the file is missing, a directory, not a PyTorch file, truncated, holds objects
            other than plain data, or is not a valid checkpoint; the message says which.
        ValueError: ``device`` is not a device name, or names a CUDA device this torch cannot use.
    """
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device {device!r} is not a torch device: use 'cpu', 'cuda' or 'cuda:N'") from None
    problem = cuda_problem(device)
    if problem:
        raise ValueError(f"{problem}; use device='cpu'")
    path = resolve(path)
    data = read_checkpoint(path)
    try:
        config = from_dict(ModelConfig, data["config"])
    except ConfigError as exc:
        raise CheckpointError(f"'{path}' has an invalid config: {exc}") from exc
    custom = data.get("custom_backbone")
    if custom is not None:
        cls = {"maml": "MAML", "hypermaml": "HyperMAML", "protonet": "ProtoNet"}[config.method]
        raise CheckpointError(
            f"'{path}' holds a model with your own backbone ({custom}); hm.load rebuilds only the library's "
            f"backbones (a checkpoint holds data, never code): build the model as you did, e.g. "
            f"hm.{cls}(config, {custom.rsplit('.', 1)[-1]}()), and load the weights with "
            f"model.load_state_dict(hm.checkpoint.read_checkpoint(path)['state_dict'])"
        )
    model = build_model(config)
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"'{path}': weights do not fit the stored config: {' '.join(str(exc).split())[:300]}") from exc
    model.metrics = dict(data.get("metrics") or {})
    return model.to(device).eval()
