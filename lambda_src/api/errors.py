"""The one error shape every failing response has: {"error": {"code", "message", "details"?}}."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any


class ApiError(Exception):
    """A client-facing failure; the handler turns it into a JSON response with its status."""

    def __init__(
        self,
        status: HTTPStatus,
        code: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(
    code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`details` is left out when there are none, so clients can test for the key."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def validation_error(details: Iterable[Mapping[str, str]]) -> ApiError:
    """The 422 for input the models reject; each detail names location, field, type and message
    (never the input itself)."""
    return ApiError(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "VALIDATION_ERROR",
        "the request is not valid",
        details=[dict(detail) for detail in details],
    )
