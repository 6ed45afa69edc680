"""The database connection of one execution environment, whatever the engine.

One connection is opened lazily, kept across invocations and reopened (with the request's SQL
run again, once) when it turns out to be dropped: RDS Proxy closes idle clients, a frozen
environment can outlive its TCP session, a database failover ends every session.

Sign-in uses an IAM auth token as the password. A token is only checked when a connection is
opened (an open connection outlives it) and is valid for 15 minutes, so one is fetched only when
a connection is opened and the cached one is older than TOKEN_MAX_AGE_SECONDS. It is signed by
`iam_token` with the standard library: boto3 and an RDS client would add their imports and
service model to the first request for one local signature. Nothing connects or signs at
import, so a snapshot of an initialized environment (SnapStart) would hold neither.

The engine family (DB_ENGINE_FAMILY: postgresql, the default, or mysql) picks the dialect
(`api.dialects`): the driver, imported on first use, and the SQL that differs. The token cache,
the reconnect and its logging are this module's and the TLS settings `dialects.tls_context`'s,
the same for every engine.
Nothing sends a session-level SET or a server-side prepared statement (RDS Proxy pins the
client to one database connection for those); each statement carries its own time limit where
the engine has one (what each engine gets: the dialects' docstrings), and a read on the socket
waits at most the statement timeout plus the connect timeout on every engine.

Environment: DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_SSLMODE (verify-full or require),
AWS_REGION; optional DB_ENGINE_FAMILY, DB_STATEMENT_TIMEOUT_MS (default 5000) and
DB_CONNECT_TIMEOUT_SECONDS (default 5).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

from . import dialects
from .dialects import tls_context as tls_context  # re-exported: one TLS for every engine
from .iam_token import IamTokenSigner as IamTokenSigner  # the one seam tests replace
from .sql import ConnectionLostError
from .sql import Session as Session  # re-exported: items and the handler take it from here

SSL_MODES = ("verify-full", "require")
TOKEN_MAX_AGE_SECONDS = 600.0
"""IAM tokens last 15 minutes; a new one is fetched 5 minutes before that."""
DEFAULT_STATEMENT_TIMEOUT_MS = 5000
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5

logger = Logger(child=True)
T = TypeVar("T")
Connection = Any
"""The driver's connection (untyped): pg8000's or PyMySQL's."""


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
    engine_family: str = dialects.FAMILIES[0]

    @property
    def read_timeout_seconds(self) -> float:
        """How long a read on the connection may wait: long enough for a statement that runs
        into the statement timeout, short enough that a dead peer is not awaited until the
        function times out (a read timeout is a lost connection: reconnect once)."""
        return self.statement_timeout_ms / 1000 + self.connect_timeout_seconds

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
            engine_family=dialects.checked_family(
                environ.get("DB_ENGINE_FAMILY") or dialects.FAMILIES[0]
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


class Database:
    """The connection, opened on first use and replaced once per request if it dropped."""

    def __init__(self, settings: DatabaseSettings, tokens: AuthTokenCache) -> None:
        self.settings = settings
        self.dialect = dialects.load(settings.engine_family)
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
                return work(self.dialect.session(conn, self.settings.statement_timeout_ms))
            except ConnectionLostError as exc:
                self._discard()
                if attempt == 2:
                    raise DatabaseUnavailableError("the database connection dropped twice") from exc
                cause = type(exc.__cause__ or exc).__name__
                logger.warning("database connection lost, reconnecting", error=cause)
        raise AssertionError("unreachable: the second attempt returns or raises")

    def close(self) -> None:
        self._discard()

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> Connection:
        s = self.settings
        token = self._tokens.get()
        started = time.perf_counter()
        try:
            conn = self.dialect.connect(s, token)
        except Exception as exc:  # driver, ssl or socket: no database, whichever it was
            self._tokens.invalidate()
            # Servers do not echo passwords; scrub anyway, and do not chain the original.
            error = f"{type(exc).__name__}: {exc}".replace(token, "***")
            logger.error("could not connect to the database", error=error)
            raise DatabaseUnavailableError(
                f"could not connect to {s.user}@{s.host}:{s.port}/{s.dbname}"
            ) from None
        logger.info(
            "database connection opened",
            engine=s.engine_family,
            target=f"{s.user}@{s.host}:{s.port}/{s.dbname}",
            sslmode=s.sslmode,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return conn

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self.dialect.close(conn)


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
