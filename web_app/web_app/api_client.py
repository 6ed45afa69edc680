"""Calls the private items API with a client-credentials token from Cognito, cached until
shortly before it expires."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

REFRESH_BEFORE_EXPIRY_SECONDS = 60
TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class ApiUnavailableError(Exception):
    """The API (or the token endpoint) did not answer, or answered 5XX."""


class ApiRejectedError(Exception):
    """The API refused the request (4XX); ``message`` is its own explanation and
    ``field_errors`` names each input field it refused, with why."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field_errors: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field_errors = dict(field_errors or {})

    @property
    def explanation(self) -> str:
        """What to tell the user: each refused field, else the API's message."""
        if not self.field_errors:
            return self.message
        return "; ".join(f"{field}: {why}" for field, why in self.field_errors.items())


@dataclass
class _Token:
    value: str
    expires_at: float


class TokenCache:
    """One access token per process, fetched again ``REFRESH_BEFORE_EXPIRY_SECONDS`` before it
    expires."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scopes: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._auth = (client_id, client_secret)
        self._scopes = scopes
        self._clock = clock
        self._token: _Token | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def get(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._token.expires_at:
                self._token = self._fetch(now)
            return self._token.value

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _fetch(self, now: float) -> _Token:
        try:
            response = self._http.post(
                self._token_url,
                auth=self._auth,
                data={"grant_type": "client_credentials", "scope": self._scopes},
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as error:
            raise ApiUnavailableError(
                f"token endpoint unreachable: {type(error).__name__}"
            ) from None
        if response.status_code != httpx.codes.OK:
            raise ApiUnavailableError(f"token endpoint answered {response.status_code}")
        body = response.json()
        self.fetches += 1
        lifetime = float(body.get("expires_in", 3600))
        return _Token(
            value=str(body["access_token"]),
            expires_at=now + max(0.0, lifetime - REFRESH_BEFORE_EXPIRY_SECONDS),
        )


class ItemsApi:
    """The items API, as the page uses it."""

    def __init__(self, http: httpx.Client, *, base_url: str, tokens: TokenCache) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._tokens = tokens

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "/health"))

    def list_items(self, limit: int = 50) -> list[dict[str, Any]]:
        return list(self._call("GET", "/items", params={"limit": limit})["items"])

    def create_item(self, name: str, description: str) -> dict[str, Any]:
        return dict(self._call("POST", "/items", json={"name": name, "description": description}))

    def delete_item(self, item_id: str) -> None:
        self._call("DELETE", f"/items/{item_id}")

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in (1, 2):
            token = self._tokens.get()
            try:
                response = self._http.request(
                    method,
                    f"{self._base_url}{path}",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=TIMEOUT,
                    **kwargs,
                )
            except httpx.HTTPError as error:
                raise ApiUnavailableError(f"API unreachable: {type(error).__name__}") from None
            if response.status_code == httpx.codes.UNAUTHORIZED and attempt == 1:
                self._tokens.invalidate()  # expired or revoked early: one fresh token, once
                continue
            return _result(response)
        raise AssertionError("unreachable")


def _result(response: httpx.Response) -> Any:
    if response.status_code >= httpx.codes.INTERNAL_SERVER_ERROR:
        raise ApiUnavailableError(f"API answered {response.status_code}")
    if response.status_code >= httpx.codes.BAD_REQUEST:
        try:
            body = response.json()
        except ValueError:
            body = {}
        error = body.get("error") or {} if isinstance(body, dict) else {}
        message = error.get("message") or body.get("message") if error else None
        raise ApiRejectedError(
            response.status_code,
            str(error.get("code", "REJECTED")),
            str(message or "request refused"),
            _field_errors(error.get("details")),
        )
    if response.status_code == httpx.codes.NO_CONTENT:
        return None
    return response.json()


def _field_errors(details: object) -> dict[str, str]:
    """Field -> message from the error's ``details`` (``[{"field", "message", ...}]``; entries
    without a field, such as a 409's current version, are not about input)."""
    if not isinstance(details, list):
        return {}
    return {
        str(detail["field"]): str(detail.get("message") or "not valid")
        for detail in details
        if isinstance(detail, dict) and detail.get("field")
    }
