"""The items API handler served over HTTP: each request becomes the API Gateway REST proxy event
the stage would send, after the same checks its Cognito authorizer makes (a valid token that
carries the route's scope, from ``API_ROUTES``)."""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.events import STAGE, lambda_context, proxy_event
from cdk_constructs.options import API_ROUTES, ApiRoute
from local_stack.tokens import TokenSigner


def _pattern(route: ApiRoute) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", route.path) + "$")


ROUTES = [(route, _pattern(route)) for route in API_ROUTES]


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def api_app(signer: TokenSigner) -> Starlette:
    from api.handler import lambda_handler  # the function's own code, as deployed

    async def proxy(request: Request) -> Response:
        path = "/" + request.path_params["path"]
        matches = [(route, m) for route, pattern in ROUTES if (m := pattern.match(path))]
        if not matches:
            return _error(404, "ROUTE_NOT_FOUND", f"no route {request.method} {path}")
        allowed = [(route, m) for route, m in matches if route.method == request.method]
        if not allowed:
            return _error(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed here")
        route, match = allowed[0]
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        claims = signer.verify(token) if scheme.lower() == "bearer" else None
        if claims is None:
            return JSONResponse({"message": "Unauthorized"}, status_code=401)
        if route.scope.token_scope not in claims.scopes:
            return _error(403, "INSUFFICIENT_SCOPE", f"this route needs {route.scope.token_scope}")
        body = (await request.body()).decode() or None
        event = proxy_event(
            request.method,
            path,
            resource=route.path,
            path_parameters=match.groupdict(),
            body=body,
            headers=dict(request.headers),
            query=dict(request.query_params),
            claims={"client_id": claims.client_id, "scope": " ".join(sorted(claims.scopes))},
        )
        result: dict[str, Any] = await run_in_threadpool(lambda_handler, event, lambda_context())
        return Response(
            content=result.get("body") or b"",
            status_code=int(result["statusCode"]),
            headers={k: str(v) for k, v in (result.get("headers") or {}).items()},
        )

    return Starlette(
        routes=[
            Route(
                f"/{STAGE}/{{path:path}}",
                proxy,
                methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
            )
        ]
    )
