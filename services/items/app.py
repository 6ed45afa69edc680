"""The ``items`` service: the items API package (``lambda_src/api``, imported as ``api``) served
over HTTP, each request turned into the API Gateway REST proxy event its handler expects.

API Gateway forwards ``/api/items...`` to ``http://<nlb>:8080/items...`` (the stage stripped),
with the caller in ``X-User-Id`` / ``X-User-Roles``; the event carries them as a Lambda
authorizer's ``requestContext.authorizer`` would (``principalId`` and the context fields), and
``requestContext.path`` keeps the public ``/api`` prefix, so ``Location`` headers are the paths
the browser uses. The event itself comes from ``devkit.events.proxy_event`` (standard library
only; the image copies that one module), so the service and ``make local`` build the same one.

Database settings: the Lambda's DB_* variables (see ``api.db``). Routes: ``GET /healthz``
(no database), the handler's own ``GET /health``, and everything the handler serves. Requests
run one at a time, as in one Lambda environment; the handler logs each one with the caller
(``user_id`` and ``roles`` from the authorizer's context) and the request's correlation id.
Run: ``uvicorn --factory services.items.app:main --port 8080`` (the image's command).
"""

from __future__ import annotations

import base64
import re
import threading
from http import HTTPMethod
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.routes import API_ROUTES, HEALTH
from devkit.events import proxy_event
from services.shared import EXCEPTION_HANDLERS, Caller, NoStore, healthz, unauthorized

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

PUBLIC_STAGE = "api"
"""The REST API's stage: the browser's paths start with it (CloudFront's ``/api/*``)."""
SERVICE_NAME = "items-service"

_RESOURCES = [
    (route.path, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", route.path) + "$"))
    for route in API_ROUTES
]


def _resource(path: str) -> tuple[str, dict[str, str] | None]:
    """The API resource a path hits and its path parameters (the handler routes on the path
    itself; these make the event and its log line complete)."""
    for resource, pattern in _RESOURCES:
        if found := pattern.match(path):
            return resource, found.groupdict() or None
    return path, None


def _body(raw: bytes) -> tuple[str | None, bool]:
    """(body, is_base64) as API Gateway passes it: text, or base64 for non-UTF-8 bytes."""
    if not raw:
        return None, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), True


def lambda_context(request_id: str) -> LambdaContext:
    """What the handler's logger reads from a Lambda context, naming this service."""
    from aws_lambda_powertools.utilities.typing import LambdaContext

    context = LambdaContext()
    context._function_name = SERVICE_NAME
    context._function_version = "container"
    context._memory_limit_in_mb = 0
    context._invoked_function_arn = ""
    context._aws_request_id = request_id
    return context


def event_for(request: Request, raw_body: bytes, caller: Caller | None) -> dict[str, Any]:
    path = request.url.path
    resource, path_parameters = _resource(path)
    body, is_base64 = _body(raw_body)
    event = proxy_event(
        request.method,
        path,
        resource=resource,
        path_parameters=path_parameters,
        body=body,
        headers=dict(request.headers),
        query=dict(request.query_params),
        claims={},
    )
    event["isBase64Encoded"] = is_base64
    authorizer = (
        {"principalId": caller.user_id, "userId": caller.user_id, "roles": ",".join(caller.roles)}
        if caller
        else {}
    )
    event["requestContext"].update(
        stage=PUBLIC_STAGE, path=f"/{PUBLIC_STAGE}{path}", authorizer=authorizer
    )
    return event


def _response(result: dict[str, Any]) -> Response:
    """The handler's proxy result as HTTP (its headers may come in either of the two maps)."""
    headers = {
        k: ", ".join(map(str, v)) for k, v in (result.get("multiValueHeaders") or {}).items()
    }
    headers |= {k: str(v) for k, v in (result.get("headers") or {}).items()}
    body = result.get("body") or ""
    return Response(
        content=base64.b64decode(body) if result.get("isBase64Encoded") else body,
        status_code=int(result["statusCode"]),
        headers=headers,
    )


def create_app() -> Starlette:
    """The items API's handler module is imported here, once the environment is set."""
    from api import handler

    lock = threading.Lock()

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        """One request at a time, as one Lambda environment runs: the handler's database
        connection and its logger's per-request keys are not shared between threads."""
        with lock:
            context = lambda_context(str(event["requestContext"]["requestId"]))
            result: dict[str, Any] = handler.lambda_handler(event, context)
            return result

    async def proxy(request: Request) -> Response:
        caller = Caller.from_headers(request.headers)
        if caller is None and request.url.path != HEALTH.path:
            return unauthorized()
        event = event_for(request, await request.body(), caller)
        return _response(await run_in_threadpool(invoke, event))

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/{path:path}", proxy, methods=[m.value for m in HTTPMethod]),
        ],
        middleware=[Middleware(NoStore)],
        exception_handlers=EXCEPTION_HANDLERS,
    )


def use_task_role() -> None:
    """Sign the database's IAM tokens with the task role. The package's own signer reads the
    credentials Lambda puts in the environment; an ECS task has none there, only its
    credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), which boto3's credential
    chain reads and refreshes
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html).
    boto3's RDS client is the seam's model: the same ``generate_db_auth_token`` call."""
    import boto3

    from api import db

    db.IamTokenSigner = lambda *, region_name: boto3.session.Session(  # type: ignore[assignment,misc]
        region_name=region_name
    ).client("rds")


def main() -> Starlette:
    """uvicorn's ``--factory`` entry point in the image."""
    use_task_role()
    return create_app()
