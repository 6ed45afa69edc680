"""The API function's settings, as the API stack sets them, pointed at a local database: a
PostgreSQL (the default family) or a MySQL-family server (``devkit.mysql``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from psycopg.conninfo import conninfo_to_dict

if TYPE_CHECKING:
    from devkit.mysql import MyDatabase

_FUNCTION = {
    "DB_USER": "app_api",  # the login the migrations create
    "AWS_REGION": "eu-west-1",
    "POWERTOOLS_SERVICE_NAME": "items-api",
    "POWERTOOLS_METRICS_NAMESPACE": "bench",
    "POWERTOOLS_TRACE_DISABLED": "1",
}


def api_environment(uri: str) -> dict[str, str]:
    """A local PostgreSQL: DB_ENGINE_FAMILY unset, as the deployed PostgreSQL functions run."""
    params = conninfo_to_dict(uri)
    return {
        "DB_HOST": str(params["host"]),
        "DB_PORT": str(params.get("port") or 5432),
        "DB_NAME": str(params.get("dbname") or "postgres"),
        "DB_SSLMODE": "require",  # ignored on a Unix socket
        **_FUNCTION,
    }


def mysql_api_environment(database: MyDatabase) -> dict[str, str]:
    """A local MySQL-family database, over TCP with TLS. require (encrypted, unverified): the
    server's throwaway CA is none of certifi's, which verify-full trusts."""
    return {
        "DB_ENGINE_FAMILY": "mysql",
        "DB_HOST": database.host,
        "DB_PORT": str(database.port),
        "DB_NAME": database.dbname,
        "DB_SSLMODE": "require",
        **_FUNCTION,
    }
