"""Applies `NNNN_name.sql` files to PostgreSQL in version order, each exactly once.

Applied versions and the sha256 of each file are recorded in `schema_migrations`, so an applied
file that was edited afterwards is caught instead of silently diverging from the database.
A file runs inside a transaction together with its bookkeeping row, so it must not contain
transaction control (BEGIN/COMMIT) or statements that refuse a transaction block
(CREATE INDEX CONCURRENTLY, VACUUM).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import tuple_row

# pg_advisory_lock key shared by every runner ("dbmigrat" in ASCII), so that two deploys racing on
# the same database run one after the other. Advisory locks are per database.
ADVISORY_LOCK_KEY = 0x6462_6D69_6772_6174

_FILE_NAME = re.compile(r"(?P<version>\d{4})_(?P<name>[a-z][a-z0-9]*(?:_[a-z0-9]+)*)\.sql")

_CREATE_HISTORY_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """Base of every error that stops a migration run."""


class ChecksumMismatchError(MigrationError):
    """An applied migration's file no longer matches what was applied."""


class MigrationFailedError(MigrationError):
    """A migration's SQL failed; its transaction was rolled back."""


@dataclass(frozen=True)
class Migration:
    """One migration file; `checksum` is the sha256 (hex) of its bytes."""

    version: int
    name: str
    sql: str
    checksum: str

    @property
    def filename(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"


@dataclass(frozen=True)
class MigrationResult:
    """What one run did; CloudFormation gets it as the custom resource's Data."""

    applied: tuple[int, ...]
    """Versions applied by this run, in order."""
    already_applied: tuple[int, ...]
    """Versions that were recorded before this run started."""


def load_migrations(directory: Path) -> list[Migration]:
    """The `NNNN_name.sql` files of `directory` by version; other files (no .sql) are ignored."""
    by_version: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(
                f"migration file {path.name!r} is not named NNNN_name.sql "
                "(4-digit version, lowercase snake_case name)"
            )
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MigrationError(f"migration file {path.name!r} is not UTF-8: {exc}") from None
        migration = Migration(
            version=int(match["version"]),
            name=match["name"],
            sql=text,
            checksum=hashlib.sha256(data).hexdigest(),
        )
        previous = by_version.get(migration.version)
        if previous is not None:
            raise MigrationError(
                f"migration files {previous.filename!r} and {path.name!r} "
                f"share version {migration.version}"
            )
        by_version[migration.version] = migration
    return [by_version[version] for version in sorted(by_version)]


def apply_migrations(
    conn: psycopg.Connection[Any],
    migrations: Sequence[Migration],
    *,
    lock_timeout_seconds: int = 120,
) -> MigrationResult:
    """Applies the pending `migrations` on `conn`, which is switched to autocommit.

    Nothing is applied unless the recorded history is consistent with the files: every applied
    version still has its file with the same checksum, and no pending file sorts before an applied
    one. Each pending migration commits on its own, so a failure keeps the earlier ones of the run.
    `lock_timeout_seconds` bounds the wait for a concurrent runner and for any lock a migration
    needs (it is the session's lock_timeout).
    """
    if lock_timeout_seconds < 1:
        raise ValueError("lock_timeout_seconds must be at least 1 (0 would wait forever)")
    ordered = sorted(migrations, key=lambda m: m.version)

    conn.autocommit = True
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{lock_timeout_seconds}s",))
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    except psycopg.errors.LockNotAvailable:
        raise MigrationError(
            f"another migration run still held the lock after {lock_timeout_seconds} s"
        ) from None
    try:
        conn.execute(_CREATE_HISTORY_TABLE)
        with conn.cursor(row_factory=tuple_row) as cur:
            recorded: dict[int, str] = dict(
                cur.execute("SELECT version, checksum FROM schema_migrations").fetchall()
            )
        pending = _check_history(ordered, recorded)

        applied: list[int] = []
        for migration in pending:
            try:
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
            except psycopg.Error as exc:
                kept = ", ".join(map(str, applied)) or "none"
                raise MigrationFailedError(
                    f"migration {migration.version} ({migration.filename}) failed and was rolled "
                    f"back: [{exc.sqlstate}] {exc}; applied earlier in this run: {kept}"
                ) from exc
            applied.append(migration.version)
        return MigrationResult(applied=tuple(applied), already_applied=tuple(sorted(recorded)))
    finally:
        if not conn.closed:  # a lost session has released its lock already
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def _check_history(ordered: Sequence[Migration], recorded: dict[int, str]) -> list[Migration]:
    """The migrations still to apply, once the recorded history is known to match the files."""
    by_version = {m.version: m for m in ordered}
    unknown = sorted(set(recorded) - set(by_version))
    if unknown:
        raise MigrationError(
            f"the database has applied migration versions {unknown} that have no file; "
            "restore the files (migrations are never removed or renumbered)"
        )
    for version, db_checksum in sorted(recorded.items()):
        migration = by_version[version]
        if migration.checksum != db_checksum:
            raise ChecksumMismatchError(
                f"migration {version} ({migration.filename}) changed after it was applied: "
                f"the database recorded sha256 {db_checksum}, the file has {migration.checksum}; "
                "add a new migration instead of editing an applied one"
            )
    pending = [m for m in ordered if m.version not in recorded]
    latest = max(recorded, default=None)
    if pending and latest is not None and pending[0].version < latest:
        raise MigrationError(
            f"migration {pending[0].filename} is older than the latest applied version {latest}; "
            "give it a version above the latest applied one"
        )
    return pending
