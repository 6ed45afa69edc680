"""What names a database engine and what config may ask of it (pure Python: config imports it).

``ENGINE_SPECS`` holds one row per engine: its family, whether it is an Aurora Serverless v2
cluster or a single RDS DB instance, the versions offered (a test checks each against
aws-cdk-lib's enums), and the versions that can scale to 0 ACU or sit behind RDS Proxy.
Config validation and the engine constructs read the row; nothing else branches on the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class DatabaseEngine(StrEnum):
    """The engines the data tier can build; each is one row of ``factory.ENGINES``."""

    AURORA_POSTGRESQL = "aurora-postgresql"
    """Aurora PostgreSQL Serverless v2, optionally behind RDS Proxy (IAM auth end to end)."""
    AURORA_MYSQL = "aurora-mysql"
    """Aurora MySQL 3 (MySQL 8.0 compatible) Serverless v2, optionally behind RDS Proxy."""
    POSTGRES = "postgres"
    """One RDS for PostgreSQL DB instance (Multi-AZ optional), optionally behind RDS Proxy."""
    MYSQL = "mysql"
    """One RDS for MySQL DB instance (Multi-AZ optional), optionally behind RDS Proxy."""


class EngineFamily(StrEnum):
    """The SQL dialect a database speaks: it picks the migration set and the client driver.

    The value names the migration set (``lambda_src/db_migrate/migrations/<value>/``) and is
    what the migration runner's and the API's ``DB_ENGINE_FAMILY`` hold.
    """

    POSTGRESQL = "postgresql"
    MYSQL = "mysql"

    @property
    def label(self) -> str:
        """The family's name in descriptions people read."""
        return _LABELS[self]

    @property
    def port(self) -> int:
        """The engine's standard port, which the database keeps (only named security groups
        reach it, so another port would add no protection)."""
        return _PORTS[self]


_LABELS = {EngineFamily.POSTGRESQL: "PostgreSQL", EngineFamily.MYSQL: "MySQL"}
_PORTS = {EngineFamily.POSTGRESQL: 5432, EngineFamily.MYSQL: 3306}


INSTANCE_CLASSES = (
    "t4g.micro", "t4g.small", "t4g.medium", "t4g.large",
    "m7g.large", "m7g.xlarge", "m7g.2xlarge", "r7g.large", "r7g.xlarge", "r7g.2xlarge",
)  # fmt: skip
"""The DB instance classes offered (Graviton; ``make cost`` prices each): burstable t4g for
small and idle loads, m7g general purpose, r7g memory optimized."""


class EngineKind(StrEnum):
    """How the engine is sized: ACUs of a Serverless v2 cluster, or an instance class."""

    SERVERLESS_CLUSTER = "serverless-cluster"
    INSTANCE = "instance"


class SslMode(StrEnum):
    """How a client checks the server's TLS certificate (libpq ``sslmode``)."""

    VERIFY_FULL = "verify-full"
    """Encrypt and verify chain and host name (RDS Proxy's certificate chains to Amazon Root CA)."""
    REQUIRE = "require"
    """Encrypt only: the RDS CA bundle is not in the Lambda runtime's trust store."""


def _versions(*groups: tuple[str, tuple[int, ...]]) -> tuple[str, ...]:
    """``("16", (3, 4))`` -> ``("16.3", "16.4")``: a major and its minors, as config writes them."""
    return tuple(f"{major}.{minor}" for major, minors in groups for minor in minors)


def version_key(version: str) -> tuple[int, ...]:
    """``"3.10.4"`` -> ``(3, 10, 4)``: versions in numeric order."""
    return tuple(int(part) for part in version.split("."))


def _from(versions: tuple[str, ...], *firsts: str) -> frozenset[str]:
    """The ``versions`` at or above the first of their major that has a feature."""
    minimum = {version_key(first)[0]: version_key(first) for first in firsts}
    return frozenset(
        v for v in versions if version_key(v) >= minimum.get(version_key(v)[0], (1_000_000,))
    )


def _aurora_mysql(*minors: str) -> tuple[str, ...]:
    return tuple(f"3.{minor}" for minor in minors)


@dataclass(frozen=True)
class EngineSpec:
    """The rules of one engine."""

    label: str
    """Its name in messages: ``Aurora MySQL``."""
    family: EngineFamily
    kind: EngineKind
    versions: tuple[str, ...]
    """The versions config may name (``database.engine_version``), oldest first."""
    default_version: str
    scale_to_zero_versions: frozenset[str] = frozenset()
    """Serverless v2 versions whose minimum capacity can be 0 ACU (auto-pause)."""
    proxy_versions: frozenset[str] = frozenset()
    """The versions RDS Proxy can front, per the RDS Proxy engine tables."""

    def __post_init__(self) -> None:
        if self.default_version not in self.versions:
            raise ValueError(f"{self.label}: default {self.default_version} is not offered")

    @property
    def serverless(self) -> bool:
        return self.kind is EngineKind.SERVERLESS_CLUSTER


AURORA_POSTGRESQL_VERSIONS = _versions(
    ("16", (1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 13)), ("17", (4, 5, 6, 7, 9))
)
AURORA_MYSQL_VERSIONS = _aurora_mysql(
    "04.0", "04.1", "04.2", "04.3", "04.4", "04.6",  # the 3.04 long-term support line
    "08.0", "08.1", "08.2", "09.0", "10.0", "10.1", "10.2", "10.3", "10.4", "11.0", "11.1", "12.0",
)  # fmt: skip
"""Aurora MySQL 3 versions as config writes them (``3.10.4``: CDK's ``8.0.mysql_aurora.3.10.4``)."""

ENGINE_SPECS: Mapping[DatabaseEngine, EngineSpec] = MappingProxyType(
    {
        DatabaseEngine.AURORA_POSTGRESQL: EngineSpec(
            label="Aurora PostgreSQL",
            family=EngineFamily.POSTGRESQL,
            kind=EngineKind.SERVERLESS_CLUSTER,
            versions=AURORA_POSTGRESQL_VERSIONS,
            default_version="16.13",
            # Aurora User Guide, "Aurora Serverless v2 capacity" (0 ACU): 16.3+ and 17.4+.
            scale_to_zero_versions=_from(AURORA_POSTGRESQL_VERSIONS, "16.3", "17.4"),
            # Concepts.Aurora_Fea_Regions_DB-eng.Feature.RDS_Proxy: every Aurora PostgreSQL 16/17.
            proxy_versions=frozenset(AURORA_POSTGRESQL_VERSIONS),
        ),
        DatabaseEngine.AURORA_MYSQL: EngineSpec(
            label="Aurora MySQL",
            family=EngineFamily.MYSQL,
            kind=EngineKind.SERVERLESS_CLUSTER,
            versions=AURORA_MYSQL_VERSIONS,
            default_version="3.10.4",
            # 0 ACU (auto-pause) needs Aurora MySQL 3.08.0 or later.
            scale_to_zero_versions=_from(AURORA_MYSQL_VERSIONS, "3.08.0"),
            # Concepts.Aurora_Fea_Regions_DB-eng.Feature.RDS_Proxy: "Version 3.01.0 and higher".
            proxy_versions=frozenset(AURORA_MYSQL_VERSIONS),
        ),
        DatabaseEngine.POSTGRES: EngineSpec(
            label="RDS for PostgreSQL",
            family=EngineFamily.POSTGRESQL,
            kind=EngineKind.INSTANCE,
            versions=_versions(
                ("16", tuple(range(1, 14))), ("17", tuple(range(1, 10))), ("18", (1, 2, 3))
            ),
            default_version="17.9",
            # RDS Proxy with RDS for PostgreSQL 16 and 17 (aws-cdk-lib's own example fronts 17.7
            # with end-to-end IAM). 18 is left out until its row in the RDS Proxy engine table
            # is confirmed: a proxy there is refused rather than failing the first deploy.
            proxy_versions=frozenset(
                _versions(("16", tuple(range(1, 14))), ("17", tuple(range(1, 10))))
            ),
        ),
        DatabaseEngine.MYSQL: EngineSpec(
            label="RDS for MySQL",
            family=EngineFamily.MYSQL,
            kind=EngineKind.INSTANCE,
            # 8.4 only: 8.0 left RDS standard support on 2026-07-31 (Extended Support is billed).
            versions=_versions(("8.4", tuple(range(3, 11)))),
            default_version="8.4.7",
            proxy_versions=frozenset(_versions(("8.4", tuple(range(3, 11))))),
        ),
    }
)


def engine_spec(engine: DatabaseEngine) -> EngineSpec:
    return ENGINE_SPECS[engine]
