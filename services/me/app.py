"""The ``me`` service: who the caller is, as API Gateway's authorizer named them.

``GET /me`` -> ``{"userId": ..., "roles": [...]}``; ``GET /healthz`` for the NLB.
Run: ``uvicorn services.me.app:app --port 8081``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.shared import EXCEPTION_HANDLERS, Caller, NoStore, healthz, unauthorized


async def me(request: Request) -> Response:
    caller = Caller.from_headers(request.headers)
    if caller is None:
        return unauthorized()
    return JSONResponse({"userId": caller.user_id, "roles": list(caller.roles)})


def create_app() -> Starlette:
    return Starlette(
        routes=[Route("/healthz", healthz), Route("/me", me)],
        middleware=[Middleware(NoStore)],
        exception_handlers=EXCEPTION_HANDLERS,
    )


app = create_app()
