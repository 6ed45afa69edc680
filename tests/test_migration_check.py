"""``python -m migration_check BASE`` on throwaway git repositories: BASE is a commit holding
this checkout's ``lambda_src`` and ``devkit``, and a second commit adds a migration. A change
that breaks the API still serving fails with expand/contract explained; an additive one passes;
a bad BASE is one line. The session's PostgreSQL serves the in-process cases (a database each);
the command itself starts its own, as ``make check-migrations`` does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devkit.postgres import PgDatabase
from migration_check.check import Outcome, run
from migration_check.report import MIGRATIONS, risky_statements

REPO_ROOT = Path(__file__).resolve().parents[1]
COPIED = (Path("lambda_src", "api"), Path("lambda_src", "db_migrate"), Path("devkit"))
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


def make_repo(root: Path, copied: tuple[Path, ...] = COPIED) -> Path:
    """A repository whose one commit (BASE) holds this checkout's code."""
    repo = root / "repo"
    for path in copied:
        shutil.copytree(REPO_ROOT / path, repo / path, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "--quiet")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "base")
    return repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


def commit_migration(repo: Path, name: str, sql: str) -> str:
    """Adds the next migration, with whatever else changed, in a second commit; returns the
    migration's file name."""
    directory = repo / MIGRATIONS
    version = max(int(path.name[:4]) for path in directory.glob("*.sql")) + 1
    filename = f"{version:04d}_{name}.sql"
    (directory / filename).write_text(sql)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", name)
    return filename


def migration_check(repo: Path, base: str) -> subprocess.CompletedProcess[str]:
    """The Makefile's command, run in `repo` with this checkout's package."""
    return subprocess.run(
        [sys.executable, "-m", "migration_check", base],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


def test_a_rename_the_old_api_reads_fails_and_explains_expand_contract(repo: Path) -> None:
    rename = "ALTER TABLE items\n    RENAME COLUMN name TO title;\n"
    filename = commit_migration(repo, "rename_item_name", "-- a new name\n" + rename)

    result = migration_check(repo, "HEAD~1")

    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    report = result.stderr
    short = git(repo, "rev-parse", "--short", "HEAD~1")
    assert report.startswith(f"migrations are NOT backward compatible with {short} (HEAD~1): ")
    # The failing call, the database's words, the migration and its statement, the way out.
    assert "failing call: POST /items (create): expected 201, got 500" in report
    assert 'column "name" of relation "items" does not exist (SQLSTATE 42703)' in report
    assert f"New migrations (not in {short}):\n  {filename}\n" in report
    assert "line 2: RENAME: ALTER TABLE items RENAME COLUMN name TO title" in report
    assert "expand/contract" in report
    assert "add the new column or table first, ship code that reads and writes" in report
    assert "drop or rename the old one in a later release" in report
    assert "Traceback" not in report


def test_an_additive_migration_passes_the_old_code_and_is_applied(
    repo: Path, pg_database: PgDatabase
) -> None:
    # The new code cannot create items: only BASE's code can pass the smoke.
    with (repo / "lambda_src" / "api" / "items.py").open("a") as items:
        items.write("\n\ndef create_item(*_: object) -> None:\n    raise RuntimeError\n")
    sql = "ALTER TABLE items ADD COLUMN tags text[];\nCREATE INDEX items_tags ON items (tags);\n"
    filename = commit_migration(repo, "item_tags", sql)

    outcome = run(repo, "HEAD~1", pg_database.conninfo)

    short = git(repo, "rev-parse", "--short", "HEAD~1")
    line = f"migrations are backward compatible with {short}: the old API passed the read/write"
    assert outcome == Outcome(ok=True, text=f"{line} smoke (8 calls)")
    with pg_database.connect() as conn:
        latest = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        tags = conn.execute(
            "SELECT 1 FROM information_schema.columns"
            " WHERE table_name = 'items' AND column_name = 'tags'"
        ).fetchone()
        left = conn.execute("SELECT count(*) FROM items").fetchone()
    assert latest == (int(filename[:4]),)  # the new migration ran, on top of BASE's
    assert tags == (1,)
    assert left == (0,)  # the smoke deleted what it wrote


def test_unchanged_migrations_say_so_and_still_run_this_checkouts_smoke(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    """BASE without devkit/smoke.py (older than it): the smoke comes from this checkout."""
    repo = make_repo(tmp_path, COPIED[:2])

    outcome = run(repo, "HEAD", pg_database.conninfo)

    short = git(repo, "rev-parse", "--short", "HEAD")
    assert outcome.ok
    assert outcome.text.splitlines() == [
        f"the migrations are identical to {short}'s: running the smoke anyway",
        f"migrations are backward compatible with {short}: the old API passed the read/write"
        " smoke (8 calls)",
    ]


def test_an_unknown_base_is_one_line_and_exit_2(repo: Path) -> None:
    result = migration_check(repo, "no-such-branch")

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"migration_check: unknown BASE 'no-such-branch': no such commit in {repo} "
        "(fetch it first, e.g. git fetch origin main)"
    ]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("ALTER TABLE items DROP COLUMN description;", [(1, "DROP")]),
        ("ALTER TABLE items ALTER COLUMN name TYPE varchar(50);", [(1, "ALTER ... TYPE")]),
        ("\n\nALTER TABLE items ALTER name SET NOT NULL;", [(3, "SET NOT NULL")]),
        ("ALTER TABLE items ADD owner text NOT NULL;", [(1, "ADD ... NOT NULL without DEFAULT")]),
        ("REVOKE UPDATE ON items FROM app_api;", [(1, "REVOKE")]),
        ("ALTER TABLE items ADD COLUMN owner text NOT NULL DEFAULT '';", []),
        ("-- DROP nothing, RENAME nothing\nCREATE INDEX items_name_idx ON items (name);", []),
    ],
)
def test_risky_statements_are_pointed_at(sql: str, expected: list[tuple[int, str]]) -> None:
    assert [(line, kinds) for line, kinds, _ in risky_statements(sql)] == expected
