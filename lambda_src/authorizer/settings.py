"""The authorizer's environment variables (see the contract in the package's function docs):
``ISSUER``, ``JWKS_URL`` (default ``<ISSUER>/.well-known/jwks.json``), ``CLIENT_IDS`` or
``CLIENT_IDS_PARAMETER``, ``ROLE_TABLE``, ``ROUTE_ROLES``."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .aws import client_ids_from_parameter, parse_client_ids
from .reasons import Reason, RejectedError
from .routes import RouteRule, parse_route_roles


@dataclass(frozen=True)
class Settings:
    issuer: str
    jwks_url: str
    client_ids: Callable[[], frozenset[str]]
    role_table: str
    rules: tuple[RouteRule, ...]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """RejectedError(MISCONFIGURED) when a variable is missing or ROUTE_ROLES is bad."""
        issuer = environ.get("ISSUER", "").rstrip("/")
        role_table = environ.get("ROLE_TABLE", "")
        listed, parameter = environ.get("CLIENT_IDS", ""), environ.get("CLIENT_IDS_PARAMETER", "")
        if not issuer or not role_table or not (listed or parameter):
            detail = "ISSUER, ROLE_TABLE and CLIENT_IDS or CLIENT_IDS_PARAMETER are required"
            raise RejectedError(Reason.MISCONFIGURED, detail=detail)
        if listed:
            ids = parse_client_ids(listed)
            client_ids: Callable[[], frozenset[str]] = lambda: ids  # noqa: E731
        else:
            client_ids = functools.partial(client_ids_from_parameter, parameter)
        jwks_url = environ.get("JWKS_URL") or f"{issuer}/.well-known/jwks.json"
        if not jwks_url.startswith(("https://", "http://")):
            raise RejectedError(Reason.MISCONFIGURED, detail="the JWKS URL is not http(s)")
        return cls(
            issuer=issuer,
            jwks_url=jwks_url,
            client_ids=client_ids,
            role_table=role_table,
            rules=_rules(environ.get("ROUTE_ROLES", "")),
        )


@functools.lru_cache(maxsize=4)
def _rules(text: str) -> tuple[RouteRule, ...]:
    """ROUTE_ROLES parsed once per execution environment (it never changes within one)."""
    try:
        return parse_route_roles(text)
    except ValueError as error:
        raise RejectedError(Reason.MISCONFIGURED, detail=str(error)) from None
