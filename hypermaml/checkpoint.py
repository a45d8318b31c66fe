"""Self-describing checkpoints: ``{format_version, config, state_dict, metrics}``, loaded as data only."""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from .backbones import build_backbone
from .base import FewShotModel
from .config import ModelConfig, from_dict, to_dict

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file that cannot be loaded as a HyperMAML Studio checkpoint; the message says why."""


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
    """Write ``model`` (config + weights + metrics) to ``path`` atomically."""
    atomic_torch_save(
        {
            "format_version": FORMAT_VERSION,
            "config": to_dict(model.config),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "metrics": dict(metrics if metrics is not None else model.metrics),
        },
        path,
    )


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict, validated; raises ``CheckpointError`` with a reason a user can act on."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" not in str(exc):
            raise _unreadable(path, exc) from exc
        # weights_only refuses pickled code and objects: report it as what it is
        raise CheckpointError(f"{path} holds objects other than plain data and tensors; refusing to load it") from exc
    except Exception as exc:  # torch raises RuntimeError, EOFError, KeyError, ... for files it cannot parse
        raise _unreadable(path, exc) from exc
    if not isinstance(data, dict) or "format_version" not in data:
        raise CheckpointError(f"{path} is a PyTorch file but not a HyperMAML Studio checkpoint (no format_version)")
    version = data["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format_version {version}, newer than this library reads ({FORMAT_VERSION}); "
            f"update hypermaml to load it"
        )
    missing = [k for k in ("config", "state_dict") if k not in data]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}")
    return data


def _unreadable(path: Path, exc: Exception) -> CheckpointError:
    detail = (str(exc).splitlines() or [""])[0][:200]
    return CheckpointError(
        f"{path} ({path.stat().st_size} bytes) is not a readable checkpoint: it may be truncated or not a "
        f"PyTorch file ({type(exc).__name__}: {detail})"
    )


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> FewShotModel:
    """Rebuild any method from the config stored in the file; returns it in eval mode on ``device``."""
    data = read_checkpoint(path)
    try:
        config = from_dict(ModelConfig, data["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} has an invalid config: {exc}") from exc
    model = build_model(config)
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored config: {str(exc)[:300]}") from exc
    model.metrics = dict(data.get("metrics") or {})
    return model.to(device).eval()
