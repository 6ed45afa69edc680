"""The items API's reads and writes and its page cursor, on either engine: the SQL both run is
here, the statements whose SQL differs are the dialect's (`sql.Session`). Every value is a query
parameter.

Pages are keyset pages on (created_at, id), the order of `items_created_at_id_idx`: a page
costs the same however deep it is, and rows inserted meanwhile neither repeat nor shift pages.
The cursor is the last row's key, packed and URL-safe base64 encoded; clients treat it as opaque.
"""

from __future__ import annotations

import base64
import re
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from .db import Session
from .errors import ApiError
from .sql import SELECT_ITEM, Row

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = struct.Struct(">q16s")
"""created_at in microseconds since the epoch (timestamptz's and DATETIME(6)'s precision), then
the UUID."""
_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]{32}")
"""24 bytes are exactly 32 base64 characters, without padding."""
_EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
"""The first moment MySQL's DATETIME is documented to hold: no row the API wrote is older, and
a cursor's time is compared with rows on either engine."""


@dataclass(frozen=True, slots=True)
class Item:
    id: uuid.UUID
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    version: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "description": self.description,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Item]
    next_cursor: str | None


def _iso(moment: datetime) -> str:
    """UTC whatever the session's TimeZone, always with microseconds: one fixed format."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _item(session: Session, row: Row) -> Item:
    return Item(*session.item_row(row))


def encode_cursor(item: Item) -> str:
    micros = (item.created_at - _EPOCH) // timedelta(microseconds=1)
    packed = _CURSOR.pack(micros, item.id.bytes)
    return base64.urlsafe_b64encode(packed).decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """(created_at, id) of the row the previous page ended on, or a 400."""
    if not _CURSOR_TEXT.fullmatch(cursor):
        raise _invalid_cursor()
    micros, id_bytes = _CURSOR.unpack(base64.urlsafe_b64decode(cursor))
    try:
        created_at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise _invalid_cursor() from None
    if created_at < _EARLIEST:
        raise _invalid_cursor()
    return created_at, uuid.UUID(bytes=id_bytes)


def _invalid_cursor() -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "INVALID_CURSOR", "cursor is not one this API returned")


def ping(session: Session) -> bool:
    row = session.fetch_one("SELECT 1")
    return row is not None and row[0] == 1


def get_item(session: Session, item_id: uuid.UUID) -> Item | None:
    row = session.fetch_one(SELECT_ITEM, (item_id,))
    return _item(session, row) if row else None


def list_items(session: Session, *, limit: int, after: tuple[datetime, uuid.UUID] | None) -> Page:
    """One row more than `limit` is read, so the last page says so instead of the client
    fetching an empty one."""
    if after is None:
        rows = session.fetch_all(
            "SELECT id, name, description, created_at, updated_at, version FROM items"
            " ORDER BY created_at, id LIMIT %s",
            (limit + 1,),
        )
    else:
        rows = session.fetch_all(
            "SELECT id, name, description, created_at, updated_at, version FROM items"
            " WHERE (created_at, id) > (%s, %s)"
            " ORDER BY created_at, id LIMIT %s",
            (*after, limit + 1),
        )
    items = [_item(session, row) for row in rows[:limit]]
    next_cursor = encode_cursor(items[-1]) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


def create_item(session: Session, item_id: uuid.UUID, name: str, description: str) -> Item:
    """The id comes from the caller, so running this again after a connection dropped mid-way
    returns the row the first try committed instead of inserting a duplicate."""
    row = session.insert_item(item_id, name, description)
    if row is None:  # inserted, then deleted by someone else in between
        raise RuntimeError(f"item {item_id} vanished while it was being created")
    return _item(session, row)


@dataclass(frozen=True, slots=True)
class UpdateResult:
    item: Item | None
    """The updated row; None when there was none to update."""
    current_version: int | None
    """When nothing was updated: the row's version (a conflict), or None (no such row)."""


def update_item(
    session: Session, item_id: uuid.UUID, *, name: str, description: str, version: int
) -> UpdateResult:
    """Optimistic locking: only the version the client read is updated. A miss is then told
    apart (the row is gone, or someone else changed it) by a second, cheap read."""
    row = session.update_item(item_id, name=name, description=description, version=version)
    if row is not None:
        return UpdateResult(item=_item(session, row), current_version=None)
    current = session.fetch_one("SELECT version FROM items WHERE id = %s", (item_id,))
    return UpdateResult(item=None, current_version=int(current[0]) if current else None)


def delete_item(session: Session, item_id: uuid.UUID) -> bool:
    return session.delete_item(item_id)
