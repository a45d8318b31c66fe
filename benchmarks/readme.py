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


DOCS = README.parent / "docs"


def stored_block(name: str, table: str, command: str) -> str:
    """README block ``<!-- name:start -->`` ... ``<!-- name:end -->``: ``table``, then the command that made it."""
    return f"<!-- {name}:start -->\n{table}\n\n*Measured by `{command}`, which stored `docs/{name}.json`.*\n<!-- {name}:end -->"


def save_report(name: str, report: dict, table: str, command: str) -> None:
    """Store ``report`` as ``docs/<name>.json`` and write its table into README.md's ``name`` block."""
    import json

    (DOCS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    replace_block(stored_block(name, table, command), f"<!-- {name}:start -->", f"<!-- {name}:end -->")
