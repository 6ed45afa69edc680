"""A local stand-in for Cognito's token endpoint: the client-credentials grant only, HTTP basic
client authentication, scopes limited to what each client is allowed."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local_stack.tokens import TokenSigner

TOKEN_PATH = "/oauth2/token"  # noqa: S105  # a path, not a secret
TOKEN_LIFETIME_SECONDS = 3600


@dataclass(frozen=True)
class AppClient:
    secret: str
    scopes: frozenset[str]


def token_app(signer: TokenSigner, clients: Mapping[str, AppClient]) -> Starlette:
    async def token(request: Request) -> Response:
        client_id, secret = _basic_auth(request.headers.get("authorization", ""))
        client = clients.get(client_id)
        if client is None or secret != client.secret:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        requested = frozenset(str(form.get("scope") or "").split()) or client.scopes
        if not requested <= client.scopes:
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        return JSONResponse(
            {
                "access_token": signer.issue(client_id, requested, TOKEN_LIFETIME_SECONDS),
                "expires_in": TOKEN_LIFETIME_SECONDS,
                "token_type": "Bearer",
            }
        )

    return Starlette(routes=[Route(TOKEN_PATH, token, methods=["POST"])])


def _basic_auth(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded).decode()
    except ValueError:
        return "", ""
    client_id, _, secret = decoded.partition(":")
    return client_id, secret
