"""The items API handler wired to a real PostgreSQL, for the API's behaviour tests.

API Gateway REST proxy events go in as the Cognito-authorized stage sends them; each test gets a
fresh database migrated by the real runner, and the handler signs in as the least-privilege
`app_api` role. Only the IAM token signer is faked (a token needs a real hostname; the test
server trusts any password anyway). Test modules take the `api` fixture from here.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from devkit.migrations import migrate
from devkit.postgres import PgDatabase

# Read when the handler module is imported: no X-Ray daemon here, and metrics need a namespace.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "test")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "items-api")

# After the Powertools variables above; test modules import these from here, not from `api`.
from api import db as db
from api import handler as handler
from api import items as items

REGION = "eu-west-1"
STAGE = "v1"
MAX_BODY = 16 * 1024
INTERNAL_ERROR = {"error": {"code": "INTERNAL_ERROR", "message": "internal error"}}
WRONG_METHODS = [
    ("PATCH", "/items"),
    ("DELETE", "/items"),
    ("POST", f"/items/{uuid.UUID(int=1)}"),
    ("PATCH", f"/items/{uuid.UUID(int=1)}"),
    ("POST", "/health"),
]
"""(method, path) pairs with no route: a known path, another method."""


# --- fakes and helpers ---------------------------------------------------------------------


@dataclass
class FakeRds:
    """Stands in for the IAM token signer: records each token request, returns a fresh token."""

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
    migrate(pg_database.conninfo)
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

    def fake_signer(**kwargs: Any) -> FakeRds:
        """Stands for `db.IamTokenSigner`, made once per connection's region."""
        assert kwargs == {"region_name": REGION}
        return rds

    monkeypatch.setattr(db, "IamTokenSigner", fake_signer)

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
