"""Routes by role (``ROUTE_ROLES``): ``{"<METHOD> /<prefix>[/<path>]": ["role", ...]}``.

A rule allows its method (``*``: any) on its path and everything below it; a route no rule names
is refused to everyone. Standard library only: the CDK config validation imports these rules so
that config and function can never disagree on what a route key or a role name is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Method(StrEnum):
    """The methods a route key may name; ``*`` is any (API Gateway's ARN wildcard)."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    ANY = "*"


_METHODS = " ".join(method.value for method in Method)
ROUTE_KEY_RULE = f"'<METHOD> /<prefix>[/<path>]', METHOD one of {_METHODS}, prefix [a-z][a-z0-9-]*"
"""What a route key may be, in the words every error message uses."""
_ROUTE_KEY = re.compile(
    r"(?P<method>GET|POST|PUT|PATCH|DELETE|\*) "
    r"/(?P<prefix>[a-z][a-z0-9-]{0,30}(?:/[A-Za-z0-9._-]+)*)"
)
ROLE_NAME_RULE = "[a-z][a-z0-9_-]{0,31}"
_ROLE_NAME = re.compile(ROLE_NAME_RULE)


@dataclass(frozen=True)
class RouteRule:
    """One ``ROUTE_ROLES`` entry: ``method`` on ``/<prefix>`` and below, for ``roles``."""

    method: Method
    prefix: str
    """The path without its leading slash: ``items`` or ``items/reports``."""
    roles: frozenset[str]

    def allows(self, roles: Iterable[str]) -> bool:
        """Whether a caller holding ``roles`` may use this route."""
        return not self.roles.isdisjoint(roles)

    def covers(self, method: str, path: str) -> bool:
        """Whether a request (``GET``, ``items/42``: no leading slash) is on this route."""
        on_method = self.method is Method.ANY or method == self.method.value
        return on_method and (path == self.prefix or path.startswith(f"{self.prefix}/"))


def parse_route_key(key: str) -> tuple[Method, str]:
    """``"GET /items"`` -> ``(Method.GET, "items")``; ValueError (one line) for anything else."""
    found = _ROUTE_KEY.fullmatch(key) if isinstance(key, str) else None
    if found is None:
        raise ValueError(f"{key!r} is not a route: {ROUTE_KEY_RULE}")
    return Method(found["method"]), found["prefix"]


def parse_role_name(name: object) -> str:
    """A role name as written, or ValueError naming what is allowed."""
    if not isinstance(name, str) or _ROLE_NAME.fullmatch(name) is None:
        raise ValueError(f"{name!r} is not a role name: {ROLE_NAME_RULE}")
    return name


def parse_route_roles(value: str | Mapping[str, object]) -> tuple[RouteRule, ...]:
    """The rules of a ``ROUTE_ROLES`` JSON text (or the mapping itself), in its order; a
    ValueError (one line) names the first bad key or role."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("ROUTE_ROLES is not JSON: a {route key: [role, ...]} object") from None
    if not isinstance(value, Mapping):
        raise ValueError("ROUTE_ROLES is not a {route key: [role, ...]} object")
    rules = []
    for key, roles in value.items():
        method, prefix = parse_route_key(key)
        if isinstance(roles, str) or not isinstance(roles, Iterable):
            raise ValueError(f"route {key!r}: roles are not a list of role names")
        rules.append(RouteRule(method, prefix, frozenset(parse_role_name(r) for r in roles)))
    return tuple(rules)
