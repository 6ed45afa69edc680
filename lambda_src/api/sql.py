"""One request's SQL on the connection (`Session`), and the server's errors as exceptions.

Each statement travels as one simple-protocol Query message behind a transaction-local
statement_timeout: both run in one implicit transaction, in one round trip, leaving no session
state and no prepared statement behind (RDS Proxy pins the client session for either). pg8000
uses the simple protocol for `run(sql)` without parameters, so the parameters are quoted here,
client side, by pg8000's `literal` (as psycopg's ClientCursor did before), never formatted into
the SQL as they are.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, LiteralString

import pg8000.native  # type: ignore[import-untyped]  # ships no type information

Row = tuple[Any, ...]
_LOST_SEVERITIES = ("FATAL", "PANIC")
"""An error of these ends the server's session: the connection is gone with it."""
_LITERAL_TYPES = (type(None), bool, int, str, uuid.UUID, datetime.datetime)


class ConnectionLostError(Exception):
    """The connection broke mid-request (the cause says how); it cannot be used again."""


class DatabaseError(Exception):
    """An error the server reported for a statement; `sqlstate` says which. The subclasses are
    the ones the handler tells apart (and read better in logs than a code)."""

    SQLSTATE: ClassVar[str] = ""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.sqlstate = fields.get("C", "")
        self.severity = fields.get("V") or fields.get("S", "")
        self.constraint_name = fields.get("n")
        # The primary message only: the detail can quote the row, that is the client's data.
        super().__init__(f"{fields.get('M', 'database error')} (SQLSTATE {self.sqlstate})")


class CheckViolation(DatabaseError):  # noqa: N818 - PostgreSQL's condition names
    SQLSTATE = "23514"


class QueryCanceled(DatabaseError):  # noqa: N818
    """The statement timeout (or a cancel request) ended the statement."""

    SQLSTATE = "57014"


class InsufficientPrivilege(DatabaseError):  # noqa: N818
    SQLSTATE = "42501"


_BY_SQLSTATE = {cls.SQLSTATE: cls for cls in (CheckViolation, QueryCanceled, InsufficientPrivilege)}


def server_error(exc: Exception) -> DatabaseError:
    """pg8000's DatabaseError, whose args[0] holds the ErrorResponse's fields by their one-letter
    codes ("C" the SQLSTATE, "M" the message, "n" the constraint), as one of ours."""
    fields = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {"M": str(exc)}
    return _BY_SQLSTATE.get(fields.get("C", ""), DatabaseError)(fields)


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
    """`query` with each ``%s`` replaced by its parameter as a literal (``%%`` is a ``%``)."""
    return query % tuple(literal(value) for value in params)


class Session:
    """One request's SQL on the shared connection (see the module's docstring)."""

    def __init__(self, conn: Any, statement_timeout_ms: int) -> None:
        self._conn = conn
        self._prefix = bind(
            "SELECT set_config('statement_timeout', %s, true); ", (str(statement_timeout_ms),)
        )

    def fetch_one(self, query: LiteralString, params: Sequence[Any] = ()) -> Row | None:
        rows = self._run(query, params)
        return rows[0] if rows else None

    def fetch_all(self, query: LiteralString, params: Sequence[Any] = ()) -> list[Row]:
        return self._run(query, params)

    def _run(self, query: LiteralString, params: Sequence[Any]) -> list[Row]:
        """The rows of `query` (one statement). pg8000 returns the rows of every statement of a
        Query in one list: set_config's one row first, then the statement's."""
        sql = self._prefix + bind(query, params)
        try:
            rows = self._conn.run(sql)
        except pg8000.native.DatabaseError as exc:
            error = server_error(exc)
            if error.severity in _LOST_SEVERITIES:
                raise ConnectionLostError(str(error)) from error
            raise error from None
        except (pg8000.native.InterfaceError, OSError) as exc:
            # pg8000 reports a closed socket, a read timeout or a broken TLS stream this way.
            raise ConnectionLostError(str(exc)) from exc
        return [tuple(row) for row in (rows or [])[1:]]
