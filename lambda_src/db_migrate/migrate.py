"""What every engine family's run shares: the `NNNN_name.sql` files, the checks of the recorded
history against them, the errors, and the run itself (``run_migrations``); each family's module
(``postgresql``, ``mysql``) supplies the lock, the history table and how one file is applied.

Files are applied in version order, each exactly once. Applied versions and the sha256 of each
file are recorded in `schema_migrations`, so an applied file that was edited afterwards is caught
instead of silently diverging from the database. What a failed migration leaves behind is the
family's: PostgreSQL rolls it back whole, MySQL cannot (see ``mysql``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import psycopg

_FILE_NAME = re.compile(r"(?P<version>\d{4})_(?P<name>[a-z][a-z0-9]*(?:_[a-z0-9]+)*)\.sql")


class MigrationError(Exception):
    """Base of every error that stops a migration run."""


class ChecksumMismatchError(MigrationError):
    """An applied migration's file no longer matches what was applied."""


class MigrationFailedError(MigrationError):
    """A migration's SQL failed: rolled back (PostgreSQL) or not recorded (MySQL)."""


class ApplyError(Exception):
    """Raised by a family's ``apply``: what became of the failed migration (`outcome`, e.g.
    "was rolled back") and the server's error; ``run_migrations`` turns it into a
    MigrationFailedError. Chain the driver's exception (``raise ... from exc``)."""

    def __init__(self, outcome: str, error: str) -> None:
        super().__init__(outcome, error)
        self.outcome = outcome
        self.error = error


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


class FamilyRun(Protocol):
    """One family's side of ``run_migrations``, on one open connection."""

    def lock(self, timeout_seconds: int) -> bool:
        """Waits for the runners' lock; False when another run still held it after the timeout.
        Also sets the session up (autocommit, lock timeouts)."""
        ...

    def unlock(self) -> None:
        """Releases the lock, unless the session is gone (which has released it)."""
        ...

    def recorded(self) -> dict[int, str]:
        """Creates the history table if it is missing; applied version -> checksum."""
        ...

    def apply(self, migration: Migration) -> None:
        """Runs the file and records it in the history; raises ApplyError."""
        ...


def run_migrations(
    family: FamilyRun, migrations: Sequence[Migration], *, lock_timeout_seconds: int
) -> MigrationResult:
    """Applies the pending `migrations` with `family`, holding its lock.

    Nothing is applied unless the recorded history is consistent with the files: every applied
    version still has its file with the same checksum, and no pending file sorts before an applied
    one. Each pending migration is recorded on its own, so a failure keeps the earlier ones of the
    run. `lock_timeout_seconds` bounds the wait for a concurrent runner (and, per family, for
    the locks a migration needs).
    """
    if lock_timeout_seconds < 1:
        raise ValueError("lock_timeout_seconds must be at least 1 (0 would wait forever)")
    ordered = sorted(migrations, key=lambda m: m.version)
    if not family.lock(lock_timeout_seconds):
        raise MigrationError(
            f"another migration run still held the lock after {lock_timeout_seconds} s"
        )
    try:
        recorded = family.recorded()
        pending = _check_history(ordered, recorded)

        applied: list[int] = []
        for migration in pending:
            try:
                family.apply(migration)
            except ApplyError as failed:
                kept = ", ".join(map(str, applied)) or "none"
                raise MigrationFailedError(
                    f"migration {migration.version} ({migration.filename}) failed and "
                    f"{failed.outcome}: {failed.error}; applied earlier in this run: {kept}"
                ) from failed.__cause__
            applied.append(migration.version)
        return MigrationResult(applied=tuple(applied), already_applied=tuple(sorted(recorded)))
    finally:
        family.unlock()


def apply_migrations(
    conn: psycopg.Connection[Any],
    migrations: Sequence[Migration],
    *,
    lock_timeout_seconds: int = 120,
) -> MigrationResult:
    """PostgreSQL's run (``postgresql.apply_migrations``), where callers from before the
    families found it: ``make check-migrations`` runs this import on older trees too."""
    from .postgresql import apply_migrations as apply  # here: postgresql imports this module

    return apply(conn, migrations, lock_timeout_seconds=lock_timeout_seconds)


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
