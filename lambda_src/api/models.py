"""What clients may send, checked before any SQL runs (Powertools validates routes against it).

The limits repeat the CHECK constraints of `items` (migration 0001), so a bad request is a 422
that names the field rather than a database error. This is their one place: the API stack
generates API Gateway's request models from these models. Bodies are strict: unknown fields,
wrong JSON types (a string for `version`, `true` for a number) and text PostgreSQL cannot store
(NUL, lone surrogates; refused on MySQL too, so both engines store the same) are all rejected.
`name` loses leading and trailing whitespace, so "  x " is stored as "x" and a whitespace-only
name is blank; `description` is kept exactly as sent.
"""

from __future__ import annotations

import base64
import binascii
import json
from http import HTTPStatus
from typing import Annotated, Any, NoReturn

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from .errors import ApiError

NAME_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 2000
VERSION_MAX = 2**31 - 1
"""`items.version` is a signed 32-bit integer (PostgreSQL's integer, MySQL's INT)."""
MAX_BODY_BYTES = 16 * 1024
_MAX_BASE64_CHARS = (MAX_BODY_BYTES + 2) // 3 * 4
LIMIT_DEFAULT = 20
LIMIT_MAX = 100


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL. (Unpaired surrogates, which UTF-8 cannot encode,
    pydantic rejects itself as string_unicode.)"""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX_LENGTH),
    AfterValidator(_no_nul),
]
Description = Annotated[
    str, StringConstraints(max_length=DESCRIPTION_MAX_LENGTH), AfterValidator(_no_nul)
]
Version = Annotated[int, Field(ge=1, le=VERSION_MAX)]


class NewItem(BaseModel):
    """POST /items."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: Name
    description: Description = ""


class ItemUpdate(BaseModel):
    """PUT /items/{id}: a full replacement, so every field is required; `version` is the one
    the client read (optimistic locking)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: Name
    description: Description
    version: Version


class ListQuery(BaseModel):
    """GET /items query string. Lax: query values are strings; other parameters are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    limit: Annotated[int, Field(ge=1, le=LIMIT_MAX)] = LIMIT_DEFAULT
    cursor: str | None = None


def parse_json_body(body: str | None, *, is_base64: bool) -> Any:
    """The JSON value of a request body, after checking its size (413) and syntax (400)."""
    if body is None or body == "":
        _malformed("a JSON body is required")
    if is_base64:
        # Checked on the encoded text first, so an oversized body is never decoded.
        if len(body) > _MAX_BASE64_CHARS:
            _too_large()
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            _malformed("the body is not valid base64")
        if len(raw) > MAX_BODY_BYTES:
            _too_large()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            _malformed("the body is not UTF-8")
    else:
        # UTF-8 never has fewer bytes than characters: the cheap test first.
        if len(body) > MAX_BODY_BYTES or len(body.encode("utf-8", "surrogatepass")) > (
            MAX_BODY_BYTES
        ):
            _too_large()
        text = body
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        # JSONDecodeError, NaN/Infinity, integers past Python's digit limit, deep nesting.
        _malformed("the body is not valid JSON")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _malformed(message: str) -> NoReturn:
    raise ApiError(HTTPStatus.BAD_REQUEST, "MALFORMED_JSON", message)


def _too_large() -> NoReturn:
    raise ApiError(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        f"the body must be at most {MAX_BODY_BYTES} bytes",
    )
