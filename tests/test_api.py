"""The items API handler end to end: API Gateway REST proxy events in, a real PostgreSQL behind.

Each test gets a fresh database migrated by the real runner, and the handler signs in as the
least-privilege `app_api` role. Only the IAM token call is faked, at the boto3 boundary (signing
needs a real hostname and credentials; the test server trusts any password anyway).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import boto3
import psycopg
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from db_migrate.handler import MIGRATIONS_DIR
from db_migrate.migrate import apply_migrations, load_migrations
from tests.postgres import PgDatabase

# Read when the handler module is imported: no X-Ray daemon here, and metrics need a namespace.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "test")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "items-api")

from api import db, handler, items  # after the Powertools variables above

REGION = "eu-west-1"
STAGE = "v1"
MAX_BODY = 16 * 1024
INTERNAL_ERROR = {"error": {"code": "INTERNAL_ERROR", "message": "internal error"}}

# The handler filters this at import; pytest restores the warning filters around each test.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


# --- fakes and helpers ---------------------------------------------------------------------


@dataclass
class FakeRds:
    """Stands in for boto3's RDS client: records each token request, returns a fresh token."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def generate_db_auth_token(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        return f"FAKE-IAM-TOKEN-{len(self.calls)}-{uuid.uuid4().hex}"

    @property
    def tokens(self) -> int:
        return len(self.calls)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        assert self.headers.get("Content-Type") == "application/json", self.headers
        return json.loads(self.text)

    @property
    def error_code(self) -> str:
        code: str = self.json["error"]["code"]
        return code


def lambda_context() -> LambdaContext:
    context = LambdaContext()
    context._function_name = "items-api"
    context._function_version = "$LATEST"
    context._memory_limit_in_mb = 512
    context._invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:items-api"
    context._aws_request_id = str(uuid.uuid4())
    return context


def resource_of(path: str) -> str:
    """The API Gateway resource a path hits (as the private API defines them)."""
    parts = path.split("/")
    if len(parts) == 3 and parts[1] == "items":
        return "/items/{id}"
    return path


def make_event(
    method: str,
    path: str,
    *,
    body: str | None = None,
    query: dict[str, str] | None = None,
    is_base64: bool = False,
    request_id: str | None = None,
    stage_path: bool = True,
) -> dict[str, Any]:
    """An API Gateway REST proxy event as the Cognito-authorized stage sends it."""
    resource = resource_of(path)
    path_parameters = {"id": path.split("/")[2]} if resource == "/items/{id}" else None
    request_id = request_id or str(uuid.uuid4())
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", "Host": "api.example.internal"},
        "multiValueHeaders": {
            "Content-Type": ["application/json"],
            "Host": ["api.example.internal"],
        },
        "queryStringParameters": query,
        "multiValueQueryStringParameters": (
            {key: [value] for key, value in query.items()} if query else None
        ),
        "pathParameters": path_parameters,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": is_base64,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{STAGE}{path}" if stage_path else path,
            "stage": STAGE,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": 1_800_000_000_000,
            "identity": {"sourceIp": "10.0.1.23", "userAgent": "pytest"},
            "authorizer": {
                "claims": {
                    "client_id": "app-client-123",
                    "scope": "items/read items/write",
                    "token_use": "access",
                    "sub": "app-client-123",
                }
            },
        },
    }


@dataclass
class Api:
    """The handler wired to one test database."""

    database: PgDatabase
    rds: FakeRds
    log: io.StringIO

    def call(self, event: dict[str, Any]) -> ApiResponse:
        raw = handler.lambda_handler(event, lambda_context())
        headers = {key: ", ".join(values) for key, values in raw["multiValueHeaders"].items()}
        headers |= raw.get("headers") or {}
        assert raw["isBase64Encoded"] is False
        return ApiResponse(raw["statusCode"], headers, raw["body"])

    def request(
        self, method: str, path: str, body: Any = None, *, raw_body: str | None = None, **kw: Any
    ) -> ApiResponse:
        text = raw_body if raw_body is not None else None if body is None else json.dumps(body)
        return self.call(make_event(method, path, body=text, **kw))

    def create(self, name: str = "widget", description: str = "") -> dict[str, Any]:
        response = self.request("POST", "/items", {"name": name, "description": description})
        assert response.status == 201, response.text
        item: dict[str, Any] = response.json
        return item

    def rows(self) -> list[tuple[Any, ...]]:
        """Every row, read as the superuser: what the API really stored."""
        with self.database.connect() as conn:
            return conn.execute(
                "SELECT id, name, description, version, created_at, updated_at FROM items"
                " ORDER BY created_at, id"
            ).fetchall()

    def api_backends(self) -> list[int]:
        """The server processes the handler is connected with, as app_api."""
        with self.database.connect() as conn:
            return [
                row[0]
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE usename = 'app_api' AND datname = %s",
                    (self.database.dbname,),
                )
            ]

    def kill_api_connections(self) -> None:
        """Ends the handler's session from the server side, as a failover or RDS Proxy would."""
        pids = self.api_backends()
        assert pids, "the handler has no open connection to kill"
        with self.database.connect() as conn:
            for pid in pids:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 5
        while self.api_backends():
            assert time.monotonic() < deadline, "the backend did not exit"
            time.sleep(0.01)

    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.getvalue().splitlines() if line]


@pytest.fixture
def api(pg_database: PgDatabase, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    with psycopg.connect(pg_database.conninfo) as conn:
        apply_migrations(conn, load_migrations(MIGRATIONS_DIR))
    for name, value in {
        "DB_HOST": pg_database.host,
        "DB_PORT": str(pg_database.port),
        "DB_NAME": pg_database.dbname,
        "DB_USER": "app_api",
        "DB_SSLMODE": "require",  # libpq ignores it on the Unix socket the test server uses
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)

    rds = FakeRds()

    def fake_client(service_name: str, **kwargs: Any) -> FakeRds:
        assert service_name == "rds"
        assert kwargs == {"region_name": REGION}
        return rds

    monkeypatch.setattr(boto3, "client", fake_client)

    log = io.StringIO()
    stream_handler = cast("logging.StreamHandler[Any]", handler.logger.registered_handler)
    previous = stream_handler.setStream(log)
    db.reset()
    try:
        yield Api(database=pg_database, rds=rds, log=log)
    finally:
        db.reset()  # closes the connection before the database is dropped
        if previous is not None:
            stream_handler.setStream(previous)


def item_path(item_id: object) -> str:
    return f"/items/{item_id}"


# --- happy paths ---------------------------------------------------------------------------


def test_health_reports_that_the_database_answered(api: Api) -> None:
    response = api.request("GET", "/health")

    assert response.status == 200
    assert response.json == {"status": "ok", "database": "ok"}
    assert len(api.api_backends()) == 1  # it really signed in, as app_api


def test_health_is_503_json_when_the_database_is_unreachable(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DB_HOST", str(tmp_path))  # a socket directory with no server in it
    db.reset()

    response = api.request("GET", "/health")

    assert response.status == 503
    body = response.json
    assert body["status"] == "unavailable"
    assert body["error"]["code"] == "DATABASE_UNAVAILABLE"
    # The routes say the same, as JSON and retryable.
    listed = api.request("GET", "/items")
    assert listed.status == 503
    assert listed.error_code == "DATABASE_UNAVAILABLE"
    assert listed.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    ("stage_path", "location_prefix"), [(True, f"/{STAGE}/items/"), (False, "/items/")]
)
def test_create_returns_201_with_the_item_and_its_location(
    api: Api, stage_path: bool, location_prefix: str
) -> None:
    response = api.request(
        "POST",
        "/items",
        {"name": "  Widget  ", "description": "  keeps its spaces "},
        stage_path=stage_path,
    )

    assert response.status == 201
    item = response.json
    assert set(item) == {"id", "name", "description", "created_at", "updated_at", "version"}
    assert item["name"] == "Widget"  # names are stripped
    assert item["description"] == "  keeps its spaces "  # descriptions are kept as sent
    assert item["version"] == 1
    created_at = datetime.fromisoformat(item["created_at"])
    assert created_at.utcoffset() is not None
    assert item["updated_at"] == item["created_at"]
    assert response.headers["Location"] == location_prefix + item["id"]
    [row] = api.rows()
    assert (str(row[0]), row[1], row[2], row[3], row[4]) == (
        item["id"],
        "Widget",
        "  keeps its spaces ",
        1,
        created_at,
    )


def test_create_without_description_stores_an_empty_one(api: Api) -> None:
    response = api.request("POST", "/items", {"name": "bare"})

    assert response.status == 201
    assert response.json["description"] == ""
    assert [row[2] for row in api.rows()] == [""]


def test_create_accepts_the_longest_name_and_description(api: Api) -> None:
    item = api.create(name="n" * 200, description="d" * 2000)

    assert (len(item["name"]), len(item["description"])) == (200, 2000)


def test_create_accepts_a_base64_encoded_body(api: Api) -> None:
    body = base64.b64encode(json.dumps({"name": "encoded é"}).encode()).decode()

    response = api.request("POST", "/items", raw_body=body, is_base64=True)

    assert response.status == 201
    assert response.json["name"] == "encoded é"


def test_get_returns_the_item(api: Api) -> None:
    created = api.create("thing", "its description")

    response = api.request("GET", item_path(created["id"]))

    assert response.status == 200
    assert response.json == created


def test_put_replaces_the_item_and_bumps_its_version(api: Api) -> None:
    created = api.create("before", "old")

    response = api.request(
        "PUT", item_path(created["id"]), {"name": "after", "description": "new", "version": 1}
    )

    assert response.status == 200
    updated = response.json
    assert updated["id"] == created["id"]
    assert (updated["name"], updated["description"], updated["version"]) == ("after", "new", 2)
    assert updated["created_at"] == created["created_at"]
    assert updated["updated_at"] > created["updated_at"]
    assert api.request("GET", item_path(created["id"])).json == updated
    [row] = api.rows()
    assert (row[1], row[2], row[3]) == ("after", "new", 2)


def test_put_with_a_stale_version_is_409_and_changes_nothing(api: Api) -> None:
    created = api.create("original")
    path = item_path(created["id"])
    first = api.request("PUT", path, {"name": "first writer", "description": "", "version": 1})
    assert first.status == 200

    second = api.request("PUT", path, {"name": "second writer", "description": "", "version": 1})

    assert second.status == 409
    assert second.error_code == "VERSION_CONFLICT"
    assert second.json["error"]["details"] == [{"current_version": 2}]
    assert api.request("GET", path).json == first.json
    [row] = api.rows()
    assert (row[1], row[3]) == ("first writer", 2)


def test_delete_removes_the_item(api: Api) -> None:
    keep = api.create("keep")
    gone = api.create("gone")

    response = api.request("DELETE", item_path(gone["id"]))

    assert response.status == 204
    assert response.text == ""
    assert api.request("GET", item_path(gone["id"])).status == 404
    assert [str(row[0]) for row in api.rows()] == [keep["id"]]


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("GET", None),
        ("PUT", {"name": "x", "description": "", "version": 1}),
        ("DELETE", None),
    ],
)
def test_an_absent_item_is_404(api: Api, method: str, body: dict[str, Any] | None) -> None:
    api.create("someone else")
    missing = uuid.uuid4()

    response = api.request(method, item_path(missing), body)

    assert response.status == 404
    assert response.error_code == "ITEM_NOT_FOUND"
    assert str(missing) in response.json["error"]["message"]
    assert len(api.rows()) == 1


# --- pagination ------------------------------------------------------------------------------


def walk(api: Api, limit: int) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = {"limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        response = api.request("GET", "/items", query=query)
        assert response.status == 200, response.text
        pages.append(response.json["items"])
        cursor = response.json["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "pagination does not end"


def test_pages_cover_every_item_once_in_order_even_with_equal_created_at(api: Api) -> None:
    with api.database.connect() as conn:
        # One statement: the three rows share now(), so only the id orders them.
        conn.execute("INSERT INTO items (name) SELECT 'same ' || g FROM generate_series(1, 3) g")
        conn.execute(
            "INSERT INTO items (name, created_at) VALUES"
            " ('earliest', now() - interval '1 day'), ('latest', now() + interval '1 day')"
        )

    pages = walk(api, limit=2)

    assert [len(page) for page in pages] == [2, 2, 1]
    seen = [item["id"] for page in pages for item in page]
    expected = [str(row[0]) for row in api.rows()]  # ORDER BY created_at, id
    assert seen == expected
    assert len(set(seen)) == 5
    assert pages[0][0]["name"] == "earliest"
    assert pages[-1][-1]["name"] == "latest"


def test_an_item_added_while_paging_is_neither_repeated_nor_skipped(api: Api) -> None:
    for n in range(3):
        api.create(f"item {n}")
    first = api.request("GET", "/items", query={"limit": "2"}).json

    added = api.create("added meanwhile")
    rest = api.request("GET", "/items", query={"limit": "2", "cursor": first["next_cursor"]})

    names = [item["name"] for item in first["items"] + rest.json["items"]]
    assert names == ["item 0", "item 1", "item 2", added["name"]]
    assert rest.json["next_cursor"] is None


def test_list_defaults_to_20_items_and_an_empty_table_is_one_empty_page(api: Api) -> None:
    assert api.request("GET", "/items").json == {"items": [], "next_cursor": None}
    with api.database.connect() as conn:
        conn.execute("INSERT INTO items (name) SELECT 'n' || g FROM generate_series(1, 21) g")

    page = api.request("GET", "/items").json

    assert len(page["items"]) == 20
    assert page["next_cursor"] is not None


def test_exactly_a_full_last_page_has_no_next_cursor(api: Api) -> None:
    for n in range(4):
        api.create(f"item {n}")

    assert [len(page) for page in walk(api, limit=2)] == [2, 2]


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "error_type"),
    [
        ({}, "name", "missing"),
        ({"description": "no name"}, "name", "missing"),
        ({"name": ""}, "name", "string_too_short"),
        ({"name": " \t\n "}, "name", "string_too_short"),
        ({"name": "n" * 201}, "name", "string_too_long"),
        ({"name": "ok", "description": "d" * 2001}, "description", "string_too_long"),
        ({"name": "ok", "color": "red"}, "color", "extra_forbidden"),
        ({"name": "ok", "version": 1}, "version", "extra_forbidden"),
        ({"name": 123}, "name", "string_type"),
        ({"name": ["a"]}, "name", "string_type"),
        ({"name": "ok", "description": None}, "description", "string_type"),
        ({"name": "nul\x00byte"}, "name", "value_error"),
        ({"name": "lone \ud800 surrogate"}, "name", "string_unicode"),
        (["name", "x"], "body", "model_type"),
        ("just a string", "body", "model_type"),
    ],
)
def test_create_rejects_invalid_bodies_with_422(
    api: Api, body: Any, field: str, error_type: str
) -> None:
    response = api.request("POST", "/items", body)

    assert response.status == 422
    error = response.json["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert {"location": "body", "field": field, "type": error_type} in [
        {key: detail[key] for key in ("location", "field", "type")} for detail in error["details"]
    ]
    assert all(detail["message"] for detail in error["details"])
    assert api.rows() == []


@pytest.mark.parametrize(
    ("body", "field", "error_type"),
    [
        ({"name": "x", "description": ""}, "version", "missing"),
        ({"name": "x", "description": "", "version": 0}, "version", "greater_than_equal"),
        ({"name": "x", "description": "", "version": -1}, "version", "greater_than_equal"),
        ({"name": "x", "description": "", "version": 2**31}, "version", "less_than_equal"),
        ({"name": "x", "description": "", "version": "1"}, "version", "int_type"),
        ({"name": "x", "description": "", "version": 1.0}, "version", "int_type"),
        ({"name": "x", "description": "", "version": True}, "version", "int_type"),
        ({"name": "x", "version": 1}, "description", "missing"),
        ({"name": "", "description": "", "version": 1}, "name", "string_too_short"),
        ({"name": "x", "description": "", "version": 1, "id": "y"}, "id", "extra_forbidden"),
    ],
)
def test_update_rejects_invalid_bodies_with_422_and_changes_nothing(
    api: Api, body: dict[str, Any], field: str, error_type: str
) -> None:
    created = api.create("untouched", "as created")

    response = api.request("PUT", item_path(created["id"]), body)

    assert response.status == 422
    assert response.error_code == "VALIDATION_ERROR"
    assert (field, error_type) in [
        (d["field"], d["type"]) for d in response.json["error"]["details"]
    ]
    assert api.request("GET", item_path(created["id"])).json == created


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "", "2.5"])
def test_list_rejects_a_limit_outside_1_to_100_with_422(api: Api, limit: str) -> None:
    response = api.request("GET", "/items", query={"limit": limit})

    assert response.status == 422
    [detail] = response.json["error"]["details"]
    assert (detail["location"], detail["field"]) == ("query", "limit")


@pytest.mark.parametrize("limit", ["1", "100"])
def test_list_accepts_the_limits_1_and_100(api: Api, limit: str) -> None:
    api.create("one")
    api.create("two")

    response = api.request("GET", "/items", query={"limit": limit})

    assert response.status == 200
    assert len(response.json["items"]) == min(int(limit), 2)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not-a-cursor",
        "A" * 31,
        "A" * 33,
        "A" * 31 + "=",
        "A" * 30 + "!!",
        # Well-formed, but a timestamp far past year 9999:
        base64.urlsafe_b64encode((2**62).to_bytes(8, "big") + bytes(16)).decode(),
    ],
)
def test_list_rejects_a_malformed_cursor_with_400(api: Api, cursor: str) -> None:
    response = api.request("GET", "/items", query={"cursor": cursor})

    assert response.status == 400
    assert response.error_code == "INVALID_CURSOR"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("item_id", ["not-a-uuid", "123", "' OR '1'='1"])
def test_a_non_uuid_id_is_422(api: Api, method: str, item_id: str) -> None:
    created = api.create("bystander")
    body = {"name": "x", "description": "", "version": 1} if method == "PUT" else None

    response = api.request(method, item_path(item_id), body)

    assert response.status == 422
    [detail] = response.json["error"]["details"]
    assert (detail["location"], detail["field"]) == ("path", "id")
    assert api.request("GET", item_path(created["id"])).json == created


@pytest.mark.parametrize(
    "raw_body",
    [
        "{",
        '{"name": "x",}',
        "{'name': 'x'}",
        '{"name": NaN}',
        '{"version": Infinity}',
        "[" * 5000 + "]" * 5000,  # deeper than Python's recursion limit
        '{"name": "x"} trailing',
        "1" * 5000,  # more digits than Python parses into an int
        "",
        "   ",
    ],
)
def test_malformed_json_is_400(api: Api, raw_body: str) -> None:
    response = api.request("POST", "/items", raw_body=raw_body)

    assert response.status == 400
    assert response.error_code == "MALFORMED_JSON"
    assert api.rows() == []


def test_a_missing_body_is_400(api: Api) -> None:
    response = api.request("POST", "/items")

    assert response.status == 400
    assert response.error_code == "MALFORMED_JSON"


@pytest.mark.parametrize(
    "raw_body", ["!!not base64!!", base64.b64encode(b'{"name": "\xff\xfe"}').decode()]
)
def test_a_bad_base64_body_is_400(api: Api, raw_body: str) -> None:
    response = api.request("POST", "/items", raw_body=raw_body, is_base64=True)

    assert response.status == 400
    assert api.rows() == []


def padded_body(size: int, **fields: Any) -> str:
    """A valid JSON object of exactly `size` bytes (UTF-8), padded with whitespace."""
    compact = json.dumps(fields, ensure_ascii=False)
    padding = size - len(compact.encode())
    assert padding >= 0
    return compact[:-1] + " " * padding + "}"


def test_a_body_of_exactly_16_kib_is_accepted(api: Api) -> None:
    body = padded_body(MAX_BODY, name="at the limit")
    assert len(body.encode()) == MAX_BODY

    assert api.request("POST", "/items", raw_body=body).status == 201


@pytest.mark.parametrize(
    "body",
    [
        padded_body(MAX_BODY + 1, name="one byte over"),
        # Fewer characters than the limit, more bytes: the limit is in bytes.
        json.dumps({"name": "x", "description": "€" * 6000}, ensure_ascii=False),
        '{"name": "' + "x" * 1_000_000 + '"}',
    ],
    ids=["one-byte-over", "multibyte", "one-megabyte"],
)
def test_a_body_over_16_kib_is_413_and_nothing_is_stored(api: Api, body: str) -> None:
    assert len(body.encode()) > MAX_BODY

    response = api.request("POST", "/items", raw_body=body)

    assert response.status == 413
    assert response.error_code == "PAYLOAD_TOO_LARGE"
    encoded = base64.b64encode(body.encode()).decode()
    assert api.request("POST", "/items", raw_body=encoded, is_base64=True).status == 413
    assert api.rows() == []


def test_an_oversized_update_is_413_and_changes_nothing(api: Api) -> None:
    created = api.create("small")

    body = padded_body(MAX_BODY + 1, name="big", description="", version=1)
    response = api.request("PUT", item_path(created["id"]), raw_body=body)

    assert response.status == 413
    assert api.request("GET", item_path(created["id"])).json == created


# --- hostile input -------------------------------------------------------------------------


INJECTIONS = [
    "'); DROP TABLE items; --",
    "Robert'); DELETE FROM items WHERE ('1'='1",
    "x' OR '1'='1",
    '"; SELECT pg_sleep(10); --',
    "%s %(name)s {0} $1 \\x00 \\'",
    "$$; DROP TABLE items; $$",
    "E'\\\\'; TRUNCATE items; --",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_sql_injection_strings_are_stored_and_returned_literally(api: Api, text: str) -> None:
    bystander = api.create("bystander")

    created = api.create(name=text, description=text)
    updated = api.request(
        "PUT", item_path(created["id"]), {"name": text + "!", "description": text, "version": 1}
    )

    assert (created["name"], created["description"]) == (text, text)
    assert updated.status == 200
    assert api.request("GET", item_path(created["id"])).json["name"] == text + "!"
    assert api.request("GET", item_path(bystander["id"])).json == bystander
    rows = api.rows()  # the table is still there, with both rows
    assert sorted((row[1], row[2]) for row in rows) == sorted(
        [("bystander", ""), (text + "!", text)]
    )


# --- routing -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/nope", "/items/x/y", "/health/x", "/itemsx"])
def test_an_unknown_route_is_404_json(api: Api, path: str) -> None:
    response = api.request("GET", path)

    assert response.status == 404
    assert response.error_code == "ROUTE_NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/items", "GET, POST"),
        ("DELETE", "/items", "GET, POST"),
        ("POST", f"/items/{uuid.UUID(int=1)}", "DELETE, GET, PUT"),
        ("PATCH", f"/items/{uuid.UUID(int=1)}", "DELETE, GET, PUT"),
        ("POST", "/health", "GET"),
    ],
)
def test_a_wrong_method_is_405_with_allow(api: Api, method: str, path: str, allow: str) -> None:
    response = api.request(method, path, {"name": "x"})

    assert response.status == 405
    assert response.error_code == "METHOD_NOT_ALLOWED"
    assert response.headers["Allow"] == allow
    assert api.rows() == []


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
    with api.database.connect() as conn:
        conn.execute("ALTER ROLE app_api NOLOGIN")  # as IAM refusing the token would
        try:
            refused = api.request("GET", "/items")
        finally:
            conn.execute("ALTER ROLE app_api LOGIN")

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
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "200")
    db.reset()
    created = api.create("locked")
    [backend] = api.api_backends()
    body = {"name": "waited", "description": "", "version": 1}

    with psycopg.connect(api.database.conninfo) as holder:  # one open transaction
        holder.execute("SELECT 1 FROM items WHERE id = %s FOR UPDATE", (created["id"],))
        # Should the timeout not apply, release the lock later rather than hang the test.
        release = threading.Timer(5, holder.rollback)
        release.start()
        started = time.monotonic()
        try:
            response = api.request("PUT", item_path(created["id"]), body)
        finally:
            release.cancel()
        elapsed = time.monotonic() - started
        holder.rollback()

    assert response.status == 503
    assert response.error_code == "DATABASE_TIMEOUT"
    assert elapsed < 3
    assert api.request("GET", item_path(created["id"])).json == created
    assert api.request("PUT", item_path(created["id"]), body).status == 200
    assert api.api_backends() == [backend]  # a timeout is not a lost connection
    with api.database.connect("app_api") as conn:  # and the session default is untouched
        assert conn.execute("SHOW statement_timeout").fetchone() == ("0",)


# --- failures ------------------------------------------------------------------------------


def test_an_unexpected_error_is_a_500_json_without_internals(api: Api) -> None:
    created = api.create("exists")
    with api.database.connect() as conn:  # a broken grant: the handler's SQL now fails
        conn.execute("REVOKE SELECT ON items FROM app_api")

    response = api.request("GET", item_path(created["id"]))

    assert response.status == 500
    assert response.json == INTERNAL_ERROR
    [entry] = [entry for entry in api.logs() if entry["message"] == "unhandled error"]
    assert entry["level"] == "ERROR"
    assert entry["exception_name"] == "InsufficientPrivilege"
    assert "permission denied" in entry["exception"]


def test_a_check_constraint_the_models_do_not_know_is_a_422(api: Api) -> None:
    with api.database.connect() as conn:
        conn.execute("ALTER TABLE items ADD CONSTRAINT items_name_test CHECK (name <> 'taboo')")

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
