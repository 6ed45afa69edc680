"""The items API handler wired to a real database of each engine family, for the API's
behaviour tests: a local PostgreSQL, and a local MariaDB (or MySQL 8) for MySQL.

API Gateway REST proxy events go in as the Cognito-authorized stage sends them; each test gets a
fresh database migrated with the engine's migrations, and the handler signs in as the
least-privilege `app_api` user. Only the IAM token signer is faked (a token needs a real
hostname): the local PostgreSQL trusts its socket, and MariaDB is told each new token as
app_api's password, the local stand-in for IAM at the token boundary. Test modules take the
`api` fixture from here; it runs each test once per family.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, cast

import certifi
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from psycopg import sql
from pymysql.constants import SERVER_STATUS

from devkit.migrations import migrate
from devkit.mysql import MyDatabase, grant_local_login
from devkit.postgres import PgDatabase

# Read when the handler module is imported: no X-Ray daemon here, and metrics need a namespace.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "test")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "items-api")

# After the Powertools variables above; test modules import these from here, not from `api`.
from api import db as db
from api import handler as handler
from api import items as items

FAMILIES = ("postgresql", "mysql")
"""DB_ENGINE_FAMILY's values: each behaviour test runs on both."""
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
    """Stands in for the IAM token signer: records each token request, returns a fresh token
    (which `accept` makes the server take, where it checks passwords)."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    accept: Callable[[str], None] = lambda _token: None

    def generate_db_auth_token(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        token = f"FAKE-IAM-TOKEN-{len(self.calls)}-{uuid.uuid4().hex}"
        self.accept(token)
        return token

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


class Backend:
    """The test's database as an administrator sees it, what both engines share. Each engine's
    subclass (`PgBackend`, `MyBackend`) adds the same questions answered its own way (the
    function's `environment`, `nowhere`, `accept_token`, `lock_waits_limited`,
    `backslashes_flipped`, `session_reads_backslashes_flipped`, `nothing_pinned`), so one test
    body serves both."""

    family: ClassVar[str]
    database: PgDatabase | MyDatabase
    API_SESSIONS: ClassVar[str]
    """The server sessions of app_api in one database (%s: its name)."""
    KILL: ClassVar[str]
    """Ends one of them (%s) from the server side, as a failover or RDS Proxy would."""
    REFUSE_LOGIN: ClassVar[tuple[str, str]]
    """Refuses app_api's sign-in, as IAM refusing the token would; then lets it in again."""
    REVOKE_SELECT: ClassVar[str]
    """A broken grant: app_api may no longer read items."""

    @property
    def host(self) -> str:
        return self.database.host

    @property
    def port(self) -> int:
        return self.database.port

    @property
    def dbname(self) -> str:
        return self.database.dbname

    def connect(self) -> Any:
        """A new autocommit DB-API connection as the administrator."""
        return self.database.connect()

    def execute(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """`query` as the administrator, autocommitted; its rows, if any (``%s`` parameters;
        without any, a ``%`` is just a ``%``)."""
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute(query, tuple(params) or None)
            return list(cursor.fetchall()) if cursor.description else []

    @contextlib.contextmanager
    def meanwhile(self, change: str, restore: str, params: Sequence[object] = ()) -> Iterator[None]:
        """`change` now, `restore` (with `params`) afterwards."""
        self.execute(change)
        try:
            yield
        finally:
            self.execute(restore, params)

    def api_backends(self) -> list[int]:
        """The server sessions the handler is connected with, as app_api."""
        return [int(row[0]) for row in self.execute(self.API_SESSIONS, (self.dbname,))]

    def kill(self, backend: int) -> None:
        self.execute(self.KILL, (backend,))

    def login_refused(self) -> contextlib.AbstractContextManager[None]:
        return self.meanwhile(*self.REFUSE_LOGIN)

    def revoke_select(self) -> None:
        self.execute(self.REVOKE_SELECT)

    @contextlib.contextmanager
    def row_locked(self, item_id: str) -> Iterator[None]:
        """Another transaction holds the row's lock meanwhile (released after 5 s at most:
        should a time limit not apply, the test fails rather than hangs)."""
        with self.connect() as holder:
            with holder.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT 1 FROM items WHERE id = %s FOR UPDATE", (item_id,))
            timer = threading.Timer(5, holder.rollback)
            timer.start()
            try:
                yield
            finally:
                timer.cancel()
                holder.rollback()

    def rows(self) -> list[tuple[Any, ...]]:
        """Every row, read as the administrator, as Python values (a UUID, aware UTC
        datetimes): (id, name, description, version, created_at, updated_at)."""
        return [
            (_uuid(row[0]), row[1], row[2], row[3], _utc(row[4]), _utc(row[5]))
            for row in self.execute(
                "SELECT id, name, description, version, created_at, updated_at FROM items"
                " ORDER BY created_at, id"
            )
        ]

    def timestamp(self, moment: datetime) -> datetime:
        """A moment as the engine's timestamp column takes it."""
        return moment

    def insert(self, names: Sequence[str], created_at: datetime) -> None:
        """Rows inserted directly, each named and created at `created_at`."""
        moment = self.timestamp(created_at)
        for name in names:
            self.execute(
                "INSERT INTO items (id, name, created_at, updated_at) VALUES (%s, %s, %s, %s)",
                (str(uuid.uuid4()), name, moment, moment),
            )

    def add_check(self, constraint: str, check: str) -> None:
        self.execute(f"ALTER TABLE items ADD CONSTRAINT {constraint} CHECK ({check})")


def _uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _utc(value: datetime) -> datetime:
    """A timestamp as an aware UTC datetime (MySQL's DATETIME columns hold naive UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class PgBackend(Backend):
    """A database of the local PostgreSQL, on its Unix socket (trusted: no TLS, no password)."""

    family: ClassVar[str] = "postgresql"
    database: PgDatabase
    API_SESSIONS = "SELECT pid FROM pg_stat_activity WHERE usename = 'app_api' AND datname = %s"
    KILL = "SELECT pg_terminate_backend(%s)"
    REFUSE_LOGIN = ("ALTER ROLE app_api NOLOGIN", "ALTER ROLE app_api LOGIN")
    REVOKE_SELECT = "REVOKE SELECT ON items FROM app_api"

    def __post_init__(self) -> None:
        migrate(self.database.conninfo)

    def environment(self) -> dict[str, str]:
        return {
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_NAME": self.dbname,
            "DB_USER": "app_api",
            "DB_SSLMODE": "require",  # libpq ignores it on the Unix socket the test server uses
        }

    def nowhere(self, directory: Path) -> dict[str, str]:
        return {"DB_HOST": str(directory)}  # a socket directory with no server in it

    def accept_token(self, token: str) -> None:
        """The local server trusts its socket: any token signs in."""

    @contextlib.contextmanager
    def lock_waits_limited(self) -> Iterator[None]:
        yield  # the statement timeout bounds every statement, lock waits included

    @contextlib.contextmanager
    def backslashes_flipped(self) -> Iterator[None]:
        """standard_conforming_strings off: a backslash in a plain '' string escapes."""
        self.execute(
            sql.SQL("ALTER ROLE app_api IN DATABASE {} SET standard_conforming_strings = off")
            .format(sql.Identifier(self.dbname))
            .as_string()
        )
        yield  # the database, and the setting with it, is dropped after the test

    def session_reads_backslashes_flipped(self, connection: Any) -> bool:
        return bool(connection.parameter_statuses["standard_conforming_strings"] == "off")

    def nothing_pinned(self, connection: Any) -> bool:
        """The statement timeout is set per statement only, nothing is prepared."""
        with self.database.connect("app_api") as conn:  # the session default is untouched
            default = conn.execute("SHOW statement_timeout").fetchone()
        return (
            default == ("0",)
            and connection.run("SHOW statement_timeout") == [["0"]]
            and connection.run("SELECT count(*) FROM pg_prepared_statements") == [[0]]
        )


@dataclass
class MyBackend(Backend):
    """A database of the local MariaDB (or MySQL 8), over TLS verified against its test CA."""

    family: ClassVar[str] = "mysql"
    database: MyDatabase
    API_SESSIONS = (
        "SELECT id FROM information_schema.processlist WHERE user = 'app_api' AND db = %s"
    )
    KILL = "KILL %s"
    REFUSE_LOGIN = (
        "ALTER USER 'app_api'@'%' ACCOUNT LOCK",
        "ALTER USER 'app_api'@'%' ACCOUNT UNLOCK",
    )
    REVOKE_SELECT = "REVOKE SELECT ON items FROM 'app_api'@'%'"

    def __post_init__(self) -> None:
        migrate(self.database)
        grant_local_login(self.database, password=f"unused-{uuid.uuid4().hex}")  # unlocked

    def environment(self) -> dict[str, str]:
        return {
            "DB_ENGINE_FAMILY": "mysql",
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_NAME": self.dbname,
            "DB_USER": "app_api",
            "DB_SSLMODE": "verify-full",  # the test CA stands for certifi's (see `api`)
        }

    def nowhere(self, directory: Path) -> dict[str, str]:
        with socket.socket() as probe:  # a port no one listens on once the probe is closed
            probe.bind((self.host, 0))
            return {"DB_PORT": str(probe.getsockname()[1])}

    def timestamp(self, moment: datetime) -> datetime:
        """DATETIME(6) holds UTC, without a zone."""
        return moment.astimezone(UTC).replace(tzinfo=None)

    def accept_token(self, token: str) -> None:
        """The local stand-in for IAM: app_api's password becomes the token (the account's
        lock, if any, is left as it is)."""
        self.execute("ALTER USER 'app_api'@'%%' IDENTIFIED BY %s", (token,))

    def lock_waits_limited(self) -> contextlib.AbstractContextManager[None]:
        """innodb_lock_wait_timeout, which a parameter group sets on RDS (MySQL's statement
        hint bounds SELECTs only); new sessions take the global value."""
        [(seconds,)] = self.execute("SELECT @@GLOBAL.innodb_lock_wait_timeout")
        return self.meanwhile(
            "SET GLOBAL innodb_lock_wait_timeout = 1",
            "SET GLOBAL innodb_lock_wait_timeout = %s",
            (int(seconds),),
        )

    def backslashes_flipped(self) -> contextlib.AbstractContextManager[None]:
        """NO_BACKSLASH_ESCAPES: a backslash in a string is just a backslash (server-wide here:
        MySQL has no per-user setting)."""
        [(mode,)] = self.execute("SELECT @@GLOBAL.sql_mode")
        flipped = f"SET GLOBAL sql_mode = '{mode},NO_BACKSLASH_ESCAPES'"  # names: no quotes
        return self.meanwhile(flipped, "SET GLOBAL sql_mode = %s", (mode,))

    def session_reads_backslashes_flipped(self, connection: Any) -> bool:
        return bool(connection.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES)

    def nothing_pinned(self, connection: Any) -> bool:
        """Nothing prepared, and no SET but PyMySQL's one ``SET NAMES`` at sign-in (a variable
        RDS Proxy tracks: no pinning)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SHOW SESSION STATUS WHERE variable_name IN ('Com_stmt_prepare', 'Com_set_option')"
            )
            status = {name.lower(): int(value) for name, value in cursor.fetchall()}
        return status == {"com_stmt_prepare": 0, "com_set_option": 1}


@dataclass
class Api:
    """The handler wired to one test database."""

    database: PgBackend | MyBackend
    rds: FakeRds
    log: io.StringIO

    @property
    def family(self) -> str:
        return self.database.family

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
        """Every row, read as the administrator: what the API really stored."""
        return self.database.rows()

    def api_backends(self) -> list[int]:
        return self.database.api_backends()

    def kill_api_connections(self) -> None:
        """Ends the handler's session from the server side, as a failover or RDS Proxy would."""
        backends = self.api_backends()
        assert backends, "the handler has no open connection to kill"
        for backend in backends:
            self.database.kill(backend)
        deadline = time.monotonic() + 5
        while self.api_backends():
            assert time.monotonic() < deadline, "the session did not end"
            time.sleep(0.01)

    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.getvalue().splitlines() if line]


def _backend(request: pytest.FixtureRequest) -> PgBackend | MyBackend:
    """The family's test database, migrated; its server starts with the first test that asks."""
    if request.param == PgBackend.family:
        return PgBackend(request.getfixturevalue("pg_database"))
    return MyBackend(request.getfixturevalue("mysql_database"))


@pytest.fixture(params=FAMILIES)
def api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The handler on a fresh database of each engine family in turn (the test's id says
    which); ``@pytest.mark.parametrize("api", [...], indirect=True)`` picks families."""
    backend = _backend(request)
    monkeypatch.delenv("DB_ENGINE_FAMILY", raising=False)  # PostgreSQL: unset, as deployed
    for name, value in (backend.environment() | {"AWS_REGION": REGION}).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    if isinstance(backend, MyBackend):  # verify-full against the test server's own CA
        monkeypatch.setattr(certifi, "where", lambda: backend.database.ca_file)

    rds = FakeRds(accept=backend.accept_token)

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
        yield Api(database=backend, rds=rds, log=log)
    finally:
        db.reset()  # closes the connection before the database is dropped
        if previous is not None:
            stream_handler.setStream(previous)


def item_path(item_id: object) -> str:
    return f"/items/{item_id}"
