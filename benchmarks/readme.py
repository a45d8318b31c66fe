"""Generated blocks of README.md: the text between a pair of HTML-comment markers is replaced whole."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def replace_block(block: str, start: str, end: str, readme: Path = README) -> None:
    """Write ``block`` (which begins with ``start`` and ends with ``end``) over that block of ``readme``."""
    text = readme.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{readme.name} has no {start} ... {end} block to replace")
    head, rest = text.split(start, 1)
    readme.write_text(head + block + rest.split(end, 1)[1])
