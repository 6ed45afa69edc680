"""The engine families the runner can migrate: one registry row per family.

The CDK app passes the family in ``DB_ENGINE_FAMILY`` (PostgreSQL when unset) and fingerprints
the same migration set, ``migrations/<family>/``. Adding a family: its value here (the same as
the app's ``EngineFamily``), its module (migration set, one login, the run) and a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from . import mysql, postgresql
from .connection import MigrationRun
from .migrate import MigrationResult


class EngineFamily(StrEnum):
    """The SQL dialect of the database (``DB_ENGINE_FAMILY``)."""

    POSTGRESQL = "postgresql"
    MYSQL = "mysql"


DEFAULT_FAMILY = EngineFamily.POSTGRESQL
"""What a runner deployed without ``DB_ENGINE_FAMILY`` migrates."""


@dataclass(frozen=True, kw_only=True)
class Dialect:
    """How the runner migrates one family: its migration set and its run."""

    migrations_dir: Path
    migrate: Callable[[MigrationRun], MigrationResult]


DIALECTS: dict[EngineFamily, Dialect] = {
    EngineFamily.POSTGRESQL: Dialect(
        migrations_dir=postgresql.MIGRATIONS_DIR, migrate=postgresql.migrate
    ),
    EngineFamily.MYSQL: Dialect(migrations_dir=mysql.MIGRATIONS_DIR, migrate=mysql.migrate),
}
