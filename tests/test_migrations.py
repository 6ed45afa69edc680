"""The migration runner on a real PostgreSQL: loading migration files and applying them."""

from __future__ import annotations

import hashlib
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from db_migrate.migrate import (
    ADVISORY_LOCK_KEY,
    ChecksumMismatchError,
    MigrationError,
    MigrationFailedError,
    MigrationResult,
    apply_migrations,
    load_migrations,
)
from devkit.postgres import PgDatabase
from tests.migrations_helpers import (
    BUNDLED,
    BUNDLED_VERSIONS,
    advisory_locks,
    history,
    migrate,
    table_exists,
    wait_until,
    write_migrations,
)

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


def test_fresh_database_gets_every_bundled_migration(pg_database: PgDatabase) -> None:
    result = migrate(pg_database)

    assert result == MigrationResult(applied=BUNDLED_VERSIONS, already_applied=())
    files = sorted(BUNDLED.glob("*.sql"))
    expected = [
        (int(f.name[:4]), f.stem[5:], hashlib.sha256(f.read_bytes()).hexdigest()) for f in files
    ]
    with pg_database.connect() as conn:
        assert history(conn) == expected
        assert table_exists(conn, "items")


def test_second_run_applies_nothing(pg_database: PgDatabase) -> None:
    migrate(pg_database)
    with pg_database.connect() as conn:
        conn.execute("INSERT INTO items (name) VALUES ('kept')")
        before = conn.execute("SELECT version, applied_at FROM schema_migrations").fetchall()

    result = migrate(pg_database)

    assert result == MigrationResult(applied=(), already_applied=BUNDLED_VERSIONS)
    with pg_database.connect() as conn:
        assert conn.execute("SELECT version, applied_at FROM schema_migrations").fetchall() == (
            before
        )
        assert conn.execute("SELECT name FROM items").fetchall() == [("kept",)]


def test_edited_applied_migration_stops_the_run_before_anything_is_applied(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(BUNDLED, directory)
    migrate(pg_database, directory)
    applied_checksum = hashlib.sha256((directory / "0001_items.sql").read_bytes()).hexdigest()
    with (directory / "0001_items.sql").open("a") as edited:
        edited.write("\n-- edited after it was applied\n")
    edited_checksum = hashlib.sha256((directory / "0001_items.sql").read_bytes()).hexdigest()
    write_migrations(directory, {"0003_extra.sql": "CREATE TABLE extra (id integer);"})

    with pytest.raises(ChecksumMismatchError) as raised:
        migrate(pg_database, directory)

    message = str(raised.value)
    assert "migration 1 (0001_items.sql)" in message
    assert applied_checksum in message
    assert edited_checksum in message
    with pg_database.connect() as conn:
        assert not table_exists(conn, "extra")
        assert [row[0] for row in history(conn)] == list(BUNDLED_VERSIONS)


def creating(*stems: str) -> dict[str, str]:
    """Migration files ``<version>_<table>.sql``, each creating its (empty) table."""
    return {f"{stem}.sql": f"CREATE TABLE {stem.split('_')[1]} ();" for stem in stems}


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
    pg_database: PgDatabase,
    tmp_path: Path,
    applied: tuple[str, ...],
    removed: tuple[str, ...],
    added: str,
    match: str,
) -> None:
    """The run fails before applying anything: the added migration's table is never created."""
    directory = write_migrations(tmp_path / "m", creating(*applied))
    migrate(pg_database, directory)
    for stem in removed:
        (directory / f"{stem}.sql").unlink()
    write_migrations(directory, creating(added))

    with pytest.raises(MigrationError, match=match):
        migrate(pg_database, directory)
    with pg_database.connect() as conn:
        assert not table_exists(conn, added.split("_")[1])


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


def test_migration_and_its_history_row_commit_together(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    # The SQL succeeds, then recording it fails (its version is taken): both must roll back.
    squatter = "INSERT INTO schema_migrations (version, name, checksum) VALUES (1, 'other', '-');"
    directory = write_migrations(
        tmp_path / "m", {"0001_made.sql": f"CREATE TABLE made (id integer);\n{squatter}"}
    )

    with pytest.raises(MigrationFailedError, match=r"\[23505\] duplicate key"):
        migrate(pg_database, directory)
    with pg_database.connect() as conn:
        assert not table_exists(conn, "made")
        assert history(conn) == []


def test_concurrent_runners_apply_each_migration_exactly_once(
    pg_database: PgDatabase, tmp_path: Path
) -> None:
    gate = 4242  # the first migration blocks on this lock until the test lets it go
    directory = write_migrations(
        tmp_path / "m",
        {
            "0001_slow.sql": f"SELECT pg_advisory_xact_lock({gate});\nCREATE TABLE runs (n int);",
            "0002_count.sql": "INSERT INTO runs VALUES (1);",  # would count a second execution
        },
    )
    migrations = load_migrations(directory)

    def run() -> MigrationResult:
        with pg_database.connect() as conn:
            return apply_migrations(conn, migrations)

    # The observer closes first on the way out, so a failed wait cannot leave a runner blocked.
    with ThreadPoolExecutor(max_workers=2) as pool, pg_database.connect() as observer:
        observer.execute("SELECT pg_advisory_lock(%s)", (gate,))
        first = pool.submit(run)
        wait_until(lambda: advisory_locks(observer, ADVISORY_LOCK_KEY) == (1, 0))
        wait_until(lambda: advisory_locks(observer, gate) == (1, 1))  # first is mid-migration
        second = pool.submit(run)
        wait_until(lambda: advisory_locks(observer, ADVISORY_LOCK_KEY) == (1, 1))  # second waits
        observer.execute("SELECT pg_advisory_unlock(%s)", (gate,))
        results = [first.result(timeout=30), second.result(timeout=30)]

    assert results == [
        MigrationResult(applied=(1, 2), already_applied=()),
        MigrationResult(applied=(), already_applied=(1, 2)),
    ]
    with pg_database.connect() as conn:
        assert conn.execute("SELECT n FROM runs").fetchall() == [(1,)]
        assert [row[0] for row in history(conn)] == [1, 2]


def test_waiting_for_another_runner_is_bounded(pg_database: PgDatabase) -> None:
    with pg_database.connect() as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        with (
            pg_database.connect() as conn,
            pytest.raises(MigrationError, match="another migration run still held the lock"),
        ):
            apply_migrations(conn, load_migrations(BUNDLED), lock_timeout_seconds=1)
        assert not table_exists(holder, "schema_migrations")
