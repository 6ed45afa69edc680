"""The MySQL family's dialect (`api.dialects.mysql`) where the behaviour tests, which run on both
families through the `api` fixture, cannot show it: that it sends MySQL 8's SQL only (the local
MariaDB would take RETURNING too), how it quotes values, how MySQL's and MariaDB's error numbers
map, the rollback of a failed write, the socket's hard time bound, TLS against the local server,
and the engine family's setting. (That each family imports its own driver: test_api_package.)"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import certifi
import pymysql
import pytest
from pymysql.constants import SERVER_STATUS

from api import sql
from api.dialects import mysql
from devkit.smoke import handler_sender, run_smoke
from tests.test_api_harness import REGION, Api, MyBackend, db, handler, item_path, items
from tests.test_api_harness import api as api  # the fixture, re-exported (see devkit.fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
MYSQL_ONLY = pytest.mark.parametrize("api", ["mysql"], indirect=True)
LAMBDA_SRC = Path(__file__).resolve().parent.parent / "lambda_src"


# --- quoting and errors, without a server -------------------------------------------------------


def test_values_are_quoted_by_the_servers_rule_for_backslashes() -> None:
    item_id = uuid.UUID(int=7)
    query = "SELECT %s, %s, %s, %s, %s, %s"

    bound = sql.bind(query, (None, True, 42, item_id, "it's", "back\\slash'"), mysql.literal)

    assert bound == f"SELECT NULL, TRUE, 42, '{item_id}', 'it\\'s', 'back\\\\slash\\''"
    assert mysql.literal("back\\slash'", no_backslash_escapes=True) == "'back\\slash'''"
    assert mysql.literal("ünï €\n") == "'ünï €\\n'"


def test_a_moment_is_written_as_utc_and_only_an_aware_one() -> None:
    moment = datetime(2030, 1, 2, 5, 4, 5, 6, tzinfo=timezone(timedelta(hours=2)))

    assert mysql.literal(moment) == "TIMESTAMP '2030-01-02 03:04:05.000006'"
    assert (
        mysql.literal(datetime(1000, 1, 1, tzinfo=UTC)) == "TIMESTAMP '1000-01-01 00:00:00.000000'"
    )
    with pytest.raises(ValueError, match="naive"):
        mysql.literal(datetime(2030, 1, 2))


@pytest.mark.parametrize(
    ("value", "error"),
    [("a\x00b", ValueError), ("\ud800", UnicodeEncodeError), (1.5, TypeError), (b"x", TypeError)],
)
def test_what_the_api_never_stores_is_refused(value: object, error: type[Exception]) -> None:
    """The last line behind the models, which refuse NUL and lone surrogates first (422)."""
    with pytest.raises(error):
        mysql.literal(value)


MYSQL_8_CHECK = "Check constraint 'items_name_not_blank' is violated."
MARIADB_CHECK = "CONSTRAINT `items_description_length` failed for `test_1`.`items`"


@pytest.mark.parametrize(
    ("code", "message", "expected", "named"),
    [
        (3819, MYSQL_8_CHECK, sql.CheckViolation, "items_name_not_blank"),
        (4025, MARIADB_CHECK, sql.CheckViolation, "items_description_length"),
        (
            1406,
            "Data too long for column 'description' at row 1",
            sql.CheckViolation,
            "description",
        ),
        (1205, "Lock wait timeout exceeded; try restarting transaction", sql.QueryCanceled, None),
        (3024, "maximum statement execution time exceeded", sql.QueryCanceled, None),
        (
            1969,
            "Query execution was interrupted (max_statement_time exceeded)",
            sql.QueryCanceled,
            None,
        ),
        (
            1142,
            "SELECT command denied to user 'app_api'@'%' for table 'items'",
            sql.InsufficientPrivilege,
            None,
        ),
        (1064, "You have an error in your SQL syntax", sql.DatabaseError, None),
    ],
)
def test_the_servers_error_numbers_map_to_what_the_handler_tells_apart(
    code: int, message: str, expected: type[sql.DatabaseError], named: str | None
) -> None:
    """MySQL 8's and MariaDB's numbers for the same conditions; the constraint (or column) a
    CHECK or length error names decides which field the 422 points at."""
    error = mysql.server_error(pymysql.err.OperationalError(code, message), connection_open=True)

    assert type(error) is expected
    assert error.code == f"MySQL error {code}"
    assert error.constraint_name == named


@pytest.mark.parametrize(
    ("exc", "connection_open"),
    [
        (pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"), True),
        (pymysql.err.OperationalError(2006, "MySQL server has gone away"), True),
        (pymysql.err.OperationalError(1927, "Connection was killed"), True),
        (pymysql.err.OperationalError(4031, "The client was disconnected by the server"), True),
        (pymysql.err.InterfaceError(0, ""), True),  # the socket was already closed
        (pymysql.err.InternalError("Packet sequence number wrong - got 3 expected 1"), False),
    ],
)
def test_a_broken_connection_is_lost_whatever_the_driver_calls_it(
    exc: Exception, connection_open: bool
) -> None:
    error = mysql.server_error(exc, connection_open=connection_open)

    assert isinstance(error, sql.ConnectionLostError)
    assert error.__cause__ is exc


# --- on the local server ------------------------------------------------------------------------


@contextlib.contextmanager
def recorded_sql(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every query PyMySQL sends with COM_QUERY meanwhile (its own SET NAMES at sign-in is not
    one: see `Backend.nothing_pinned`)."""
    sent: list[str] = []
    original = pymysql.connections.Connection.query

    def query(self: pymysql.connections.Connection[Any], sql: str, unbuffered: bool = False) -> int:
        sent.append(sql)
        return original(self, sql, unbuffered)

    monkeypatch.setattr(pymysql.connections.Connection, "query", query)
    yield sent


@MYSQL_ONLY
def test_what_the_api_sends_is_mysql_8s_sql_never_mariadbs_extras(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MariaDB runs RETURNING, and ignores the SELECT hint MySQL 8 obeys: neither may make a
    local test pass that MySQL 8 would fail. A write and the read of its row are one transaction
    in one round trip; every SELECT carries the statement timeout."""
    with recorded_sql(monkeypatch) as sent:
        assert run_smoke(handler_sender(handler.lambda_handler)) == 8
        for n in range(3):
            api.create(f"paged {n}")
        first = api.request("GET", "/items", query={"limit": "2"}).json
        api.request("GET", "/items", query={"limit": "2", "cursor": first["next_cursor"]})

    assert sent
    hint = "SELECT /*+ MAX_EXECUTION_TIME(5000) */ "
    for query in sent:
        upper = query.upper()
        assert "RETURNING" not in upper, query
        assert not upper.startswith(("SET ", "PREPARE", "LOCK", "CREATE", "INSERT")), query
        if upper.startswith("SELECT"):
            assert query.startswith(hint), query
        if "INSERT INTO ITEMS" in upper or "UPDATE ITEMS" in upper:  # and the read of its row
            assert query.startswith("START TRANSACTION; "), query
            assert query.endswith("; COMMIT"), query
            assert f"; {hint}" in query, query
    inserts = [query for query in sent if "INSERT INTO items" in query]
    assert inserts
    assert all("ON DUPLICATE KEY UPDATE id = id" in query for query in inserts)
    assert any("WHERE (created_at, id) > (TIMESTAMP '" in query for query in sent)


@MYSQL_ONLY
def test_a_write_the_server_refuses_is_rolled_back_and_the_connection_kept(api: Api) -> None:
    """The write ran inside START TRANSACTION: its failure leaves no open transaction behind
    (the next request would otherwise run inside it)."""
    database = db.Database.from_environment()
    item_id = uuid.uuid4()
    try:
        with pytest.raises(sql.CheckViolation):  # not INSERT IGNORE: the CHECK still applies
            database.run(lambda s: items.create_item(s, uuid.uuid4(), " ", ""))
        connection = database.connection
        assert connection is not None
        assert not connection.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS

        database.run(lambda s: items.create_item(s, item_id, "fine", ""))
        with pytest.raises(sql.CheckViolation):
            database.run(
                lambda s: items.update_item(s, item_id, name=" ", description="", version=1)
            )
        assert not connection.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS
        assert database.connection is connection
    finally:
        database.close()

    assert [(row[0], row[1], row[3]) for row in api.rows()] == [(item_id, "fine", 1)]


@MYSQL_ONLY
def test_a_statement_past_the_sockets_read_timeout_is_given_up_after_one_reconnect(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hard bound on every MySQL engine (MariaDB ignores the SELECT hint, and nothing else
    bounds a wait for a table lock): statement timeout plus connect timeout, twice."""
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "100")
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_SECONDS", "1")
    db.reset()
    created = api.create("behind a table lock")
    assert isinstance(api.database, MyBackend)

    with api.database.connect() as holder, holder.cursor() as cursor:
        cursor.execute("LOCK TABLES items WRITE")
        release = threading.Timer(10, holder.close)  # should the bound not hold, do not hang
        release.start()
        started = time.monotonic()
        try:
            response = api.request("GET", item_path(created["id"]))
        finally:
            release.cancel()
        elapsed = time.monotonic() - started
        cursor.execute("UNLOCK TABLES")

    assert response.status == 503
    assert response.error_code == "DATABASE_UNAVAILABLE"
    assert 2.2 <= elapsed < 4
    assert [e["message"] for e in api.logs()].count("database connection lost, reconnecting") == 1
    assert api.request("GET", item_path(created["id"])).json == created


@MYSQL_ONLY
def test_verify_full_refuses_a_server_certificate_no_trusted_ca_signed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With certifi's own CAs (Amazon's among them) the local server's test CA is unknown:
    verify-full refuses the server; require encrypts without verifying, as against a DB
    instance directly. (The `api` fixture's verify-full trusts the test CA.)"""
    monkeypatch.setattr(certifi, "where", certifi.core.where)
    refused = db.Database.from_environment()
    monkeypatch.setenv("DB_SSLMODE", "require")
    unverified = db.Database.from_environment()
    try:
        with pytest.raises(db.DatabaseUnavailableError):
            refused.run(items.ping)
        assert unverified.run(items.ping) is True
    finally:
        refused.close()
        unverified.close()

    [error] = [
        e["error"] for e in api.logs() if e["message"] == "could not connect to the database"
    ]
    assert "CERTIFICATE_VERIFY_FAILED" in error


# --- the engine family --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "family"), [(None, "postgresql"), ("", "postgresql"), ("mysql", "mysql")]
)
def test_the_engine_family_defaults_to_postgresql(value: str | None, family: str) -> None:
    environment = {
        "DB_HOST": "db",
        "DB_PORT": "3306",
        "DB_NAME": "items",
        "DB_USER": "app_api",
        "DB_SSLMODE": "verify-full",
        "AWS_REGION": REGION,
    } | ({} if value is None else {"DB_ENGINE_FAMILY": value})

    assert db.DatabaseSettings.from_environment(environment).engine_family == family
    with pytest.raises(ValueError, match="DB_ENGINE_FAMILY must be one of"):
        db.DatabaseSettings.from_environment(environment | {"DB_ENGINE_FAMILY": "mariadb"})
