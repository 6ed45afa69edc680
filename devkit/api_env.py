"""The API function's settings, as the API stack sets them, pointed at a local PostgreSQL."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict


def api_environment(uri: str) -> dict[str, str]:
    """The function logs in as `app_api`, the role the migrations create."""
    params = conninfo_to_dict(uri)
    return {
        "DB_HOST": str(params["host"]),
        "DB_PORT": str(params.get("port") or 5432),
        "DB_NAME": str(params.get("dbname") or "postgres"),
        "DB_USER": "app_api",
        "DB_SSLMODE": "require",  # ignored on a Unix socket
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "items-api",
        "POWERTOOLS_METRICS_NAMESPACE": "bench",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
