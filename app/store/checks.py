"""Checks on what a visitor sends, before any query sees it, and the store's plain-words formatting."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

from .model import InvalidInput

ID_RE = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16): 128 random bits
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32}")  # secrets.token_urlsafe(24): 192 random bits
POLARITIES = ("auto", "keep", "invert")
MAX_CLASSES = 20
MAX_TITLE, MAX_CLASS_NAME, MAX_IMAGE_NAME, MAX_VISITOR = 200, 100, 200, 200
RATE_WINDOW_S = 60.0
DAY_S = 86_400.0
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), None)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def shown(value) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "...")


def amount(n: int) -> str:
    """Bytes in words: "512 bytes", "37 kB", "8.0 MB"."""
    if n < 1024:
        return f"{n} bytes"
    return f"{n / 1024:.0f} kB" if n < 2**20 else f"{n / 2**20:.1f} MB"


def clean(value, what: str, max_len: int, *, truncate: bool = False, empty: str | None = None) -> str:
    """A visitor's text without control characters, surrogates or direction overrides, spaces collapsed.
    Too long: cut (``truncate``) or refused; empty: ``empty`` if given, else refused."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text")
    text = "".join(ch if unicodedata.category(ch) not in ("Cc", "Cs") else " " for ch in value.translate(_BIDI))
    text = " ".join(text.split())
    if len(text) > max_len:
        if not truncate:
            raise InvalidInput(f"{what} is {len(text)} characters long; at most {max_len} please")
        text = text[:max_len]
    if not text:
        if empty is None:
            raise InvalidInput(f"{what} is empty; give it a name")
        text = empty
    return text


def is_row_id(value) -> bool:
    """A whole number that fits the database's integer columns (a bigger one would fail inside the driver)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def check_id(task_id) -> str:
    """``task_id`` if it has the shape of an id, else ``InvalidInput`` (before any query sees it)."""
    if not isinstance(task_id, str) or not ID_RE.fullmatch(task_id):
        raise InvalidInput(
            f"{shown(task_id)} is not a task or room id: an id is 22 letters, digits, '-' or '_'. Check the link "
            "(it may have been cut short)."
        )
    return task_id


def check_class_names(names: Iterable, *, distinct: bool = False) -> list[str]:
    """Cleaned class names: 1 to MAX_CLASSES, none empty, and (``distinct``) no two alike but for case."""
    names = [clean(n, f"the name of class {i + 1}", MAX_CLASS_NAME) for i, n in enumerate(names)]
    if not 1 <= len(names) <= MAX_CLASSES:
        raise InvalidInput(f"a task has 1 to {MAX_CLASSES} classes, not {len(names)}")
    lowered = [n.lower() for n in names]
    twice = sorted({n for n in lowered if lowered.count(n) > 1})
    if distinct and twice:
        raise InvalidInput(f"class names must differ; {', '.join(repr(n) for n in twice)} is used twice")
    return names


def check_polarity(value) -> str:
    """One of hypermaml.data's polarities, "auto", "keep" or "invert"."""
    if value not in POLARITIES:
        raise InvalidInput(f"polarity must be one of {', '.join(POLARITIES)}, not {shown(value)}")
    return value
