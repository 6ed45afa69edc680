"""One origin, as CloudFront gives the S3M shape: the site's files with the SPA fallback and a
generated ``/config.json``, and ``/api/*`` as the public REST API's stage ``api`` answers it:

1. a path outside the services' prefixes: API Gateway's MISSING_AUTHENTICATION_TOKEN, which the
   platform answers as 404 ``ROUTE_NOT_FOUND`` (before any authorizer);
2. no ``Authorization`` header (the authorizer's identity source): 401 without calling it;
3. the REAL Lambda authorizer (``authorizer.handler.lambda_handler``) with a REQUEST event:
   ``Exception("Unauthorized")`` is 401, a policy that does not allow the method ARN is 403
   (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html);
4. the request goes to the service of its prefix with ``X-User-Id`` / ``X-User-Roles`` from
   the authorizer's context (a client's own X-User-* headers are dropped, as the integration's
   header mapping overwrites them).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPMethod, HTTPStatus
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from local_stack.iam_policy import Decision, PolicyError, evaluate

STAGE = "api"
ACCOUNT = "000000000000"
API_ID = "localapi"
SITE_DIR = Path(__file__).resolve().parent.parent / "site_app"
NO_CACHE = "no-cache"
HASHED_ASSETS = "assets"
IMMUTABLE = "public, max-age=31536000, immutable"
"""As the static site runtime uploads them: a build's content-hashed files under ``assets/``
kept a year, every other file revalidated on each load."""
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer", "host"}
)
Authorizer = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class GatewayError:
    status: HTTPStatus
    code: str
    message: str

    def response(self) -> Response:
        body = {"error": {"code": self.code, "message": self.message}}
        return JSONResponse(body, self.status)


ROUTE_NOT_FOUND = GatewayError(
    HTTPStatus.NOT_FOUND, "ROUTE_NOT_FOUND", "Missing Authentication Token"
)
UNAUTHORIZED = GatewayError(HTTPStatus.UNAUTHORIZED, "UNAUTHORIZED", "Unauthorized")
FORBIDDEN = GatewayError(
    HTTPStatus.FORBIDDEN, "FORBIDDEN", "User is not authorized to access this resource"
)
AUTHORIZER_FAILURE = GatewayError(
    HTTPStatus.INTERNAL_SERVER_ERROR, "AUTHORIZER_FAILURE", "the authorizer failed"
)
BAD_GATEWAY = GatewayError(HTTPStatus.BAD_GATEWAY, "INTEGRATION_FAILURE", "the service is down")


@dataclass(frozen=True)
class Gateway:
    site_config: Mapping[str, str]
    """``/config.json``."""
    services: Mapping[str, str]
    """Path prefix (``items``) -> the service's base URL."""
    sign_in_origin: str
    authorizer: Authorizer
    region: str
    site_dir: Path = SITE_DIR

    @property
    def content_security_policy(self) -> str:
        return (
            "default-src 'self'; script-src 'self'; style-src 'self';"
            f" connect-src 'self' {self.sign_in_origin}; frame-ancestors 'none'"
        )

    def method_arn(self, method: str, path: str) -> str:
        return f"arn:aws:execute-api:{self.region}:{ACCOUNT}:{API_ID}/{STAGE}/{method}{path}"

    def authorizer_event(self, request: Request, path: str, prefix: str) -> dict[str, Any]:
        """A REST API REQUEST authorizer's input (the parts an authorizer reads)."""
        headers = dict(request.headers)
        request_id = str(uuid.uuid4())
        return {
            "type": "REQUEST",
            "methodArn": self.method_arn(request.method, path),
            "resource": f"/{prefix}/{{proxy+}}" if path != f"/{prefix}" else f"/{prefix}",
            "path": path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            "queryStringParameters": dict(request.query_params) or None,
            "pathParameters": {"proxy": rest} if (rest := path[len(prefix) + 2 :]) else None,
            "stageVariables": None,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": API_ID,
                "stage": STAGE,
                "path": f"/{STAGE}{path}",
                "httpMethod": request.method,
                "requestId": request_id,
                "identity": {"sourceIp": request.client.host if request.client else ""},
            },
        }

    async def authorize(self, request: Request, path: str, prefix: str) -> Mapping[str, Any]:
        """The authorizer's context for an allowed request; GatewayError otherwise."""
        if not request.headers.get("authorization", "").strip():
            raise _Refused(UNAUTHORIZED)
        event = self.authorizer_event(request, path, prefix)
        try:
            result = await run_in_threadpool(self.authorizer, event, None)
        except Exception as error:
            refused = UNAUTHORIZED if str(error) == "Unauthorized" else AUTHORIZER_FAILURE
            raise _Refused(refused) from None
        try:
            decision = evaluate(result["policyDocument"], event["methodArn"])
        except (KeyError, TypeError, PolicyError):
            raise _Refused(AUTHORIZER_FAILURE) from None
        if decision is not Decision.ALLOW:
            raise _Refused(FORBIDDEN)
        context: Mapping[str, Any] = result.get("context") or {}
        return context

    async def api(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        prefix = path.split("/")[1]
        base = self.services.get(prefix)
        if base is None:
            return ROUTE_NOT_FOUND.response()
        try:
            context = await self.authorize(request, path, prefix)
        except _Refused as refused:
            return refused.error.response()
        headers = {
            name: value
            for name, value in request.headers.items()
            if name not in HOP_BY_HOP and not name.startswith("x-user-")
        }
        headers |= {
            "X-User-Id": str(context.get("userId", "")),
            "X-User-Roles": str(context.get("roles", "")),
        }
        async with httpx.AsyncClient(timeout=29) as client:  # API Gateway's integration limit
            try:
                upstream = await client.request(
                    request.method,
                    f"{base}{path}?{request.url.query}" if request.url.query else base + path,
                    headers=headers,
                    content=await request.body(),
                )
            except httpx.HTTPError:
                return BAD_GATEWAY.response()
        passed = {
            name: value
            for name, value in upstream.headers.items()
            if name not in HOP_BY_HOP | {"content-length", "content-encoding", "date", "server"}
        }
        return Response(upstream.content, upstream.status_code, headers=passed)

    def _site_headers(self, cache: str) -> dict[str, str]:
        return {
            "Cache-Control": cache,
            "Content-Security-Policy": self.content_security_policy,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "strict-origin-when-cross-origin",
            "X-Frame-Options": "DENY",
        }

    async def config(self, _: Request) -> Response:
        return JSONResponse(dict(self.site_config), headers=self._site_headers(NO_CACHE))

    async def site(self, request: Request) -> Response:
        """A file of the site, else index.html (the SPA fallback CloudFront's function does)."""
        root = self.site_dir.resolve()
        wanted = (root / request.path_params["path"]).resolve()
        if not wanted.is_file() or not wanted.is_relative_to(root):
            wanted = root / "index.html"
        hashed = wanted.relative_to(root).parts[0] == HASHED_ASSETS
        cache = IMMUTABLE if hashed else NO_CACHE
        return FileResponse(wanted, headers=self._site_headers(cache))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(f"/{STAGE}/{{path:path}}", self.api, methods=[m.value for m in HTTPMethod]),
                Route("/config.json", self.config, methods=["GET"]),
                Route("/{path:path}", self.site, methods=["GET"]),
            ]
        )


class _Refused(Exception):  # noqa: N818  # a control-flow signal carrying the answer
    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


def site_config(client_id: str, issuer_url: str) -> dict[str, str]:
    """``/config.json`` as the web stack writes it (site_app reads it at start)."""
    return {
        "apiBase": f"/{STAGE}",
        "clientId": client_id,
        "authorizeUrl": f"{issuer_url}/oauth2/authorize",
        "tokenUrl": f"{issuer_url}/oauth2/token",
        "logoutUrl": f"{issuer_url}/logout",
        "scopes": "openid email profile",
    }
