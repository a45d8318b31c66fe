"""Frozen dataclasses <-> plain data, checked field by field: the machinery under ``hypermaml.config``.

Nothing here knows the library's configs. A field carries its rules beside it (``field_with_rules``); ``to_dict``
writes a dataclass as nested plain data; ``from_plain`` rebuilds one from plain data (JSON, TOML, ``--set``
overrides, a checkpoint's stored config), checking every value's type (from the type hints) and range (from the
rules), and raises ``ConfigError`` naming the field's dotted path, the value given and what is allowed;
``apply_override`` sets one ``section.field=value`` item in plain data after checking that the key names a field.
``root`` is the dataclass a whole file holds (``hypermaml.config.RunConfig``): the dotted paths start there.
Tested through ``hypermaml.config`` in ``tests/test_config.py``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from dataclasses import field
from typing import Any, Literal


class ConfigError(ValueError):
    """A config value, key or file a user has to fix; the one-line message names the field (dotted path),
    the value given and what is allowed. ``path`` is that dotted path (None when no single field is to blame).
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


def field_with_rules(default: Any = dataclasses.MISSING, **rules: Any) -> Any:
    """A dataclass field with its validation rules beside it, read by ``from_plain``.

    Rules: ``min`` (value >= min), ``gt`` (value > gt), ``max`` (value <= max), ``min_items`` (tuple
    length), ``check`` (a function value -> None or the reason it is refused) with ``need`` (what is
    allowed, a string or a function returning one). For tuples the number rules apply to every item.
    """
    return field(default=default, metadata=rules)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as nested plain data (tuples become lists, ready for JSON)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        return v

    return plain(cfg)


def from_plain(cls: type, data: dict[str, Any], prefix: str | None, root: type) -> Any:
    """Rebuild dataclass ``cls`` from plain data, checking every value (``hypermaml.config.from_dict`` describes
    the rules); ``prefix``: the dotted path of ``data`` in a ``root`` file, by default the place ``cls`` has in
    ``root``. Raises ``ConfigError``."""
    if prefix is None:
        prefix = _section_paths(root).get(cls, "")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{prefix or cls.__name__}: {show(data)} is not a section (need an object with {cls.__name__} fields)",
            prefix or None,
        )
    return _build(cls, data, prefix, root)


def _build(cls: type, data: dict[str, Any], prefix: str, root: type) -> Any:
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise _unknown_key(cls, _join(prefix, str(key)), root)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        path = _join(prefix, name)
        tp = hints[name]
        if name in data:
            kwargs[name] = _convert(data[name], tp, f.metadata, path, root)
        elif dataclasses.is_dataclass(tp) and f.default is dataclasses.MISSING:
            kwargs[name] = _convert({}, tp, f.metadata, path, root)  # a missing section: all its defaults
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{path}: missing (need {_describe(tp, f.metadata)})", path)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # a __post_init__ check across fields
        raise ConfigError(f"{prefix or cls.__name__}: {exc}", prefix or None) from exc


def _convert(value: Any, tp: Any, meta: Any, path: str, root: type, need: str | None = None) -> Any:
    """``value`` checked against type hint ``tp`` and the field's rules; returns it normalised."""
    need = need or _describe(tp, meta)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner, meta, path, root, need)
    if origin is Literal:
        if any(type(value) is type(a) and value == a for a in args):
            return value
        allowed = ", ".join(repr(a) for a in args)
        raise ConfigError(f"{path}: {show(value)} is not one of {allowed}", path)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {show(value)} is not a section (need {need})", path)
        return _build(tp, value, path, root)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: {show(value)} is not a list (need {need})", path)
        if len(args) == 2 and args[1] is Ellipsis:
            item_types = [args[0]] * len(value)
            if len(value) < meta.get("min_items", 0):
                raise ConfigError(f"{path}: {show(value)} has too few items (need {need})", path)
        else:
            item_types = list(args)
            if len(value) != len(args):
                raise ConfigError(f"{path}: {show(value)} has {len(value)} items (need {need})", path)
        item_meta = {k: v for k, v in meta.items() if k in ("min", "gt", "max")}
        return tuple(_convert(v, t, item_meta, f"{path}[{i}]", root) for i, (v, t) in enumerate(zip(value, item_types)))
    given = value  # messages show what the user wrote (1, not 1.0)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: {show(value)} is not true or false", path)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: {show(value)} is not an integer (need {need})", path)
        value = int(value)
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: {show(value)} is not a number (need {need})", path)
        if not math.isfinite(value):
            raise ConfigError(f"{path}: {show(value)} is not a finite number (need {need})", path)
        value = float(value)
    elif tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {show(value)} is not a string (need {need})", path)
    else:  # pragma: no cover - a field type this checker was not taught
        raise TypeError(f"{path}: config fields of type {tp!r} are not supported by from_dict")
    if "min" in meta and value < meta["min"] or "gt" in meta and value <= meta["gt"]:
        raise ConfigError(f"{path}: {show(given)} is too small (need {need})", path)
    if "max" in meta and value > meta["max"]:
        raise ConfigError(f"{path}: {show(given)} is too large (need {need})", path)
    if "check" in meta:
        problem = meta["check"](value)
        if problem:
            raise ConfigError(f"{path}: {show(given)} {problem} (need {need})", path)
    return value


def _describe(tp: Any, meta: Any) -> str:
    """What a field allows, in words: "an integer >= 2", "a number > 0 or null", "a list of 2 numbers"."""
    meta = meta or {}
    if "need" in meta:
        need = meta["need"]
        text = need() if callable(need) else need
        return text + (" or null" if type(None) in typing.get_args(tp) else "")
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_describe(a, meta) for a in inner) + " or null"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if dataclasses.is_dataclass(tp):
        return f"an object with {tp.__name__} fields"
    bound = ""
    if "min" in meta:
        bound = f" >= {meta['min']}"
    elif "gt" in meta:
        bound = f" > {meta['gt']}"
    if "max" in meta:
        bound += f" and <= {meta['max']}"
    if origin is tuple:
        plural = {int: "integers", float: "numbers", str: "strings"}.get(args[0], "values")
        if len(args) == 2 and args[1] is Ellipsis:
            count = "a non-empty list" if meta.get("min_items") else "a list"
            return f"{count} of {plural}{bound}"
        return f"a list of {len(args)} {plural}{bound}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, repr(tp)) + bound


def show(value: Any) -> str:
    """``repr(value)``, cut to 80 characters: a value as an error message quotes it."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _unknown_key(cls: type, path: str, root: type) -> ConfigError:
    allowed = ", ".join(f.name for f in dataclasses.fields(cls))
    what = "section" if cls is root else f"{cls.__name__} field"
    return ConfigError(f"{path}: unknown {what} (allowed: {allowed})", path)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@functools.cache
def _section_paths(root: type) -> dict[type, str]:
    """Every config class with its dotted place in ``root`` (in ``RunConfig``: ``BackboneConfig`` -> ``model.backbone``)."""
    paths: dict[type, str] = {}

    def walk(cls: type, prefix: str) -> None:
        paths.setdefault(cls, prefix)
        for name, tp in _hints(cls).items():
            if dataclasses.is_dataclass(tp):
                walk(tp, _join(prefix, name))

    walk(root, "")
    return paths


def apply_override(raw: dict[str, Any], item: str, root: type) -> tuple[str, str]:
    """Sets ``section.field=value`` in ``raw`` after checking the key names a field; returns (key, item)."""
    if not isinstance(item, str) or "=" not in item:
        raise ConfigError(f"--set {item!r} needs section.field=value (e.g. train.epochs=5)")
    key, text = item.split("=", 1)
    key, text = key.strip(), text.strip()
    parts = key.split(".")
    cls: type | None = root
    for i, part in enumerate(parts):
        here = ".".join(parts[: i + 1])
        if cls is None:
            raise ConfigError(f"--set {item!r}: {'.'.join(parts[:i])} is a value, not a section", here)
        names = {f.name for f in dataclasses.fields(cls)}
        if part not in names:
            raise ConfigError(f"--set {item!r}: {_unknown_key(cls, here, root)}", here)
        tp = _hints(cls)[part]
        cls = tp if dataclasses.is_dataclass(tp) else None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            here = ".".join(parts[: i + 1])
            raise ConfigError(f"--set {item!r}: {here}: {show(child)} is not a section", here)
        node = child
    node[parts[-1]] = value
    return key, item
