"""Access tokens of the local stand-in for Cognito: HMAC-signed claims, checked by the local API
exactly as the stage's Cognito authorizer checks scopes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Claims:
    client_id: str
    scopes: frozenset[str]
    expires_at: float


class TokenSigner:
    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._clock = clock

    def issue(self, client_id: str, scopes: frozenset[str], lifetime_seconds: int) -> str:
        claims = {
            "client_id": client_id,
            "scope": " ".join(sorted(scopes)),
            "exp": self._clock() + lifetime_seconds,
            "token_use": "access",
        }
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str) -> Claims | None:
        """The token's claims if it is ours, intact and unexpired; else None."""
        body, _, signature = token.partition(".")
        if not body or not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            claims: dict[str, Any] = json.loads(_unb64(body))
        except ValueError:
            return None
        if float(claims.get("exp", 0)) <= self._clock():
            return None
        return Claims(
            client_id=str(claims["client_id"]),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            expires_at=float(claims["exp"]),
        )

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())
