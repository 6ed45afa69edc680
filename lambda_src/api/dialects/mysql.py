"""MySQL (RDS for MySQL 8.4, Aurora MySQL 3, which is MySQL 8.0; MariaDB 10.11 locally) through
PyMySQL.

PyMySQL is pure Python. It always connects over TCP here, with TLS required: given an SSL
context it refuses a server that does not offer TLS before it sends anything but its TLS request.
The IAM token is the password: RDS asks for it with the mysql_clear_password plugin, which
PyMySQL answers in clear whatever the transport, so the required TLS is what keeps it off the
wire (a password login, as the local server's, sends only its scramble). On connecting PyMySQL
sends ``SET NAMES utf8mb4`` (and would send ``SET autocommit`` only where the server's default
is off); RDS Proxy tracks both variables instead of pinning the session. Nothing else is set,
and no statement is prepared on the server.

Time limits: a SELECT carries the ``MAX_EXECUTION_TIME`` optimizer hint (MySQL: error 3024 after
DB_STATEMENT_TIMEOUT_MS; MariaDB reads the hint as a comment). A write waits for a row lock at
most the server's ``innodb_lock_wait_timeout`` (error 1205; 50 s by default, a parameter group
sets it). The hard bound on every engine is the socket's read timeout (the statement timeout
plus the connect timeout): past it the connection counts as lost, so the request is retried
once on a new one, then answered 503.

MySQL 8 has no RETURNING (MariaDB has, and is never asked), so a write and the read of its row
go together as one transaction in one round trip (a multi-statement query:
``START TRANSACTION; <write>; <read>; COMMIT``), rolled back on error. A create that finds its id
taken is a no-op (``ON DUPLICATE KEY UPDATE id = id``: unlike INSERT IGNORE it still fails on a
CHECK). Ids are CHAR(36) text, lowercase; timestamps DATETIME(6) holding UTC, written with
UTC_TIMESTAMP(6) and read back as aware UTC datetimes. Values are quoted client side, by the
server's rule for backslashes (NO_BACKSLASH_ESCAPES, from the server status of every reply).
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, LiteralString

import pymysql
from pymysql import converters
from pymysql.constants import CLIENT, FIELD_TYPE, SERVER_STATUS

from .. import sql
from ..sql import SELECT_ITEM, ConnectionLostError, Row
from . import Dialect, tls_context

if TYPE_CHECKING:
    from ..db import DatabaseSettings

PROGRAM_NAME = "items-api"
_UTC = datetime.UTC
_BY_ERRNO: dict[int, type[sql.DatabaseError]] = {
    3819: sql.CheckViolation,  # MySQL: Check constraint '...' is violated.
    4025: sql.CheckViolation,  # MariaDB: CONSTRAINT `...` failed for ...
    1406: sql.CheckViolation,  # Data too long for column '...' (strict mode)
    1205: sql.QueryCanceled,  # Lock wait timeout exceeded
    3024: sql.QueryCanceled,  # MySQL: maximum statement execution time exceeded
    1969: sql.QueryCanceled,  # MariaDB: max_statement_time exceeded
    1317: sql.QueryCanceled,  # Query execution was interrupted (KILL QUERY)
    1142: sql.InsufficientPrivilege,  # command denied to user for table
    1143: sql.InsufficientPrivilege,  # command denied to user for column
    1044: sql.InsufficientPrivilege,  # Access denied for user to database
    1045: sql.InsufficientPrivilege,  # Access denied for user
}
_LOST = frozenset({2006, 2013, 1053, 1927, 4031})
"""Server gone, connection lost during a query, server shutdown, connection killed (MariaDB),
disconnected for inactivity (MySQL 8.0.24+)."""
_QUOTED_NAME = re.compile(r"[`']([^`']+)[`']")
_LITERAL_TYPES = (type(None), bool, int, str, uuid.UUID, datetime.datetime)


def literal(value: object, *, no_backslash_escapes: bool = False) -> str:
    """`value` as a MySQL literal. Backslashes escape in MySQL's strings unless the session's
    sql_mode has NO_BACKSLASH_ESCAPES: quoted by whichever rule the server says is on. Only the
    types the API binds are accepted; a datetime must be aware (it is written as UTC)."""
    if not isinstance(value, _LITERAL_TYPES):
        raise TypeError(f"no SQL literal for {type(value).__name__}")
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, uuid.UUID):
        return f"'{value}'"
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError("a naive datetime names no moment")
        utc = value.astimezone(_UTC).replace(tzinfo=None)
        return f"TIMESTAMP '{utc.isoformat(' ', 'microseconds')}'"
    assert isinstance(value, str)
    # The models refuse both first (a 422), as for PostgreSQL: the same text on either engine.
    if "\x00" in value:
        raise ValueError("the API stores no NUL characters")
    value.encode("utf-8")  # UnicodeEncodeError (a ValueError) for a lone surrogate
    if no_backslash_escapes:
        return "'" + value.replace("'", "''") + "'"
    return "'" + converters.escape_string(value) + "'"


def _utc_datetime(text: str) -> object:
    """A DATETIME(6) as an aware UTC datetime (the column holds UTC)."""
    value = converters.convert_datetime(text)
    return value.replace(tzinfo=_UTC) if isinstance(value, datetime.datetime) else value


_CONVERSIONS: dict[Any, Any] = {**converters.conversions, FIELD_TYPE.DATETIME: _utc_datetime}


def _lost(message: str, cause: BaseException) -> ConnectionLostError:
    lost = ConnectionLostError(message)
    lost.__cause__ = cause
    return lost


def server_error(
    exc: Exception, *, connection_open: bool
) -> sql.DatabaseError | ConnectionLostError:
    """PyMySQL's error (args: the error number, the message) as one of ours. The connection is
    lost on an InterfaceError (its socket was already closed), a network error, one of the
    `_LOST` numbers, or whenever PyMySQL closed it (a read timeout, a broken packet stream)."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if (
        isinstance(exc, pymysql.err.InterfaceError | OSError)
        or code in _LOST
        or not connection_open
    ):
        return _lost(f"{type(exc).__name__}: {message}", exc)
    kind = _BY_ERRNO.get(code, sql.DatabaseError)
    found = _QUOTED_NAME.search(message) if kind is sql.CheckViolation else None
    return kind(
        message, code=f"MySQL error {code}", constraint_name=found.group(1) if found else None
    )


class Session(sql.Session):
    """One request's SQL on the shared connection (see the module's docstring)."""

    def __init__(self, conn: Any, statement_timeout_ms: int) -> None:
        super().__init__(conn, statement_timeout_ms)
        self._select = f"SELECT /*+ MAX_EXECUTION_TIME({int(statement_timeout_ms)}) */ "

    def _statement(self, query: LiteralString, params: Sequence[object]) -> str:
        no_backslash_escapes = bool(
            self._conn.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES
        )
        text = sql.bind(
            query, params, lambda value: literal(value, no_backslash_escapes=no_backslash_escapes)
        )
        return self._select + text.removeprefix("SELECT ") if text.startswith("SELECT ") else text

    def _results(self, text: str, *, transaction: bool = False) -> list[tuple[int, list[Row]]]:
        """(affected or returned row count, rows) of each statement of `text`."""
        cursor = self._conn.cursor()
        try:
            cursor.execute(text)
            results = [(cursor.rowcount, list(cursor.fetchall()))]
            while cursor.nextset():
                results.append((cursor.rowcount, list(cursor.fetchall())))
        except (pymysql.err.Error, OSError) as exc:
            raise self._failure(exc, transaction=transaction) from None
        return results

    def _failure(self, exc: Exception, *, transaction: bool) -> Exception:
        """The exception to raise for the driver's `exc`; a failed transaction is rolled back
        (the failed statement is undone, its transaction still open)."""
        error = server_error(exc, connection_open=self._conn.open)
        if transaction and isinstance(error, sql.DatabaseError):
            try:
                self._conn.query("ROLLBACK")
            except (pymysql.err.Error, OSError) as failed:
                return _lost(f"ROLLBACK failed: {failed}", failed)
        return error

    def _write_then_read(
        self, write: LiteralString, params: Sequence[object], item_id: object
    ) -> tuple[int, Row | None]:
        """`write` and the read of the item's row after it, as one transaction in one round
        trip: (rows the write changed, the row)."""
        text = "; ".join(
            (
                "START TRANSACTION",
                self._statement(write, params),
                self._statement(SELECT_ITEM, (item_id,)),
                "COMMIT",
            )
        )
        _, (changed, _), (_, rows), _ = self._results(text, transaction=True)
        return changed, rows[0] if rows else None

    def fetch_all(self, query: LiteralString, params: Sequence[object] = ()) -> list[Row]:
        [(_, rows)] = self._results(self._statement(query, params))
        return rows

    def item_row(self, row: Row) -> Row:
        return (uuid.UUID(row[0]), *row[1:])

    def insert_item(self, item_id: object, name: str, description: str) -> Row | None:
        _, row = self._write_then_read(
            "INSERT INTO items (id, name, description, created_at, updated_at)"
            " VALUES (%s, %s, %s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"
            " ON DUPLICATE KEY UPDATE id = id",
            (item_id, name, description),
            item_id,
        )
        return row

    def update_item(
        self, item_id: object, *, name: str, description: str, version: int
    ) -> Row | None:
        changed, row = self._write_then_read(
            "UPDATE items SET name = %s, description = %s, version = version + 1,"
            " updated_at = UTC_TIMESTAMP(6) WHERE id = %s AND version = %s",
            (name, description, item_id, version),
            item_id,
        )
        return row if changed else None

    def delete_item(self, item_id: object) -> bool:
        [(deleted, _)] = self._results(
            self._statement("DELETE FROM items WHERE id = %s", (item_id,))
        )
        return deleted > 0


class MySQL(Dialect):
    family = "mysql"
    session_class = Session
    driver_error = pymysql.err.Error

    def connect(self, settings: DatabaseSettings, password: str) -> Any:
        return pymysql.connect(
            host=settings.host,
            port=settings.port,
            user=settings.user,
            password=password,
            database=settings.dbname,
            ssl=tls_context(settings.sslmode),  # an SSL context: TLS required, never plaintext
            connect_timeout=settings.connect_timeout_seconds,
            read_timeout=settings.read_timeout_seconds,
            write_timeout=settings.read_timeout_seconds,
            charset="utf8mb4",
            autocommit=True,  # the server's default: no SET then
            client_flag=CLIENT.MULTI_STATEMENTS,  # a write and its read in one round trip
            conv=_CONVERSIONS,
            program_name=PROGRAM_NAME,
        )


DIALECT = MySQL()
