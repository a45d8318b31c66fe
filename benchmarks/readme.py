"""Where do the benchmarks write their tables? Into generated blocks of README.md and the docs pages.

A generated block is the text between a pair of HTML-comment markers (``<!-- name:start -->`` ...
``<!-- name:end -->``), replaced whole. A block lives on the page that shows it (the results table in README.md
and docs/reproduce.md, the speed tables in docs/speed.md, the studio's in docs/studio.md): a benchmark writes
its block on every page that holds its markers.
"""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
DOCS = README.parent / "docs"


def pages() -> list[Path]:
    """The pages a generated block can live on: README.md and the documentation site's pages (docs/*.md)."""
    return [README, *sorted(DOCS.glob("*.md"))]


def replace_block(block: str, start: str, end: str, readme: Path | None = None) -> None:
    """Write ``block`` (which begins with ``start`` and ends with ``end``) over that block of ``readme``, or, by
    default, of every page in ``pages()`` that holds it."""
    targets = [readme] if readme is not None else [p for p in pages() if start in p.read_text()]
    if not targets:
        raise SystemExit(f"no page (README.md, docs/*.md) has a {start} ... {end} block to replace")
    for page in targets:
        text = page.read_text()
        if start not in text or end not in text:
            raise SystemExit(f"{page.name} has no {start} ... {end} block to replace")
        head, rest = text.split(start, 1)
        page.write_text(head + block + rest.split(end, 1)[1])


def stored_block(name: str, table: str, command: str) -> str:
    """Block ``<!-- name:start -->`` ... ``<!-- name:end -->``: ``table``, then the command that made it."""
    return f"<!-- {name}:start -->\n{table}\n\n*Measured by `{command}`, which stored `docs/{name}.json`.*\n<!-- {name}:end -->"


def save_report(name: str, report: dict, table: str, command: str) -> None:
    """Store ``report`` as ``docs/<name>.json`` and write its table into the ``name`` block of the page holding it."""
    import json

    (DOCS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    replace_block(stored_block(name, table, command), f"<!-- {name}:start -->", f"<!-- {name}:end -->")
