"""Lambda entry point of the items API (`api.handler.lambda_handler`), API Gateway REST proxy.

The stage's Cognito authorizer has already checked the token and its scope; the function logs
the caller's `client_id` claim and trusts the rest. Powertools validates every route's path,
query and body against the models (`routes`, `models`) before the route runs, and one exception
handler turns what it rejects into this API's 422. Every response is JSON; every failure has the
shape {"error": {"code", "message", "details"?}} (see `errors`), and input never causes a 500.

API Gateway answers every method or path outside `routes.API_ROUTES` itself (404
`ROUTE_NOT_FOUND`, see the private API construct), so such a request never reaches this
function; the resolver's not-found answer says the same.

Environment: see `db` for the database; POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE name the logs and metrics.
"""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from . import items, routes
from .db import DatabaseUnavailableError, Session, database
from .errors import ApiError, error_body, validation_error
from .models import ItemUpdate, ListQuery, NewItem, parse_json_body
from .sql import CheckViolation, DatabaseError, QueryCanceled

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.types import EventHandlerInstance
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
# No auto-patching: it imports every library X-Ray supports (slower cold start) and would wrap
# the database connection; the SQL is traced below as subsegments instead.
tracer = Tracer(auto_patch=False)
metrics = Metrics()

# Reads emit no business metric; the EMF flush would warn on every one of them.
warnings.filterwarnings("ignore", message="No application metrics to publish")

T = TypeVar("T")
Handler = TypeVar("Handler", bound=Callable[..., Any])
_INTERNAL_ERROR = error_body("INTERNAL_ERROR", "internal error")


class _JsonBodyValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, reading every body by this API's rules whatever its
    Content-Type: at most 16 KiB, base64 when API Gateway says so, strict JSON
    (`models.parse_json_body`, a 413 or 400 before any model runs)."""

    def _get_body(self, app: EventHandlerInstance) -> Any:
        event = app.current_event
        return parse_json_body(event.body, is_base64=bool(event.is_base64_encoded))


app = APIGatewayRestResolver(enable_validation=True)
# Powertools' own hook for reading the body: the middleware's body reader, replaced as a whole.
app._request_validation_middleware = _JsonBodyValidation()  # type: ignore[no-untyped-call]


def _route(route: routes.ApiRoute) -> Callable[[Handler], Handler]:
    """`app.route` for a route of the table, typed."""
    register: Callable[[Handler], Handler] = app.route(route.rule, route.method.value)
    return register


def _on_error(
    exc_class: type[Exception],
) -> Callable[[Callable[[Any], Response[Any]]], Callable[[Any], Response[Any]]]:
    """`app.exception_handler`, typed."""
    register: Callable[[Callable[[Any], Response[Any]]], Callable[[Any], Response[Any]]]
    register = app.exception_handler(exc_class)
    return register


def _json(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers=headers,
    )


ItemId = Annotated[uuid.UUID, Path(alias="id")]
"""The ``{id}`` of the item routes; anything but a UUID is a 422 before the route runs."""


def _not_found_item(item_id: uuid.UUID) -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, "ITEM_NOT_FOUND", f"item {item_id} does not exist")


def _item_location(item_id: uuid.UUID) -> str:
    """The path the client used (with the stage, or a custom domain's base path) plus the id."""
    event = app.current_event
    collection = (event.get("requestContext") or {}).get("path") or event.path
    return f"{collection.rstrip('/')}/{item_id}"


# --- routes --------------------------------------------------------------------------------


@_route(routes.HEALTH)
def health() -> Response[Any]:
    try:
        database().run(items.ping)
    except (DatabaseUnavailableError, DatabaseError):
        logger.exception("health check: the database did not answer")
        return _json(
            HTTPStatus.SERVICE_UNAVAILABLE,
            {
                "status": "unavailable",
                "database": "unreachable",
                **error_body("DATABASE_UNAVAILABLE", "the database did not answer"),
            },
        )
    return _json(HTTPStatus.OK, {"status": "ok", "database": "ok"})


@_route(routes.LIST_ITEMS)
def list_items(query: Annotated[ListQuery, Query()]) -> Response[Any]:
    after = items.decode_cursor(query.cursor) if query.cursor is not None else None
    page = _traced_db("list_items", lambda s: items.list_items(s, limit=query.limit, after=after))
    return _json(
        HTTPStatus.OK,
        {"items": [item.to_json() for item in page.items], "next_cursor": page.next_cursor},
    )


@_route(routes.CREATE_ITEM)
def create_item(payload: Annotated[NewItem, Body()]) -> Response[Any]:
    item_id = uuid.uuid4()
    item = _traced_db(
        "create_item",
        lambda s: items.create_item(s, item_id, payload.name, payload.description),
    )
    metrics.add_metric(name="ItemsCreated", unit=MetricUnit.Count, value=1)
    return _json(HTTPStatus.CREATED, item.to_json(), {"Location": _item_location(item.id)})


@_route(routes.GET_ITEM)
def get_item(item_id: ItemId) -> Response[Any]:
    item = _traced_db("get_item", lambda s: items.get_item(s, item_id))
    if item is None:
        raise _not_found_item(item_id)
    return _json(HTTPStatus.OK, item.to_json())


@_route(routes.UPDATE_ITEM)
def update_item(item_id: ItemId, payload: Annotated[ItemUpdate, Body()]) -> Response[Any]:
    result = _traced_db(
        "update_item",
        lambda s: items.update_item(
            s, item_id, name=payload.name, description=payload.description, version=payload.version
        ),
    )
    if result.item is not None:
        metrics.add_metric(name="ItemsUpdated", unit=MetricUnit.Count, value=1)
        return _json(HTTPStatus.OK, result.item.to_json())
    if result.current_version is None:
        raise _not_found_item(item_id)
    metrics.add_metric(name="VersionConflicts", unit=MetricUnit.Count, value=1)
    raise ApiError(
        HTTPStatus.CONFLICT,
        "VERSION_CONFLICT",
        f"item {item_id} is at version {result.current_version}, not {payload.version}:"
        " read it again and retry",
        details=[{"current_version": result.current_version}],
    )


@_route(routes.DELETE_ITEM)
def delete_item(item_id: ItemId) -> Response[Any]:
    if not _traced_db("delete_item", lambda s: items.delete_item(s, item_id)):
        raise _not_found_item(item_id)
    metrics.add_metric(name="ItemsDeleted", unit=MetricUnit.Count, value=1)
    return Response(status_code=HTTPStatus.NO_CONTENT, content_type=None, body="")


def _traced_db(name: str, work: Callable[[Session], T]) -> T:
    """`work` through the shared connection, as an X-Ray subsegment (data not recorded)."""
    with tracer.provider.in_subsegment(f"## db {name}"):
        return database().run(work)


# --- errors --------------------------------------------------------------------------------


def _details(exc: RequestValidationError) -> Iterator[dict[str, str]]:
    """Powertools' errors in this API's terms: ``location`` (path, query, body) and the field
    the client sent. Powertools puts a query model's parameter name first (the client never
    sent it) and validates bodies with ``from_attributes``, so a body that is not a JSON object
    (``null`` included) is reported here as pydantic's ``model_type``."""
    for error in exc.errors():
        location, *field = (str(part) for part in error["loc"])
        if location == "query":
            field = field[1:]
        kind = error["type"]
        if location == "body" and not field and kind in ("missing", "model_attributes_type"):
            kind = "model_type"
        yield {
            "location": location,
            "field": ".".join(field) or location,
            "type": kind,
            "message": error["msg"],
        }


@_on_error(RequestValidationError)
def _invalid_request(exc: RequestValidationError) -> Response[Any]:
    return _api_error(validation_error(_details(exc)))


@_on_error(ApiError)
def _api_error(exc: ApiError) -> Response[Any]:
    return _json(exc.status, exc.body(), exc.headers)


@app.not_found
def _no_route(_: NotFoundError) -> Response[Any]:
    path = app.current_event.path
    return _json(HTTPStatus.NOT_FOUND, error_body("ROUTE_NOT_FOUND", f"no route for {path}"))


@_on_error(CheckViolation)
def _check_violation(exc: CheckViolation) -> Response[Any]:
    """The models mirror the table's CHECK constraints, but the engine's idea of whitespace
    (PostgreSQL's depends on the database's locale, MySQL's REGEXP on the engine) may differ from
    Python's, and a constraint may be newer than this code: still the client's input, so still a
    422."""
    constraint = exc.constraint_name or ""
    field = "description" if "description" in constraint else "name"
    logger.warning("a CHECK constraint rejected input the models accepted", constraint=constraint)
    detail = {"location": "body", "field": field, "type": "constraint", "message": "not allowed"}
    return _api_error(validation_error([detail]))


def _retry_later(*, code: str, message: str) -> Response[Any]:
    """A 503 with Retry-After: the database trouble passes, so the client should try again."""
    return _json(HTTPStatus.SERVICE_UNAVAILABLE, error_body(code, message), {"Retry-After": "1"})


@_on_error(QueryCanceled)
def _statement_timeout(_: QueryCanceled) -> Response[Any]:
    logger.warning("statement timeout", timeout_ms=database().settings.statement_timeout_ms)
    return _retry_later(
        code="DATABASE_TIMEOUT", message="the database did not answer in time; retry later"
    )


@_on_error(DatabaseUnavailableError)
def _database_unavailable(_: DatabaseUnavailableError) -> Response[Any]:
    logger.exception("database unavailable")
    return _retry_later(
        code="DATABASE_UNAVAILABLE", message="the database is unavailable; retry later"
    )


@_on_error(Exception)
def _unexpected(_: Exception) -> Response[Any]:
    logger.exception("unhandled error")
    return _json(HTTPStatus.INTERNAL_SERVER_ERROR, _INTERNAL_ERROR)


# --- entry point -----------------------------------------------------------------------------


def _caller_keys(event: Mapping[str, Any]) -> dict[str, str | None]:
    """Who called, for the request's log keys: the app client of a Cognito-authorized call
    (``claims.client_id``), or the user a Lambda authorizer named (``principalId``, the services
    API's shape, with its ``roles``)."""
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    authorizer = authorizer if isinstance(authorizer, dict) else {}
    claims = authorizer.get("claims")
    claims = claims if isinstance(claims, dict) else {}

    def text(value: Any) -> str | None:
        return value if isinstance(value, str) and value else None

    return {
        "client_id": text(claims.get("client_id")),
        "user_id": text(authorizer.get("principalId")),
        "roles": text(authorizer.get("roles")),
    }


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.perf_counter()
    logger.append_keys(**_caller_keys(event))
    try:
        response = app.resolve(event, context)
    except Exception:
        # The routes' errors are handled above; this is the event itself being unusable.
        logger.exception("unhandled error outside the routes")
        response = {
            "statusCode": HTTPStatus.INTERNAL_SERVER_ERROR.value,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps(_INTERNAL_ERROR),
            "isBase64Encoded": False,
        }
    logger.info(
        "request",
        method=event.get("httpMethod"),
        resource=event.get("resource"),
        path=event.get("path"),
        status=response.get("statusCode"),
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return response
