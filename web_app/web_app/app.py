"""The page: list, add and delete items through the private API; ``/healthz`` and
``/healthz/deep`` for the load balancer and the canary."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import boto3
import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from web_app.api_client import ApiRejectedError, ApiUnavailableError, ItemsApi, TokenCache
from web_app.pages import csrf_page, error_page, page
from web_app.sessions import Session, SessionStore
from web_app.settings import Settings

logger = logging.getLogger("web_app")
SESSION_COOKIE = "sid"
Handler = Callable[[Request], Awaitable[Response]]


def create_app(settings: Settings, *, http: httpx.Client | None = None) -> Starlette:
    http = http or httpx.Client()
    tokens = TokenCache(
        http,
        token_url=settings.api_token_url,
        client_id=settings.api_client_id,
        client_secret=settings.api_client_secret,
        scopes=settings.api_scopes,
    )
    api = ItemsApi(http, base_url=settings.api_base_url, tokens=tokens)
    dynamodb = boto3.resource("dynamodb", endpoint_url=settings.dynamodb_endpoint_url)
    store = SessionStore(
        dynamodb.Table(settings.session_table), ttl_seconds=settings.session_ttl_seconds
    )

    async def session_of(request: Request) -> tuple[Session, bool]:
        found = await run_in_threadpool(store.load, request.cookies.get(SESSION_COOKIE))
        if found is not None:
            return found, False
        return await run_in_threadpool(store.create), True

    def with_cookie(response: Response, request: Request, session: Session) -> Response:
        secure = request.headers.get("x-forwarded-proto", request.url.scheme) == "https"
        response.set_cookie(
            SESSION_COOKIE,
            session.session_id,
            max_age=settings.session_ttl_seconds,
            httponly=True,
            secure=secure,
            samesite="lax",
        )
        return response

    async def index(request: Request) -> Response:
        session, _ = await session_of(request)
        try:
            items = await run_in_threadpool(api.list_items)
        except (ApiUnavailableError, ApiRejectedError) as error:
            return with_cookie(error_page(error), request, session)
        shown = page(items, session.csrf_token, session.flash, session.field_errors)
        session.flash, session.field_errors = "", {}  # shown once
        await run_in_threadpool(store.save, session)
        return with_cookie(HTMLResponse(shown), request, session)

    async def add(request: Request) -> Response:
        session, fresh = await session_of(request)
        form = await request.form()
        if fresh or form.get("csrf") != session.csrf_token:
            return with_cookie(csrf_page(), request, session)
        name = str(form.get("name", "")).strip()
        description = str(form.get("description", "")).strip()
        try:
            item = await run_in_threadpool(api.create_item, name, description)
        except ApiRejectedError as error:
            session.flash = f"Not added: {error.explanation}"
            session.field_errors = error.field_errors
        except ApiUnavailableError as error:
            return with_cookie(error_page(error), request, session)
        else:
            session.flash = f"Added “{item['name']}”."
        await run_in_threadpool(store.save, session)
        return with_cookie(RedirectResponse("/", status_code=303), request, session)

    async def delete(request: Request) -> Response:
        session, fresh = await session_of(request)
        form = await request.form()
        if fresh or form.get("csrf") != session.csrf_token:
            return with_cookie(csrf_page(), request, session)
        try:
            await run_in_threadpool(api.delete_item, request.path_params["item_id"])
        except ApiRejectedError as error:
            session.flash = f"Not deleted: {error.message}"
        except ApiUnavailableError as error:
            return with_cookie(error_page(error), request, session)
        else:
            session.flash = "Deleted."
        await run_in_threadpool(store.save, session)
        return with_cookie(RedirectResponse("/", status_code=303), request, session)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def healthz_deep(_: Request) -> Response:
        """One authenticated round trip: web -> private API -> database."""
        try:
            health = await run_in_threadpool(api.health)
        except (ApiUnavailableError, ApiRejectedError) as error:
            logger.warning("deep health check failed: %s", error)
            return JSONResponse({"status": "unavailable", "api": str(error)}, status_code=503)
        return JSONResponse({"status": "ok", "api": health})

    health_path = settings.health_path.rstrip("/") or "/healthz"
    return Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/items", add, methods=["POST"]),
            Route("/items/{item_id}/delete", delete, methods=["POST"]),
            Route(health_path, healthz, methods=["GET"]),
            Route(f"{health_path}/deep", healthz_deep, methods=["GET"]),
        ]
    )


def main() -> Starlette:
    """The ASGI app for uvicorn (``uvicorn --factory web_app.app:main``)."""
    logging.basicConfig(level=logging.INFO)
    return create_app(Settings.from_environment())
