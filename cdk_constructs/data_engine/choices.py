"""What names a database engine and how clients reach it (pure Python: config can import it)."""

from enum import StrEnum


class DatabaseEngine(StrEnum):
    """The engines the data tier can build; each is one row of ``factory.ENGINES``."""

    AURORA_POSTGRESQL = "aurora-postgresql"
    """Aurora PostgreSQL Serverless v2, optionally behind RDS Proxy (IAM auth end to end)."""


class EngineFamily(StrEnum):
    """The SQL dialect a database speaks: it picks the migration set and the client driver.

    The value names the migration set (``lambda_src/db_migrate/migrations/<value>/``) and is
    what the migration runner's ``DB_ENGINE_FAMILY`` holds.
    """

    POSTGRESQL = "postgresql"

    @property
    def label(self) -> str:
        """The family's name in descriptions people read."""
        return _LABELS[self]


_LABELS = {EngineFamily.POSTGRESQL: "PostgreSQL"}


class SslMode(StrEnum):
    """How a client checks the server's TLS certificate (libpq ``sslmode``)."""

    VERIFY_FULL = "verify-full"
    """Encrypt and verify chain and host name (RDS Proxy's certificate chains to Amazon Root CA)."""
    REQUIRE = "require"
    """Encrypt only: the Aurora CA bundle is not in the Lambda runtime's trust store."""
