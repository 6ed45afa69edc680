"""PostgreSQL (Aurora PostgreSQL, RDS for PostgreSQL) through pg8000.

pg8000 is pure Python (psycopg with its binary wheel was 14.3 MB, against a 15 MB package
target). Its startup message holds user, database and application_name only, never `options`,
which RDS Proxy refuses ("RDS Proxy currently doesn't support command-line options"). It answers
the server's cleartext password request (RDS's, for the IAM token) and SCRAM alike, and fails
when the server refuses TLS: there is no plaintext fallback.

Each statement travels as one simple-protocol Query message behind a transaction-local
statement_timeout: both run in one implicit transaction, in one round trip, leaving no session
state and no prepared statement behind. pg8000 uses the simple protocol for `run(sql)` without
parameters, so the parameters are quoted here, client side, by pg8000's `literal` (as psycopg's
ClientCursor did before). Writes return their row with RETURNING; a create that finds its id
taken (ON CONFLICT DO NOTHING) reads the row that is there.

A DB_HOST starting with "/" is a Unix socket directory, as for libpq (the local PostgreSQL of
the tests and `make local`): no TLS there, as with libpq.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, LiteralString

import pg8000.native  # type: ignore[import-untyped]  # ships no type information

from .. import sql
from ..sql import SELECT_ITEM, ConnectionLostError, Row
from . import Dialect, tls_context

if TYPE_CHECKING:
    from ..db import DatabaseSettings

APPLICATION_NAME = "items-api"
_LOST_SEVERITIES = ("FATAL", "PANIC")
"""An error of these ends the server's session: the connection is gone with it."""
_LITERAL_TYPES = (type(None), bool, int, str, uuid.UUID, datetime.datetime)
_BY_SQLSTATE: dict[str, type[sql.DatabaseError]] = {
    "23514": sql.CheckViolation,
    "57014": sql.QueryCanceled,  # statement_timeout, or a cancel request
    "42501": sql.InsufficientPrivilege,
}


def _fields(exc: Exception) -> Mapping[str, str]:
    """pg8000's DatabaseError holds the ErrorResponse's fields by their one-letter codes in
    args[0] ("C" the SQLSTATE, "M" the message, "n" the constraint, "V" the severity)."""
    fields: Mapping[str, str] = (
        exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {"M": str(exc)}
    )
    return fields


def server_error(fields: Mapping[str, str]) -> sql.DatabaseError:
    sqlstate = fields.get("C", "")
    return _BY_SQLSTATE.get(sqlstate, sql.DatabaseError)(
        fields.get("M", "database error"),
        code=f"SQLSTATE {sqlstate}",
        constraint_name=fields.get("n"),
    )


def literal(value: object) -> str:
    """`value` as a SQL literal. Text with a backslash becomes an E'' string: pg8000 doubles
    quotes only, which is safe only while standard_conforming_strings is on, and a role or
    database may turn it off; an E'' string reads the same either way. Only the types the API
    binds are accepted (pg8000 would write a float NaN bare, as an identifier)."""
    if not isinstance(value, _LITERAL_TYPES):
        raise TypeError(f"no SQL literal for {type(value).__name__}")
    if isinstance(value, str):
        # The models refuse both first (a 422); never sent as a truncated or failing message.
        if "\x00" in value:
            raise ValueError("PostgreSQL text cannot hold NUL characters")
        value.encode("utf-8")  # UnicodeEncodeError (a ValueError) for a lone surrogate
        if "\\" in value:
            return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    quoted: str = pg8000.native.literal(value)
    return quoted


def bind(query: LiteralString, params: Sequence[object]) -> str:
    return sql.bind(query, params, literal)


class Session(sql.Session):
    """One request's SQL on the shared connection (see the module's docstring)."""

    def __init__(self, conn: Any, statement_timeout_ms: int) -> None:
        super().__init__(conn, statement_timeout_ms)
        self._prefix = bind(
            "SELECT set_config('statement_timeout', %s, true); ", (str(statement_timeout_ms),)
        )

    def fetch_all(self, query: LiteralString, params: Sequence[object] = ()) -> list[Row]:
        """pg8000 returns the rows of every statement of a Query in one list: set_config's one
        row first, then the statement's."""
        try:
            rows = self._conn.run(self._prefix + bind(query, params))
        except pg8000.native.DatabaseError as exc:
            fields = _fields(exc)
            error = server_error(fields)
            if (fields.get("V") or fields.get("S")) in _LOST_SEVERITIES:
                raise ConnectionLostError(str(error)) from error
            raise error from None
        except (pg8000.native.InterfaceError, OSError) as exc:
            # pg8000 reports a closed socket, a read timeout or a broken TLS stream this way.
            raise ConnectionLostError(str(exc)) from exc
        return [tuple(row) for row in (rows or [])[1:]]

    def insert_item(self, item_id: object, name: str, description: str) -> Row | None:
        row = self.fetch_one(
            "INSERT INTO items (id, name, description) VALUES (%s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING"
            " RETURNING id, name, description, created_at, updated_at, version",
            (item_id, name, description),
        )
        return row if row is not None else self.fetch_one(SELECT_ITEM, (item_id,))

    def update_item(
        self, item_id: object, *, name: str, description: str, version: int
    ) -> Row | None:
        return self.fetch_one(
            "UPDATE items SET name = %s, description = %s, version = version + 1,"
            " updated_at = now() WHERE id = %s AND version = %s"
            " RETURNING id, name, description, created_at, updated_at, version",
            (name, description, item_id, version),
        )

    def delete_item(self, item_id: object) -> bool:
        deleted = self.fetch_one("DELETE FROM items WHERE id = %s RETURNING id", (item_id,))
        return deleted is not None


def _endpoint(settings: DatabaseSettings) -> dict[str, Any]:
    """pg8000's arguments for where the server is: TCP with TLS, or a Unix socket directory
    without (as libpq)."""
    if settings.host.startswith("/"):
        socket_file = f"{settings.host.rstrip('/')}/.s.PGSQL.{settings.port}"
        return {"unix_sock": socket_file, "ssl_context": False}
    context = tls_context(settings.sslmode)
    return {"host": settings.host, "port": settings.port, "ssl_context": context}


class PostgreSQL(Dialect):
    family = "postgresql"
    session_class = Session
    driver_error = pg8000.native.Error

    def connect(self, settings: DatabaseSettings, password: str) -> Any:
        conn = pg8000.native.Connection(
            user=settings.user,
            password=password,  # pg8000 answers cleartext (IAM) and SCRAM requests with it
            database=settings.dbname,
            application_name=APPLICATION_NAME,
            timeout=settings.connect_timeout_seconds,
            **_endpoint(settings),
        )
        # pg8000's one timeout covers every later read too: long enough for a statement that
        # runs into the statement timeout, short enough that a dead peer is not awaited until
        # the function times out (a read timeout is a lost connection: reconnect once).
        conn._usock.settimeout(settings.read_timeout_seconds)
        return conn


DIALECT = PostgreSQL()
