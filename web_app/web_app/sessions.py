"""Server-side sessions in the platform's DynamoDB table (``session_id``, ``expires_at`` TTL).

The web tier's role may Get/Put/Update/Delete items and nothing else: no scan, no query."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Session:
    session_id: str
    expires_at: int
    csrf_token: str
    flash: str = ""
    field_errors: dict[str, str] = field(default_factory=dict)
    """Form field -> why the API refused it, shown once beside the field."""


class SessionStore:
    """Sessions in the DynamoDB table, each living ``ttl_seconds`` from its last save."""

    def __init__(self, table: Any, *, ttl_seconds: int, clock: Callable[[], float] = time.time):
        self._table = table
        self._ttl = ttl_seconds
        self._clock = clock

    def load(self, session_id: str | None) -> Session | None:
        """The live session with that id, or None (unknown, or expired but not yet swept)."""
        if not session_id:
            return None
        item = self._table.get_item(Key={"session_id": session_id}).get("Item")
        if item is None or int(item["expires_at"]) <= self._clock():
            return None
        return Session(
            session_id=session_id,
            expires_at=int(item["expires_at"]),
            csrf_token=str(item["csrf_token"]),
            flash=str(item.get("flash", "")),
            field_errors={str(k): str(v) for k, v in item.get("field_errors", {}).items()},
        )

    def create(self) -> Session:
        session = Session(
            session_id=secrets.token_urlsafe(32),
            expires_at=int(self._clock()) + self._ttl,
            csrf_token=secrets.token_urlsafe(24),
        )
        self.save(session)
        return session

    def save(self, session: Session) -> None:
        """Writes the session and slides its expiry forward."""
        session.expires_at = int(self._clock()) + self._ttl
        self._table.put_item(
            Item={
                "session_id": session.session_id,
                "expires_at": session.expires_at,
                "csrf_token": session.csrf_token,
                "flash": session.flash,
                "field_errors": session.field_errors,
            }
        )

    def delete(self, session_id: str) -> None:
        self._table.delete_item(Key={"session_id": session_id})
