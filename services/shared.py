"""What both reference services share: the platform's error shape, ``Cache-Control: no-store``
on every answer (responses carry one user's data), and the caller API Gateway names.

The services sit behind an internal NLB that only API Gateway's VPC link reaches, and API
Gateway sets ``X-User-Id`` / ``X-User-Roles`` from the Lambda authorizer's context (overwriting
whatever a client sent), so the services trust those headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

USER_ID_HEADER = "X-User-Id"
USER_ROLES_HEADER = "X-User-Roles"


class ErrorCode(StrEnum):
    UNAUTHORIZED = "UNAUTHORIZED"
    ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
    INTERNAL_ERROR = "INTERNAL_ERROR"


@dataclass(frozen=True)
class Caller:
    user_id: str
    roles: tuple[str, ...]

    @classmethod
    def from_headers(cls, headers: Headers) -> Caller | None:
        """The caller API Gateway names, or None (a request that did not come through it)."""
        user_id = headers.get(USER_ID_HEADER, "").strip()
        if not user_id:
            return None
        roles = headers.get(USER_ROLES_HEADER, "")
        return cls(user_id, tuple(role for role in (r.strip() for r in roles.split(",")) if role))


def error(status: HTTPStatus, code: ErrorCode, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code.value, "message": message}}, status_code=status)


def unauthorized() -> JSONResponse:
    return error(HTTPStatus.UNAUTHORIZED, ErrorCode.UNAUTHORIZED, "no caller: call through the API")


async def healthz(_: Request) -> Response:
    """The NLB's health check: the process answers (no database, no caller)."""
    return JSONResponse({"status": "ok"})


async def _http_error(_: Request, exc: Exception) -> Response:
    status = HTTPStatus(exc.status_code if isinstance(exc, HTTPException) else 500)
    if status in (HTTPStatus.NOT_FOUND, HTTPStatus.METHOD_NOT_ALLOWED):
        return error(HTTPStatus.NOT_FOUND, ErrorCode.ROUTE_NOT_FOUND, "no such route")
    return error(HTTPStatus.INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL_ERROR, "internal error")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: _http_error,
    Exception: _http_error,
}
"""Starlette's own 404/405 (plain text by default) and any crash, in the platform's shape."""


class NoStore:
    """ASGI middleware: ``Cache-Control: no-store`` on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_no_store)
