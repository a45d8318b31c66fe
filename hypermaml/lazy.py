"""Public names that load on first use (PEP 562), for the package and ``hypermaml.data``: ``import hypermaml``,
the command's --help, its usage errors and ``hypermaml configs`` then answer without importing torch (about
two seconds). Each package lists where its names live; a submodule (``hm.checkpoint``) loads on first use too."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable


def lazy_names(package: str, home: dict[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``, whose public name N lives in its submodule
    ``home[N]``; a name, once loaded, is stored in ``namespace`` (the package's globals) as a plain attribute."""

    def __getattr__(name: str):
        if name in home:
            value = getattr(importlib.import_module(f"{package}.{home[name]}"), name)
            namespace[name] = value
            return value
        if not name.startswith("_") and importlib.util.find_spec(f"{package}.{name}") is not None:
            return importlib.import_module(f"{package}.{name}")  # (the import binds it in the package)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(home))

    return __getattr__, __dir__
