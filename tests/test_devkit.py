"""devkit: what the tests, the benchmark and ``make local`` share, free of CDK imports."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import devkit
from devkit.api_env import api_environment
from devkit.events import STAGE, rest_event
from devkit.migrations import migrate
from devkit.postgres import PgDatabase
from tests.conftest import REPO_ROOT


def test_no_devkit_module_imports_cdk() -> None:
    modules = sorted(f"devkit.{module.name}" for module in pkgutil.iter_modules(devkit.__path__))
    assert {"devkit.postgres", "devkit.migrations", "devkit.api_env", "devkit.events"} <= set(
        modules
    )
    check = (
        f"import sys; import {', '.join(modules)};"
        " assert not any(m.startswith(('aws_cdk', 'jsii')) for m in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_migrate_creates_the_schema_and_the_apis_login(pg_database: PgDatabase) -> None:
    migrate(pg_database.conninfo)
    with pg_database.connect() as conn:
        assert conn.execute("SELECT to_regclass('items') IS NOT NULL").fetchone() == (True,)
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'app_api'").fetchone()
    with pg_database.connect("app_api") as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)


def test_api_environment_points_the_function_at_the_database() -> None:
    environment = api_environment("host=/run/pg port=5433 dbname=items user=postgres")
    assert {key: environment[key] for key in ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER")} == {
        "DB_HOST": "/run/pg",
        "DB_PORT": "5433",
        "DB_NAME": "items",
        "DB_USER": "app_api",
    }


def test_rest_event_is_what_the_stage_sends_for_an_item() -> None:
    event = rest_event("PUT", "/items/abc", '{"name": "x"}')
    assert (event["resource"], event["path"], event["httpMethod"]) == (
        "/items/{id}",
        "/items/abc",
        "PUT",
    )
    assert event["pathParameters"] == {"id": "abc"}
    assert event["requestContext"]["path"] == f"/{STAGE}/items/abc"
    assert event["body"] == '{"name": "x"}'
    listing = rest_event("GET", "/items")
    assert (listing["resource"], listing["pathParameters"]) == ("/items", None)
