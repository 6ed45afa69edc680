"""A stand-in for Cognito's managed login, for ``make local --shape spa``: authorization code
with PKCE (S256 only, as a public client must use), RS256 tokens with Cognito's claims and a
JWKS, and the logout redirect.

Endpoints (Cognito's paths, https://docs.aws.amazon.com/cognito/latest/developerguide/federation-endpoints.html):
``GET/POST /oauth2/authorize`` (a sign-in form), ``POST /oauth2/token``, ``GET /logout``,
``GET /.well-known/jwks.json``. Errors are OAuth's ``{"error", "error_description"}`` with 400,
and the issuer never redirects to a URI the client did not register.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

TOKEN_LIFETIME_SECONDS = 3600
CODE_LIFETIME_SECONDS = 300
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
"""RFC 7636 section 4.1: the code verifier's alphabet and length."""


class OAuthError(StrEnum):
    INVALID_REQUEST = "invalid_request"
    INVALID_CLIENT = "invalid_client"
    INVALID_GRANT = "invalid_grant"
    INVALID_SCOPE = "invalid_scope"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    UNSUPPORTED_RESPONSE_TYPE = "unsupported_response_type"


class RefusedError(Exception):
    def __init__(self, error: OAuthError, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class User:
    username: str
    password: str
    subject: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class Client:
    """A public app client (no secret): its callback and sign-out URLs, its scopes."""

    client_id: str
    redirect_uris: frozenset[str]
    logout_uris: frozenset[str]
    scopes: frozenset[str] = frozenset({"openid", "email", "profile"})

    def allows_origin(self, origin: str) -> bool:
        return any(_origin(uri) == origin for uri in self.redirect_uris)


@dataclass(frozen=True)
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    user: User
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge of a verifier (RFC 7636 section 4.2)."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


class SigningKey:
    """An RS256 key made at start; its public half is the JWKS."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)

    def sign(self, claims: Mapping[str, Any]) -> str:
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = ".".join(
            _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": self.kid,
                    "n": _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                    "e": _b64(numbers.e.to_bytes(3, "big")),
                }
            ]
        }


class Issuer:
    """The issuer at ``url`` (where its app is served), its clients and users."""

    def __init__(
        self,
        url: str,
        clients: list[Client],
        users: list[User],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url.rstrip("/")
        self.key = SigningKey()
        self.clients = {client.client_id: client for client in clients}
        self.users = {user.username: user for user in users}
        self._clock = clock
        self._codes: dict[str, _Code] = {}

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    def access_token(
        self, user: User, client_id: str, scope: str = "openid", *, lifetime: int = 0
    ) -> str:
        """An access token as Cognito issues it (``lifetime`` < 0 makes an expired one)."""
        now = int(self._clock())
        return self.key.sign(
            {
                "iss": self.url,
                "sub": user.subject,
                "client_id": client_id,
                "token_use": "access",
                "scope": scope,
                "username": user.username,
                "auth_time": now,
                "iat": now,
                "exp": now + (lifetime or TOKEN_LIFETIME_SECONDS),
                "jti": str(uuid.uuid4()),
            }
        )

    def id_token(self, user: User, client_id: str) -> str:
        now = int(self._clock())
        return self.key.sign(
            {
                "iss": self.url,
                "sub": user.subject,
                "aud": client_id,
                "token_use": "id",
                "cognito:username": user.username,
                "auth_time": now,
                "iat": now,
                "exp": now + TOKEN_LIFETIME_SECONDS,
            }
        )

    # --- authorize ---------------------------------------------------------------------------

    def _authorize_params(self, params: Mapping[str, str]) -> tuple[Client, str]:
        """The client and redirect URI of a valid authorize request (scope and PKCE checked)."""
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            raise RefusedError(OAuthError.INVALID_CLIENT, "unknown client_id")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise RefusedError(OAuthError.INVALID_REQUEST, "redirect_uri is not registered")
        if params.get("response_type") != "code":
            raise RefusedError(OAuthError.UNSUPPORTED_RESPONSE_TYPE, "response_type must be code")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            raise RefusedError(OAuthError.INVALID_REQUEST, "PKCE with S256 is required")
        if not set(params.get("scope", "openid").split()) <= client.scopes:
            raise RefusedError(OAuthError.INVALID_SCOPE, "a scope is not allowed for this client")
        return client, redirect_uri

    def _sign_in_page(self, params: Mapping[str, str], message: str = "") -> str:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
            for name, value in params.items()
            if name not in ("username", "password")
        )
        alert = f'<p role="alert">{html.escape(message)}</p>' if message else ""
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            "<title>Sign in (local)</title></head><body><h1>Sign in</h1>"
            f'{alert}<form method="post" action="/oauth2/authorize">{hidden}'
            '<label>Username <input name="username" autocomplete="username" required></label>'
            '<label>Password <input name="password" type="password"'
            ' autocomplete="current-password" required></label>'
            '<button type="submit">Sign in</button></form></body></html>'
        )

    async def authorize(self, request: Request) -> Response:
        if request.method == "GET":
            params = dict(request.query_params)
        else:
            params = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        try:
            _, redirect_uri = self._authorize_params(params)
        except RefusedError as refused:
            return _oauth_error(refused)
        if request.method == "GET":
            return _page(self._sign_in_page(params))
        user = self.users.get(params.get("username", ""))
        password = params.get("password", "").encode()
        if user is None or not secrets.compare_digest(password, user.password.encode()):
            page = self._sign_in_page(params, "Incorrect username or password.")
            return _page(page, HTTPStatus.UNAUTHORIZED)
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(
            client_id=params["client_id"],
            redirect_uri=redirect_uri,
            challenge=params["code_challenge"],
            scope=params.get("scope", "openid"),
            user=user,
            expires_at=self._clock() + CODE_LIFETIME_SECONDS,
        )
        query = {"code": code} | ({"state": params["state"]} if "state" in params else {})
        return RedirectResponse(f"{redirect_uri}?{urlencode(query)}", HTTPStatus.FOUND)

    # --- token -------------------------------------------------------------------------------

    def _exchange(self, form: Mapping[str, str]) -> dict[str, Any]:
        if form.get("grant_type") != "authorization_code":
            raise RefusedError(OAuthError.UNSUPPORTED_GRANT_TYPE, "only authorization_code")
        client_id = form.get("client_id", "")
        if client_id not in self.clients:
            raise RefusedError(OAuthError.INVALID_CLIENT, "unknown client_id")
        verifier = form.get("code_verifier", "")
        if not _VERIFIER.match(verifier):
            raise RefusedError(OAuthError.INVALID_REQUEST, "code_verifier is missing or malformed")
        code = self._codes.pop(form.get("code", ""), None)  # single use, even when refused
        if code is None or code.expires_at < self._clock():
            raise RefusedError(OAuthError.INVALID_GRANT, "the code is unknown, used or expired")
        if code.client_id != client_id:
            raise RefusedError(OAuthError.INVALID_GRANT, "the code was issued to another client")
        if code.redirect_uri != form.get("redirect_uri"):
            raise RefusedError(OAuthError.INVALID_GRANT, "redirect_uri does not match")
        if not secrets.compare_digest(s256(verifier), code.challenge):
            raise RefusedError(OAuthError.INVALID_GRANT, "code_verifier does not match")
        return {
            "access_token": self.access_token(code.user, client_id, code.scope),
            "id_token": self.id_token(code.user, client_id),
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECONDS,
        }

    def _cors(self, request: Request) -> dict[str, str]:
        """The browser's app calls the token endpoint from its own origin (Cognito answers
        such calls with CORS headers for the request's origin)."""
        origin = request.headers.get("origin", "")
        if any(client.allows_origin(origin) for client in self.clients.values()):
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {}

    async def token(self, request: Request) -> Response:
        headers = self._cors(request) | {"Cache-Control": "no-store"}
        if request.method == "OPTIONS":
            headers |= {
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Content-Type",
            }
            return Response(status_code=HTTPStatus.NO_CONTENT, headers=headers)
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        try:
            return JSONResponse(self._exchange(form), headers=headers)
        except RefusedError as refused:
            return _oauth_error(refused, headers)

    # --- logout, keys ------------------------------------------------------------------------

    async def logout(self, request: Request) -> Response:
        client = self.clients.get(request.query_params.get("client_id", ""))
        logout_uri = request.query_params.get("logout_uri", "")
        if client is None:
            return _oauth_error(RefusedError(OAuthError.INVALID_CLIENT, "unknown client_id"))
        if logout_uri not in client.logout_uris:
            return _oauth_error(
                RefusedError(OAuthError.INVALID_REQUEST, "logout_uri not registered")
            )
        return RedirectResponse(logout_uri, HTTPStatus.FOUND)

    async def keys(self, _: Request) -> Response:
        return JSONResponse(self.key.jwks())

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/oauth2/authorize", self.authorize, methods=["GET", "POST"]),
                Route("/oauth2/token", self.token, methods=["POST", "OPTIONS"]),
                Route("/logout", self.logout, methods=["GET"]),
                Route("/.well-known/jwks.json", self.keys, methods=["GET"]),
            ]
        )


def _oauth_error(refused: RefusedError, headers: Mapping[str, str] | None = None) -> Response:
    body = {"error": refused.error.value, "error_description": refused.description}
    return JSONResponse(body, HTTPStatus.BAD_REQUEST, headers=dict(headers or {}))


def _page(body: str, status: HTTPStatus = HTTPStatus.OK) -> Response:
    headers = {
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        "Cache-Control": "no-store",
    }
    return HTMLResponse(body, status, headers=headers)
