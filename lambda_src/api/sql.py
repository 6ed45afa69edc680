"""One request's SQL, whatever the engine: the `Session` each dialect implements (`api.dialects`),
the SQL both engines run as it is, and the server's errors as the exceptions the handler tells
apart (each dialect maps its driver's errors onto them).

Every value reaches the server as a literal quoted client side by the dialect (`bind`), never
formatted into the SQL as it is: no server-side prepared statement and no session-level SET, as
RDS Proxy pins the client session for either.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, LiteralString

Row = tuple[Any, ...]

SELECT_ITEM = (
    "SELECT id, name, description, created_at, updated_at, version FROM items WHERE id = %s"
)
"""An item's row by its id: its columns in the order `items.Item` takes them (as every query
of items returns them)."""


class ConnectionLostError(Exception):
    """The connection broke mid-request (the cause says how); it cannot be used again."""


class DatabaseError(Exception):
    """An error the server reported for a statement; `code` says which (PostgreSQL's SQLSTATE,
    MySQL's error number). The subclasses are the ones the handler tells apart (and read better
    in logs than a code); their names are PostgreSQL's conditions."""

    def __init__(self, message: str, *, code: str, constraint_name: str | None = None) -> None:
        self.code = code
        self.constraint_name = constraint_name
        # The primary message only: a detail can quote the row, that is the client's data.
        super().__init__(f"{message} ({code})")


class CheckViolation(DatabaseError):  # noqa: N818 - PostgreSQL's condition names
    """A constraint refused the values: still the client's input (a 422)."""


class QueryCanceled(DatabaseError):  # noqa: N818
    """The statement ran into its time limit (or was cancelled): a 503 to retry."""


class InsufficientPrivilege(DatabaseError):  # noqa: N818
    """The login may not do this: a broken grant (a 500)."""


def bind(query: LiteralString, params: Sequence[object], literal: Callable[[object], str]) -> str:
    """`query` with each ``%s`` replaced by its parameter as the dialect's `literal` (``%%`` is
    a ``%``)."""
    return query % tuple(literal(value) for value in params)


class Session(ABC):
    """One request's SQL on the shared connection: each dialect sends one statement
    (`fetch_all`) its own way, and writes the three statements whose SQL differs by engine."""

    def __init__(self, conn: Any, statement_timeout_ms: int) -> None:
        self._conn = conn
        self._statement_timeout_ms = statement_timeout_ms

    @abstractmethod
    def fetch_all(self, query: LiteralString, params: Sequence[object] = ()) -> list[Row]:
        """The rows of `query`, one statement with ``%s`` for each parameter."""

    def fetch_one(self, query: LiteralString, params: Sequence[object] = ()) -> Row | None:
        rows = self.fetch_all(query, params)
        return rows[0] if rows else None

    def item_row(self, row: Row) -> Row:
        """An item's row (as `SELECT_ITEM` returns it) in Python's types: a UUID, text, aware
        datetimes, an int."""
        return row

    @abstractmethod
    def insert_item(self, item_id: object, name: str, description: str) -> Row | None:
        """Inserts the item unless its id exists; the row with that id afterwards (the new one
        or the one already there), None only if it vanished in between."""

    @abstractmethod
    def update_item(
        self, item_id: object, *, name: str, description: str, version: int
    ) -> Row | None:
        """Sets name and description and bumps the version where id and version match; the
        updated row, or None when no row had that id at that version."""

    @abstractmethod
    def delete_item(self, item_id: object) -> bool:
        """Whether a row was deleted."""
