"""The items API's routes, in one table: path, method, the token scope and the request models.

The API stack deploys exactly these (a Cognito authorizer with the scope, API Gateway models
generated from the body models, the query parameters of the query model), ``make local`` checks
the same scopes, and the handler serves them. Free of CDK and of the handler's runtime imports, so
all three can import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from http import HTTPMethod
from typing import TYPE_CHECKING

from .models import ItemUpdate, ListQuery, NewItem

if TYPE_CHECKING:
    from pydantic import BaseModel

RESOURCE_SERVER_ID = "api"
"""The Cognito resource server of the items API: scopes read ``api/items.read``."""


class ApiScope(StrEnum):
    """Scopes of the ``api`` resource server; reads need ``items.read``, writes ``items.write``."""

    ITEMS_READ = "items.read"
    ITEMS_WRITE = "items.write"

    @property
    def token_scope(self) -> str:
        """The scope as it appears in tokens and authorizers: ``api/items.read``."""
        return f"{RESOURCE_SERVER_ID}/{self.value}"


@dataclass(frozen=True)
class ApiRoute:
    """One route of the items API and the scope its token must carry."""

    path: str
    """``{x}`` marks a path parameter (API Gateway's notation)."""
    method: HTTPMethod
    scope: ApiScope
    body: type[BaseModel] | None = None
    """The JSON body's model; API Gateway validates a model generated from it."""
    query: type[BaseModel] | None = None
    """The query string's model; its fields are the route's (optional) query parameters."""

    @property
    def rule(self) -> str:
        """The path in Powertools' notation (``<x>`` for a path parameter)."""
        return self.path.replace("{", "<").replace("}", ">")


HEALTH = ApiRoute("/health", HTTPMethod.GET, ApiScope.ITEMS_READ)
LIST_ITEMS = ApiRoute("/items", HTTPMethod.GET, ApiScope.ITEMS_READ, query=ListQuery)
CREATE_ITEM = ApiRoute("/items", HTTPMethod.POST, ApiScope.ITEMS_WRITE, body=NewItem)
GET_ITEM = ApiRoute("/items/{id}", HTTPMethod.GET, ApiScope.ITEMS_READ)
UPDATE_ITEM = ApiRoute("/items/{id}", HTTPMethod.PUT, ApiScope.ITEMS_WRITE, body=ItemUpdate)
DELETE_ITEM = ApiRoute("/items/{id}", HTTPMethod.DELETE, ApiScope.ITEMS_WRITE)

API_ROUTES = (HEALTH, LIST_ITEMS, CREATE_ITEM, GET_ITEM, UPDATE_ITEM, DELETE_ITEM)
"""Every route; any other method or path is API Gateway's MISSING_AUTHENTICATION_TOKEN, which
the API answers as 404 ``ROUTE_NOT_FOUND``."""
