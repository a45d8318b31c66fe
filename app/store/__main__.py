"""``python -m app.store expire --days N [--dry-run]`` and ``python -m app.store usage`` (see ``app/store``)."""

from __future__ import annotations

import argparse
import sys

from . import Store, StoreError, url_from_env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.store", description="The studio's saved tasks and rooms.")
    parser.add_argument("--db", help="a SQLAlchemy URL (default: $HYPERMAML_STUDIO_DB, else the SQLite file)")
    commands = parser.add_subparsers(dest="command", required=True)
    expire = commands.add_parser("expire", help="delete tasks and rooms unchanged for N days (and those past their expiry)")
    expire.add_argument("--days", type=float, required=True, help="how many days without a change make a task old")
    expire.add_argument("--dry-run", action="store_true", help="only count them")
    commands.add_parser("usage", help="tasks and rooms held, and their bytes, beside the limits")
    args = parser.parse_args(argv)
    try:
        store = Store.from_url(args.db or url_from_env())
        try:
            if args.command == "expire":
                n = store.expire(args.days, dry_run=args.dry_run)
                verb = "would remove" if args.dry_run else "removed"
                print(f"{verb} {n} saved task(s) and room(s): unchanged for {args.days:g} days, or past their own expiry")
            else:
                u = store.usage()
                print(
                    f"{u['tasks']} of {u['max_tasks']} tasks and rooms, {u['bytes'] / 2**20:.1f} of {u['max_bytes'] / 2**20:.0f} MB"
                )
        finally:
            store.close()
    except (StoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
