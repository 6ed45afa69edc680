"""devkit: what the tests, the benchmark and ``make local`` share, free of CDK imports."""

from __future__ import annotations

import pkgutil
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pymysql
import pytest

import devkit
from devkit import mysql as devkit_mysql
from devkit.api_env import api_environment
from devkit.events import STAGE, rest_event
from devkit.migrations import migrate
from devkit.mysql import MyDatabase, MyServer
from devkit.postgres import PgDatabase
from tests.conftest import REPO_ROOT


def test_no_devkit_module_imports_cdk() -> None:
    modules = sorted(f"devkit.{module.name}" for module in pkgutil.iter_modules(devkit.__path__))
    assert {
        "devkit.postgres",
        "devkit.mysql",
        "devkit.migrations",
        "devkit.api_env",
        "devkit.events",
    } <= set(modules)
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


def test_migrate_mysql_creates_the_schema_and_the_apis_login(
    mysql_database: MyDatabase,
) -> None:
    """The API's user is locked until a test lets it in with a token of its own."""
    migrate(mysql_database)
    with mysql_database.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM items")
        assert cur.fetchone() == (0,)
    devkit_mysql.grant_local_login(mysql_database, password="a-fake-iam-token")
    with mysql_database.connect("app_api", "a-fake-iam-token") as api, api.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM items")
        assert cur.fetchone() == (0,)


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


# --- the local MySQL-family server -------------------------------------------------------------


def root_login(server: MyServer | MyDatabase, **tls: Any) -> None:
    """Root logs in with its password, with PyMySQL's TLS options `tls`."""
    pymysql.connect(
        host=server.host,
        port=server.port,
        user="root",
        password=server.root_password,
        connect_timeout=5,
        **tls,
    ).close()


def test_mysql_server_requires_tls(mysql_server: MyServer) -> None:
    """require_secure_transport: the right password without TLS is refused (MySQL 8 says 3159,
    MariaDB 10.11 says 1045, access denied)."""
    with pytest.raises(pymysql.err.OperationalError) as refused:
        root_login(mysql_server, ssl_disabled=True)
    assert refused.value.args[0] in (1045, 3159)


def test_mysql_connection_is_verified_tls(mysql_database: MyDatabase) -> None:
    with mysql_database.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
        (_, tls_version) = cur.fetchone() or ("", "")
        assert tls_version.startswith("TLSv1.")
        cur.execute("SELECT DATABASE(), @@time_zone, @@character_set_server")
        assert cur.fetchone() == (mysql_database.dbname, "+00:00", "utf8mb4")


class NamingContext(ssl.SSLContext):
    """Verifies as MyDatabase does, but checks the certificate for `server_name` instead of the
    host connected to."""

    server_name = "db.example.com"

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        return super().wrap_socket(*args, **{**kwargs, "server_hostname": self.server_name})


def test_mysql_certificate_is_checked_against_the_ca_and_the_host_name(
    mysql_database: MyDatabase,
) -> None:
    context = mysql_database.ssl_context()
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    # Another CA (the system's) fails the handshake.
    with pytest.raises(pymysql.err.OperationalError, match="CERTIFICATE_VERIFY_FAILED"):
        root_login(mysql_database, ssl=ssl.create_default_context())
    # The right CA, but a name the certificate does not have.
    misnamed = NamingContext(ssl.PROTOCOL_TLS_CLIENT)
    misnamed.load_verify_locations(cafile=mysql_database.ca_file)
    with pytest.raises(pymysql.err.OperationalError, match="Hostname mismatch"):
        root_login(mysql_database, ssl=misnamed)
    # Its names: localhost and 127.0.0.1.
    for name in ("localhost", "127.0.0.1"):
        named = NamingContext(ssl.PROTOCOL_TLS_CLIENT)
        named.server_name = name
        named.load_verify_locations(cafile=mysql_database.ca_file)
        root_login(mysql_database, ssl=named)


FAILING_SERVER = """#!/bin/sh
case "$*" in *--version*) echo "mariadbd  Ver 10.11.0-MariaDB (a stand-in)"; exit 0;; esac
for option in "$@"; do
    case "$option" in --log-error=*) echo "[ERROR] the stand-in cannot start" >"${option#*=}";; esac
done
exit 1
"""


def test_a_mysql_server_that_cannot_start_fails_loudly_with_its_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Tests that need the server fail (never skip) when it does not start."""
    server = tmp_path / "mariadbd"
    server.write_text(FAILING_SERVER)
    server.chmod(0o755)
    monkeypatch.setenv(devkit_mysql.SERVER_BINARY_ENV, str(server))
    with (
        pytest.raises(devkit_mysql.ServerError, match="exited \\(1\\) while starting") as raised,
        devkit_mysql.local_server(),
    ):
        pass
    assert "the stand-in cannot start" in str(raised.value)

    monkeypatch.setenv(devkit_mysql.SERVER_BINARY_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(devkit_mysql.ServerError, match="not executable"):
        devkit_mysql.find_server_binary()
