"""API Gateway REST proxy events, a Lambda context and a fake IAM token source, for the
benchmarks and the local API server.

Kept free of imports beyond the standard library and Powertools' context type, so the cold-start
probe imports nothing here that the function itself would not.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

STAGE = "v1"


class FakeRds:
    """The handler's IAM token signer (``api.db.IamTokenSigner``, boto3's RDS call): a local
    server trusts its socket, so the token is a fixed string."""

    def __init__(self) -> None:
        self.calls = 0

    def generate_db_auth_token(self, **_kwargs: Any) -> str:
        self.calls += 1
        return "fake-iam-token"


def proxy_event(
    method: str,
    path: str,
    *,
    resource: str,
    path_parameters: dict[str, str] | None,
    body: str | None,
    headers: dict[str, str],
    query: dict[str, str] | None,
    claims: dict[str, str],
) -> dict[str, Any]:
    """The API Gateway REST proxy event the stage sends for one request."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "resourcePath": resource,
            "requestId": str(uuid.uuid4()),
            "httpMethod": method,
            "authorizer": {"claims": claims},
        },
    }


def rest_event(method: str, path: str, body: str | None = None) -> dict[str, Any]:
    is_item = path.startswith("/items/")
    return proxy_event(
        method,
        path,
        resource="/items/{id}" if is_item else path,
        path_parameters={"id": path.rsplit("/", 1)[1]} if is_item else None,
        body=body,
        headers={"Content-Type": "application/json"},
        query=None,
        claims={"client_id": "bench-client", "scope": "items/write"},
    )


def lambda_context() -> LambdaContext:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    context = LambdaContext()
    context._function_name = "items-api"
    context._function_version = "$LATEST"
    context._memory_limit_in_mb = 512
    context._invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:items-api"
    context._aws_request_id = str(uuid.uuid4())
    return context
