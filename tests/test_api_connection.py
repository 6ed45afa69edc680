"""The items API end to end, its connection and failures: one connection and IAM token per
execution environment, reconnects, statement timeouts, errors, logs and metrics (on each engine
family: see the `api` fixture)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from psycopg import sql

from tests.test_api_harness import (
    INTERNAL_ERROR,
    REGION,
    Api,
    FakeClock,
    PgBackend,
    db,
    handler,
    item_path,
    items,
    lambda_context,
)
from tests.test_api_harness import api as api  # the fixture, re-exported (see devkit.fixtures)

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

# The handler filters this at import; pytest restores the warning filters around each test.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


# --- the connection ------------------------------------------------------------------------


def test_one_connection_and_one_token_serve_many_requests(api: Api) -> None:
    for n in range(5):
        api.create(f"item {n}")
    api.request("GET", "/items")

    assert len(api.api_backends()) == 1
    assert api.rds.calls == [
        {
            "DBHostname": api.database.host,
            "Port": api.database.port,
            "DBUsername": "app_api",
            "Region": REGION,
        }
    ]


def test_a_killed_connection_is_reopened_and_the_request_succeeds(api: Api) -> None:
    first = api.create("before the kill")
    [old_backend] = api.api_backends()
    api.kill_api_connections()

    response = api.request("GET", item_path(first["id"]))

    assert response.status == 200
    assert response.json == first
    [new_backend] = api.api_backends()
    assert new_backend != old_backend
    assert api.rds.tokens == 1  # the cached token was still fresh
    assert any(entry["message"] == "database connection lost, reconnecting" for entry in api.logs())


def test_a_write_after_a_killed_connection_is_applied_once(api: Api) -> None:
    api.create("before the kill")
    api.kill_api_connections()

    response = api.request("POST", "/items", {"name": "after the kill"})

    assert response.status == 201
    assert sorted(row[1] for row in api.rows()) == ["after the kill", "before the kill"]


def test_the_token_is_fetched_again_only_for_a_new_connection_after_it_aged(api: Api) -> None:
    clock = FakeClock()
    db.reset(db.Database.from_environment(clock=clock))

    api.request("GET", "/health")
    clock.advance(5 * 60)
    api.kill_api_connections()
    api.request("GET", "/health")  # reconnects with the 5-minute-old token
    assert api.rds.tokens == 1

    clock.advance(6 * 60)  # 11 minutes old now
    api.request("GET", "/health")  # the open connection needs no token
    assert api.rds.tokens == 1

    api.kill_api_connections()
    assert api.request("GET", "/health").status == 200  # a new connection: a new token
    assert api.rds.tokens == 2
    api.request("GET", "/health")
    assert api.rds.tokens == 2


def test_creating_again_with_the_same_id_returns_the_first_row(api: Api) -> None:
    """What the retry after a connection lost mid-insert relies on: no duplicate, same item."""
    item_id = uuid.uuid4()
    database = db.Database.from_environment()
    try:
        first = database.run(lambda s: items.create_item(s, item_id, "first", ""))
        again = database.run(lambda s: items.create_item(s, item_id, "second", "other"))
    finally:
        database.close()

    assert again == first
    assert [(row[0], row[1]) for row in api.rows()] == [(item_id, "first")]


def test_a_failed_sign_in_drops_the_cached_token(api: Api) -> None:
    with api.database.login_refused():  # as IAM refusing the token would
        refused = api.request("GET", "/items")

    assert refused.status == 503
    assert refused.error_code == "DATABASE_UNAVAILABLE"
    assert api.request("GET", "/items").status == 200
    assert api.rds.tokens == 2  # the token of the refused sign-in was not used again


def test_the_token_is_never_logged(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    tokens: list[str] = []
    original = api.rds.generate_db_auth_token

    def recording(**kwargs: Any) -> str:
        tokens.append(original(**kwargs))
        return tokens[-1]

    api.rds.generate_db_auth_token = recording  # type: ignore[method-assign]
    clock = FakeClock()
    db.reset(db.Database.from_environment(clock=clock))
    previous_level = handler.logger.log_level
    for logger in (handler.logger, db.logger):  # the db child logger has a level of its own
        logger.setLevel("DEBUG")
    try:
        api.create("one")
        clock.advance(11 * 60)
        api.kill_api_connections()
        api.request("GET", "/items")  # reconnects with a second token
        api.request("POST", "/items", raw_body="{")
    finally:
        for logger in (handler.logger, db.logger):
            logger.setLevel(previous_level)

    captured = capsys.readouterr()
    output = api.log.getvalue() + captured.out + captured.err
    assert len(tokens) == 2
    assert "fetched a new IAM auth token" in output  # debug logs were on
    assert "database connection opened" in output
    for token in tokens:
        assert token not in output
        assert token.split("-")[-1] not in output


def test_a_statement_over_the_timeout_is_503_and_the_connection_is_kept(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update waiting for a row lock another transaction holds: PostgreSQL's statement
    timeout ends it, MySQL's innodb_lock_wait_timeout (a parameter group's, 1 s here)."""
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "200")
    with api.database.lock_waits_limited():
        db.reset()
        created = api.create("locked")
        [backend] = api.api_backends()
        body = {"name": "waited", "description": "", "version": 1}

        with api.database.row_locked(created["id"]):
            started = time.monotonic()
            response = api.request("PUT", item_path(created["id"]), body)
            elapsed = time.monotonic() - started

    assert response.status == 503
    assert response.error_code == "DATABASE_TIMEOUT"
    assert elapsed < 3
    assert api.request("GET", item_path(created["id"])).json == created
    assert api.request("PUT", item_path(created["id"]), body).status == 200
    assert api.api_backends() == [backend]  # a timeout is not a lost connection
    session = db.database().connection  # the API's own session: no state, nothing prepared
    assert session is not None
    assert api.database.nothing_pinned(session)


def _signs_in(database: db.Database) -> bool:
    try:
        return database.run(items.ping)
    except db.DatabaseUnavailableError:
        return False
    finally:
        database.close()


@pytest.mark.parametrize("api", ["postgresql"], indirect=True)
@pytest.mark.parametrize("method", ["password", "scram-sha-256"])
def test_the_token_signs_in_whichever_way_the_server_asks_for_a_password(
    api: Api, pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """RDS asks for the IAM token in cleartext (over TLS); PostgreSQL's own passwords go
    through SCRAM. The test server trusts its socket, so one role is made to sign in. (MySQL's
    cleartext request: test_api_mysql_wire; a password login: every MySQL test.)"""
    role, token = f"api_{uuid.uuid4().hex[:12]}", "the-token"
    monkeypatch.setenv("DB_USER", role)
    settings = db.DatabaseSettings.from_environment()
    hba = Path(pg_server.pgdata) / "pg_hba.conf"
    original = hba.read_text()
    assert isinstance(api.database, PgBackend)
    with api.database.connect() as admin:
        name = sql.Identifier(role)
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(name, sql.Literal(token)))
        try:
            hba.write_text(f"local all {role} {method}\n{original}")
            admin.execute("SELECT pg_reload_conf()")
            deadline = time.monotonic() + 5
            while _signs_in(db.Database(settings, db.AuthTokenCache(lambda: "a wrong one"))):
                assert time.monotonic() < deadline, "the server still trusts the role"
                time.sleep(0.05)

            assert _signs_in(db.Database(settings, db.AuthTokenCache(lambda: token)))
        finally:
            hba.write_text(original)
            admin.execute("SELECT pg_reload_conf()")
            admin.execute(sql.SQL("DROP ROLE {}").format(name))


# --- failures ------------------------------------------------------------------------------


def test_an_unexpected_error_is_a_500_json_without_internals(api: Api) -> None:
    created = api.create("exists")
    api.database.revoke_select()  # a broken grant: the handler's SQL now fails

    response = api.request("GET", item_path(created["id"]))

    assert response.status == 500
    assert response.json == INTERNAL_ERROR
    [entry] = [entry for entry in api.logs() if entry["message"] == "unhandled error"]
    assert entry["level"] == "ERROR"
    assert entry["exception_name"] == "InsufficientPrivilege"
    assert "denied" in entry["exception"]  # permission denied; SELECT command denied


def test_a_check_constraint_the_models_do_not_know_is_a_422(api: Api) -> None:
    api.database.add_check("items_name_test", "name <> 'taboo'")

    response = api.request("POST", "/items", {"name": "taboo"})

    assert response.status == 422
    assert response.error_code == "VALIDATION_ERROR"
    assert response.json["error"]["details"][0]["field"] == "name"
    assert api.rows() == []
    assert api.request("POST", "/items", {"name": "fine"}).status == 201  # connection still good


def test_an_event_the_resolver_cannot_read_is_a_500_json(api: Api) -> None:
    raw = handler.lambda_handler({"resource": "/items"}, lambda_context())

    assert raw["statusCode"] == 500
    assert json.loads(raw["body"]) == INTERNAL_ERROR
    assert any(entry["message"] == "unhandled error outside the routes" for entry in api.logs())


def test_requests_are_logged_with_correlation_id_and_client_id(api: Api) -> None:
    request_id = str(uuid.uuid4())

    api.request("GET", "/items", request_id=request_id)

    [entry] = [entry for entry in api.logs() if entry["message"] == "request"]
    assert entry["correlation_id"] == request_id
    assert entry["client_id"] == "app-client-123"
    assert "user_id" not in entry  # a Cognito-authorized call names no user
    assert (entry["method"], entry["resource"], entry["status"]) == ("GET", "/items", 200)


def test_writes_and_conflicts_emit_metrics(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    created = api.create("counted")
    path = item_path(created["id"])
    api.request("PUT", path, {"name": "a", "description": "", "version": 1})
    api.request("PUT", path, {"name": "b", "description": "", "version": 1})
    api.request("DELETE", path)

    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    names = [
        metric["Name"]
        for record in emitted
        for directive in record["_aws"]["CloudWatchMetrics"]
        if directive["Namespace"] == "test"
        for metric in directive["Metrics"]
    ]
    assert [name for name in names if name != "ColdStart"] == [
        "ItemsCreated",
        "ItemsUpdated",
        "VersionConflicts",
        "ItemsDeleted",
    ]
