"""The items API handler served over HTTP: each request becomes the API Gateway REST proxy event
the stage would send, after the checks the stage makes first, in its order and with its answers:

1. the route (path and method) must be one of ``API_ROUTES``; any other method or path, with or
   without a token, is API Gateway's MISSING_AUTHENTICATION_TOKEN ("a method or resource that
   does not exist", https://repost.aws/knowledge-center/api-gateway-authentication-token-errors;
   https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html),
   which the private API answers as 404 ``ROUTE_NOT_FOUND``;
2. the Cognito authorizer: a missing or bad token is 401 in the API's error shape (API Gateway's
   UNAUTHORIZED through the DEFAULT_4XX template), a token without the route's scope 403.

A body that is not UTF-8 reaches the function base64-encoded, as API Gateway passes binary
bodies, so the function answers it (400), never this server (which used to fail with a 500).
"""

from __future__ import annotations

import base64
import re
from http import HTTPMethod, HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.routes import API_ROUTES, ApiRoute
from devkit.events import STAGE, lambda_context, proxy_event
from local_stack.tokens import Claims, TokenSigner


def _pattern(route: ApiRoute) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", route.path) + "$")


ROUTES = [(route, _pattern(route)) for route in API_ROUTES]


def _error(status: HTTPStatus, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def match_route(method: str, path: str) -> tuple[ApiRoute, dict[str, str]] | None:
    """The route and path parameters API Gateway would pick, or None (no such method here)."""
    for route, pattern in ROUTES:
        if route.method == method and (found := pattern.match(path)):
            return route, found.groupdict()
    return None


def _claims(signer: TokenSigner, authorization: str) -> Claims | None:
    scheme, _, token = authorization.partition(" ")
    return signer.verify(token) if scheme.lower() == "bearer" else None


def _body(raw: bytes) -> tuple[str | None, bool]:
    """(body, is_base64) as the proxy event carries it."""
    if not raw:
        return None, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), True


def api_app(signer: TokenSigner) -> Starlette:
    from api.handler import lambda_handler  # the function's own code, as deployed

    async def proxy(request: Request) -> Response:
        path = "/" + request.path_params["path"]
        matched = match_route(request.method, path)
        if matched is None:
            return _error(
                HTTPStatus.NOT_FOUND, "ROUTE_NOT_FOUND", f"no route {request.method} {path}"
            )
        route, path_parameters = matched
        claims = _claims(signer, request.headers.get("authorization", ""))
        if claims is None:
            return _error(HTTPStatus.UNAUTHORIZED, "UNAUTHORIZED", "Unauthorized")
        if route.scope.token_scope not in claims.scopes:
            return _error(
                HTTPStatus.FORBIDDEN,
                "INSUFFICIENT_SCOPE",
                f"this route needs {route.scope.token_scope}",
            )
        body, is_base64 = _body(await request.body())
        event = proxy_event(
            request.method,
            path,
            resource=route.path,
            path_parameters=path_parameters,
            body=body,
            headers=dict(request.headers),
            query=dict(request.query_params),
            claims={"client_id": claims.client_id, "scope": " ".join(sorted(claims.scopes))},
        )
        event["isBase64Encoded"] = is_base64
        result: dict[str, Any] = await run_in_threadpool(lambda_handler, event, lambda_context())
        return Response(
            content=result.get("body") or b"",
            status_code=int(result["statusCode"]),
            headers={k: str(v) for k, v in (result.get("headers") or {}).items()},
        )

    return Starlette(
        routes=[Route(f"/{STAGE}/{{path:path}}", proxy, methods=[m.value for m in HTTPMethod])]
    )
