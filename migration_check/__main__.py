"""``python -m migration_check BASE`` (``make check-migrations BASE=...``): the check on a
throwaway local PostgreSQL. Exit 0 compatible, 1 not (the report on stderr), 2 when it could
not run (one line, no traceback)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from devkit.postgres import create_database, local_server
from migration_check.base import CheckError, repo_root, resolve
from migration_check.check import run_base


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m migration_check",
        description="Refuse migrations that would break the release still serving.",
    )
    parser.add_argument(
        "base", metavar="BASE", help="git ref of the release still serving, e.g. origin/main"
    )
    args = parser.parse_args(argv)
    try:
        repo = repo_root(Path.cwd())
        base = resolve(repo, args.base)  # before any server starts: a bad BASE is told at once
        with local_server(prefix="migration-check-") as server:
            database = create_database(server, "migration_check")
            outcome = run_base(repo, base, database.conninfo)
    except CheckError as exc:
        print(f"migration_check: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(outcome.text, file=sys.stdout if outcome.ok else sys.stderr)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
