"""The migration runner on a real PostgreSQL and a real MySQL-family server: loading migration
files and applying them. What both families do alike runs for each (the `family` fixture); the
MySQL family's own guarantees are in test_migrations_mysql."""

from __future__ import annotations

import hashlib
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from db_migrate.migrate import (
    ChecksumMismatchError,
    MigrationError,
    MigrationFailedError,
    MigrationResult,
    apply_migrations,
    load_migrations,
)
from db_migrate.postgresql import ADVISORY_LOCK_KEY
from devkit.postgres import PgDatabase
from tests.migrations_helpers import (
    BUNDLED_VERSIONS,
    Family,
    advisory_locks,
    history,
    history_of,
    migrate,
    table_exists,
    wait_until,
    write_migrations,
)
from tests.migrations_helpers import family as family

# --- load_migrations -------------------------------------------------------------------------


def test_load_migrations_orders_by_version_and_skips_other_files(tmp_path: Path) -> None:
    write_migrations(
        tmp_path, {"0010_later.sql": "SELECT 10;", "0002_first.sql": "SELECT 2;", "notes.md": "x"}
    )
    migrations = load_migrations(tmp_path)
    assert [(m.version, m.name, m.sql) for m in migrations] == [
        (2, "first", "SELECT 2;"),
        (10, "later", "SELECT 10;"),
    ]
    assert migrations[0].checksum == hashlib.sha256(b"SELECT 2;").hexdigest()


@pytest.mark.parametrize(
    "filename", ["1_items.sql", "00001_items.sql", "0001-items.sql", "0001_Items.sql", "0001_.sql"]
)
def test_load_migrations_rejects_a_badly_named_file(tmp_path: Path, filename: str) -> None:
    write_migrations(tmp_path, {"0001_ok.sql": "SELECT 1;", filename: "SELECT 1;"})
    with pytest.raises(MigrationError, match=re.escape(filename)):
        load_migrations(tmp_path)


def test_load_migrations_rejects_duplicate_versions(tmp_path: Path) -> None:
    write_migrations(tmp_path, {"0003_a.sql": "SELECT 1;", "0003_b.sql": "SELECT 2;"})
    with pytest.raises(MigrationError, match=r"0003_a\.sql.*0003_b\.sql.*version 3"):
        load_migrations(tmp_path)


# --- apply_migrations --------------------------------------------------------------------------


def test_fresh_database_gets_every_bundled_migration(family: Family) -> None:
    result = family.migrate()

    assert result == MigrationResult(applied=BUNDLED_VERSIONS, already_applied=())
    files = sorted(family.bundled.glob("*.sql"))
    expected = [
        (int(f.name[:4]), f.stem[5:], hashlib.sha256(f.read_bytes()).hexdigest()) for f in files
    ]
    assert history_of(family) == expected
    assert family.table_exists("items")


KEPT_ITEM = "INSERT INTO items (id, name) VALUES ('7d1c6a38-4d1e-4c55-9a3f-3e0f6f1f0a01', 'kept')"
"""A row either family's items table takes (PostgreSQL reads the text as a uuid)."""


def test_second_run_applies_nothing(family: Family) -> None:
    family.migrate()
    family.execute(KEPT_ITEM)
    before = family.rows("SELECT version, applied_at FROM schema_migrations ORDER BY version")

    result = family.migrate()

    assert result == MigrationResult(applied=(), already_applied=BUNDLED_VERSIONS)
    assert family.rows("SELECT version, applied_at FROM schema_migrations ORDER BY version") == (
        before
    )
    assert family.rows("SELECT name FROM items") == [("kept",)]


def test_edited_applied_migration_stops_the_run_before_anything_is_applied(
    family: Family, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(family.bundled, directory)
    family.migrate(directory)
    applied_checksum = hashlib.sha256((directory / "0001_items.sql").read_bytes()).hexdigest()
    with (directory / "0001_items.sql").open("a") as edited:
        edited.write("\n-- edited after it was applied\n")
    edited_checksum = hashlib.sha256((directory / "0001_items.sql").read_bytes()).hexdigest()
    write_migrations(directory, {"0099_extra.sql": "CREATE TABLE extra (id integer);"})

    with pytest.raises(ChecksumMismatchError) as raised:
        family.migrate(directory)

    message = str(raised.value)
    assert "migration 1 (0001_items.sql)" in message
    assert applied_checksum in message
    assert edited_checksum in message
    assert not family.table_exists("extra")
    assert [row[0] for row in history_of(family)] == list(BUNDLED_VERSIONS)


def creating(*stems: str) -> dict[str, str]:
    """Migration files ``<version>_<table>.sql``, each creating its table."""
    return {f"{stem}.sql": f"CREATE TABLE {stem.split('_')[1]} (id integer);" for stem in stems}


@pytest.mark.parametrize(
    ("applied", "removed", "added", "match"),
    [
        pytest.param(
            ("0001_a", "0002_b"),
            ("0002_b",),
            "0003_c",
            r"applied migration versions \[2\] that have no file",
            id="applied_version_without_its_file",
        ),
        pytest.param(
            ("0001_a", "0003_c"),
            (),
            "0002_b",
            r"0002_b\.sql is older than .* version 3",
            id="pending_migration_older_than_the_latest_applied",
        ),
    ],
)
def test_files_out_of_step_with_the_history_are_refused(
    family: Family,
    tmp_path: Path,
    applied: tuple[str, ...],
    removed: tuple[str, ...],
    added: str,
    match: str,
) -> None:
    """The run fails before applying anything: the added migration's table is never created."""
    directory = write_migrations(tmp_path / "m", creating(*applied))
    family.migrate(directory)
    for stem in removed:
        (directory / f"{stem}.sql").unlink()
    write_migrations(directory, creating(added))

    with pytest.raises(MigrationError, match=match):
        family.migrate(directory)
    assert not family.table_exists(added.split("_")[1])


def test_failing_migration_leaves_no_trace_and_stops_the_run(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    directory = write_migrations(
        tmp_path / "m",
        {
            "0001_first.sql": "CREATE TABLE first (id integer);",
            "0002_broken.sql": "CREATE TABLE half_done (id integer);\nSELECT 1 / 0;",
            "0003_after.sql": "CREATE TABLE after (id integer);",
        },
    )
    with pg_database.connect() as conn:
        with pytest.raises(MigrationFailedError) as raised:
            apply_migrations(conn, load_migrations(directory))
        # The session lock is released although the run failed and the session is still open.
        with pg_database.connect() as other:
            assert advisory_locks(other, ADVISORY_LOCK_KEY) == (0, 0)

    message = str(raised.value)
    assert "migration 2 (0002_broken.sql)" in message
    assert "[22012] division by zero" in message
    assert "applied earlier in this run: 1" in message
    with pg_database.connect() as conn:
        assert table_exists(conn, "first")
        assert not table_exists(conn, "half_done")
        assert not table_exists(conn, "after")
        assert [row[0] for row in history(conn)] == [1]

    # Never applied, so the broken file may still be fixed in place.
    write_migrations(directory, {"0002_broken.sql": "CREATE TABLE half_done (id integer);"})
    assert migrate(pg_database, directory) == MigrationResult(applied=(2, 3), already_applied=(1,))


SQUATTER = "INSERT INTO schema_migrations (version, name, checksum) VALUES (2, 'other', '-');"
"""Takes the version of the migration it is in: recording that migration fails."""


@pytest.mark.parametrize(
    "last", ["INSERT INTO made VALUES ('three');", SQUATTER], ids=["statement", "history-row"]
)
def test_a_migration_of_rows_commits_with_its_history_row_or_not_at_all(
    family: Family, tmp_path: Path, last: str
) -> None:
    """Its last statement fails (not an integer), or recording it does (its version is taken):
    the rows before roll back too. Atomic in the MySQL family too, as it has no DDL."""
    directory = write_migrations(
        tmp_path / "m",
        {
            "0001_made.sql": "CREATE TABLE made (n integer NOT NULL);",
            "0002_fill.sql": "\n".join(
                ("INSERT INTO made VALUES (1);", "INSERT INTO made VALUES (2);", last)
            ),
        },
    )

    with pytest.raises(
        MigrationFailedError, match=r"migration 2 \(0002_fill\.sql\) failed"
    ) as raised:
        family.migrate(directory)
    if last == SQUATTER:
        assert f"[{family.duplicate_key}] " in str(raised.value)
    assert family.rows("SELECT count(*) FROM made") == [(0,)]
    assert [row[0] for row in history_of(family)] == [1]


def test_concurrent_runners_apply_each_migration_exactly_once(
    family: Family, tmp_path: Path
) -> None:
    directory = write_migrations(
        tmp_path / "m",
        {
            # The first migration waits for the gate, which the test holds, then creates runs.
            "0001_slow.sql": f"{family.wait_for_gate()}\nCREATE TABLE runs (n int);",
            "0002_count.sql": "INSERT INTO runs VALUES (1);",  # would count a second execution
        },
    )
    migrations = load_migrations(directory)

    with ThreadPoolExecutor(max_workers=2) as pool, family.holding(family.gate) as open_gate:
        # The gate's session closes first on the way out: a failed wait leaves no runner blocked.
        first = pool.submit(family.apply, migrations)
        wait_until(lambda: family.locks(family.runner_lock) == (1, 0))
        wait_until(lambda: family.locks(family.gate) == (1, 1))  # first is mid-migration
        second = pool.submit(family.apply, migrations)
        wait_until(lambda: family.locks(family.runner_lock) == (1, 1))  # second waits
        open_gate()
        results = [first.result(timeout=30), second.result(timeout=30)]

    assert results == [
        MigrationResult(applied=(1, 2), already_applied=()),
        MigrationResult(applied=(), already_applied=(1, 2)),
    ]
    assert family.rows("SELECT n FROM runs") == [(1,)]
    assert [row[0] for row in history_of(family)] == [1, 2]
    assert family.locks(family.runner_lock) == (0, 0)


def test_waiting_for_another_runner_is_bounded(family: Family) -> None:
    with (
        family.holding(family.runner_lock),
        pytest.raises(MigrationError, match="another migration run still held the lock after 1 s"),
    ):
        family.apply(load_migrations(family.bundled), lock_timeout_seconds=1)
    assert not family.table_exists("schema_migrations")


def test_a_lock_timeout_below_one_second_is_refused(family: Family) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        family.apply(load_migrations(family.bundled), lock_timeout_seconds=0)
