"""The PostgreSQL connection of one execution environment.

One connection is opened lazily, kept across invocations and reopened (with the request's SQL
run again, once) when it turns out to be dropped: RDS Proxy closes idle clients, a frozen
environment can outlive its TCP session, a database failover ends every session.

Sign-in uses an IAM auth token as the password. A token is only checked when a connection is
opened (an open connection outlives it) and is valid for 15 minutes, so one is fetched only when
a connection is opened and the cached one is older than TOKEN_MAX_AGE_SECONDS. It is signed by
`iam_token` with the standard library: boto3 and an RDS client would add their imports and
service model to the first request for one local signature. Nothing connects or signs at
import, so a snapshot of an initialized environment (SnapStart) would hold neither.

Nothing here sends libpq startup options or session-level SET: RDS Proxy refuses the former
("RDS Proxy currently doesn't support command-line options") and pins the client to one database
connection for the latter. The statement timeout is therefore set per statement, transaction
locally, in the same round trip (see `Session`).

Environment: DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_SSLMODE (verify-full or require),
AWS_REGION; optional DB_STATEMENT_TIMEOUT_MS (default 5000) and DB_CONNECT_TIMEOUT_SECONDS
(default 5).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString, TypeVar

import certifi
import psycopg
from aws_lambda_powertools import Logger
from psycopg import ClientCursor
from psycopg.rows import TupleRow

from .iam_token import IamTokenSigner as IamTokenSigner  # the one seam tests replace

SSL_MODES = ("verify-full", "require")
TOKEN_MAX_AGE_SECONDS = 600.0
"""IAM tokens last 15 minutes; a new one is fetched 5 minutes before that."""
DEFAULT_STATEMENT_TIMEOUT_MS = 5000
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5
APPLICATION_NAME = "items-api"

logger = Logger(child=True)
T = TypeVar("T")
Connection = psycopg.Connection[TupleRow]


class DatabaseUnavailableError(Exception):
    """The database could not be reached, or the connection dropped again on the retry."""


@dataclass(frozen=True)
class DatabaseSettings:
    host: str
    port: int
    dbname: str
    user: str
    sslmode: str
    region: str
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    connect_timeout_seconds: int = DEFAULT_CONNECT_TIMEOUT_SECONDS

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> DatabaseSettings:
        sslmode = environ["DB_SSLMODE"]
        if sslmode not in SSL_MODES:
            raise ValueError(f"DB_SSLMODE must be one of {SSL_MODES}, not {sslmode!r}")
        settings = cls(
            host=environ["DB_HOST"],
            port=int(environ["DB_PORT"]),
            dbname=environ["DB_NAME"],
            user=environ["DB_USER"],
            sslmode=sslmode,
            region=environ["AWS_REGION"],
            statement_timeout_ms=int(
                environ.get("DB_STATEMENT_TIMEOUT_MS", DEFAULT_STATEMENT_TIMEOUT_MS)
            ),
            connect_timeout_seconds=int(
                environ.get("DB_CONNECT_TIMEOUT_SECONDS", DEFAULT_CONNECT_TIMEOUT_SECONDS)
            ),
        )
        if settings.statement_timeout_ms < 1 or settings.connect_timeout_seconds < 1:
            raise ValueError("DB_STATEMENT_TIMEOUT_MS and DB_CONNECT_TIMEOUT_SECONDS must be >= 1")
        return settings


def rds_token_source(settings: DatabaseSettings) -> Callable[[], str]:
    """Signs an IAM auth token locally (no network call); the signer is made on first use."""
    signer: IamTokenSigner | None = None

    def fetch() -> str:
        nonlocal signer
        if signer is None:
            signer = IamTokenSigner(region_name=settings.region)
        return signer.generate_db_auth_token(
            DBHostname=settings.host,
            Port=settings.port,
            DBUsername=settings.user,
            Region=settings.region,
        )

    return fetch


class AuthTokenCache:
    """The last token and when it was fetched; `clock` is wall time, as the token's expiry is."""

    def __init__(
        self,
        fetch: Callable[[], str],
        *,
        clock: Callable[[], float] = time.time,
        max_age_seconds: float = TOKEN_MAX_AGE_SECONDS,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._max_age = max_age_seconds
        self._token: str | None = None
        self._fetched_at = 0.0

    def get(self) -> str:
        now = self._clock()
        if self._token is None or now - self._fetched_at >= self._max_age:
            self._token = self._fetch()
            self._fetched_at = now
            logger.debug("fetched a new IAM auth token")  # never the token itself
        return self._token

    def invalidate(self) -> None:
        """After a failed sign-in: the next connection attempt fetches a fresh token."""
        self._token = None


_TIMEOUT_PREFIX: LiteralString = "SELECT set_config('statement_timeout', %s, true); "


class Session:
    """One request's SQL on the shared connection.

    Each statement travels in one simple-protocol message behind a transaction-local
    statement_timeout: both run in one implicit transaction, in one round trip, with no session
    state left behind and no named prepared statements (RDS Proxy pins sessions for either).
    That needs psycopg's client-side binding (`ClientCursor`): parameters are still passed
    separately and quoted by psycopg, never formatted into the SQL by this code.
    """

    def __init__(self, conn: Connection, statement_timeout_ms: int) -> None:
        self._conn = conn
        self._timeout = str(statement_timeout_ms)

    def fetch_one(self, query: LiteralString, params: Sequence[Any] = ()) -> TupleRow | None:
        with ClientCursor(self._conn) as cursor:
            return self._execute(cursor, query, params).fetchone()

    def fetch_all(self, query: LiteralString, params: Sequence[Any] = ()) -> list[TupleRow]:
        with ClientCursor(self._conn) as cursor:
            return self._execute(cursor, query, params).fetchall()

    def _execute(
        self, cursor: ClientCursor[TupleRow], query: LiteralString, params: Sequence[Any]
    ) -> ClientCursor[TupleRow]:
        """Runs `query` (one statement) and moves `cursor` on to its result."""
        cursor.execute(_TIMEOUT_PREFIX + query, (self._timeout, *params))
        cursor.nextset()
        return cursor


def _is_lost(conn: Connection, exc: Exception) -> bool:
    """A statement error (a timeout, a constraint) leaves the connection usable; this does not."""
    return isinstance(exc, psycopg.InterfaceError) or conn.closed or conn.broken


class Database:
    """The connection, opened on first use and replaced once per request if it dropped."""

    def __init__(self, settings: DatabaseSettings, tokens: AuthTokenCache) -> None:
        self.settings = settings
        self._tokens = tokens
        self._conn: Connection | None = None

    @classmethod
    def from_environment(cls, *, clock: Callable[[], float] = time.time) -> Database:
        settings = DatabaseSettings.from_environment()
        return cls(settings, AuthTokenCache(rds_token_source(settings), clock=clock))

    @property
    def connection(self) -> Connection | None:
        """The open connection, if any (for tests and the benchmark)."""
        return self._conn

    def run(self, work: Callable[[Session], T]) -> T:
        """`work` on the connection; if the connection turns out to be dropped, `work` runs
        once more on a new one. `work` must be safe to repeat: the first try may have committed
        before the connection dropped."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                return work(Session(conn, self.settings.statement_timeout_ms))
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if not _is_lost(conn, exc):
                    raise
                self._discard()
                if attempt == 2:
                    raise DatabaseUnavailableError("the database connection dropped twice") from exc
                logger.warning("database connection lost, reconnecting", error=type(exc).__name__)
        raise AssertionError("unreachable: the second attempt returns or raises")

    def close(self) -> None:
        self._discard()

    def _connection(self) -> Connection:
        if self._conn is not None and not (self._conn.closed or self._conn.broken):
            return self._conn
        self._discard()
        self._conn = self._open()
        return self._conn

    def _open(self) -> Connection:
        s = self.settings
        params: dict[str, Any] = {
            "host": s.host,
            "port": s.port,
            "dbname": s.dbname,
            "user": s.user,
            "sslmode": s.sslmode,
            "connect_timeout": s.connect_timeout_seconds,
            "application_name": APPLICATION_NAME,
        }
        if s.sslmode == "verify-full":
            params["sslrootcert"] = certifi.where()
        token = self._tokens.get()
        started = time.perf_counter()
        try:
            conn = psycopg.connect(**params, password=token, autocommit=True)
        except psycopg.OperationalError as exc:
            self._tokens.invalidate()
            # libpq does not echo passwords; scrub anyway, and do not chain the original.
            error = str(exc).replace(token, "***")
            logger.error("could not connect to the database", error=error)
            raise DatabaseUnavailableError(
                f"could not connect to {s.user}@{s.host}:{s.port}/{s.dbname}"
            ) from None
        logger.info(
            "database connection opened",
            target=f"{s.user}@{s.host}:{s.port}/{s.dbname}",
            sslmode=s.sslmode,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return conn

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


_database: Database | None = None


def database() -> Database:
    """The execution environment's Database, built from the environment on first use."""
    global _database
    if _database is None:
        _database = Database.from_environment()
    return _database


def reset(replacement: Database | None = None) -> None:
    """Closes the current Database and installs `replacement` (tests and the benchmark)."""
    global _database
    if _database is not None:
        _database.close()
    _database = replacement
