"""``make local``'s API server answers as the deployed stage does: API Gateway's route and
authorizer checks first (their statuses and error shape from the private API's gateway
responses), then the function's own code, whatever the body's bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http import HTTPStatus

import pytest
from starlette.testclient import TestClient

from api.routes import ApiScope
from cdk_constructs.private_api import ERROR_TEMPLATE, GATEWAY_ERRORS
from local_stack.api_server import api_app
from local_stack.tokens import TokenSigner
from tests.test_api_harness import WRONG_METHODS, Api
from tests.test_api_harness import api as api  # the fixture, re-exported (see devkit.fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

SIGNER = TokenSigner(b"local-test-key")
BOTH = frozenset(scope.token_scope for scope in ApiScope)
READ_ONLY = frozenset({ApiScope.ITEMS_READ.token_scope})


def bearer(scopes: frozenset[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {SIGNER.issue('local-test', scopes, 300)}"}


def gateway_error(response_type: str, message: str) -> dict[str, object]:
    """What the stage's DEFAULT_4XX template renders for an API Gateway error."""
    rendered = ERROR_TEMPLATE.replace("$context.error.responseType", response_type)
    body: dict[str, object] = json.loads(
        rendered.replace("$context.error.messageString", json.dumps(message))
    )
    return body


@pytest.fixture
def local(api: Api) -> Iterator[TestClient]:
    with TestClient(api_app(SIGNER), base_url="http://local/v1/") as client:
        yield client


@pytest.mark.parametrize("headers", [{}, bearer(BOTH)], ids=["no-token", "token"])
@pytest.mark.parametrize(
    ("method", "path"), [*WRONG_METHODS, ("GET", "/nope"), ("GET", "/items/a/b")]
)
def test_a_method_or_path_without_a_route_is_what_api_gateway_answers(
    local: TestClient, api: Api, headers: dict[str, str], method: str, path: str
) -> None:
    """API Gateway's MISSING_AUTHENTICATION_TOKEN, answered before any authorizer, as the
    private API's gateway response renders it (404 ROUTE_NOT_FOUND, never a 405)."""
    status, code = GATEWAY_ERRORS["MISSING_AUTHENTICATION_TOKEN"]

    response = local.request(method, path.lstrip("/"), json={"name": "x"}, headers=headers)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert api.rows() == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}],
    ids=["none", "bad", "not-bearer"],
)
def test_a_missing_or_bad_token_is_a_401_in_the_api_error_shape(
    local: TestClient, headers: dict[str, str]
) -> None:
    response = local.get("items", headers=headers)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == gateway_error("UNAUTHORIZED", "Unauthorized")


def test_a_token_without_the_routes_scope_is_a_403(local: TestClient, api: Api) -> None:
    response = local.post("items", json={"name": "x"}, headers=bearer(READ_ONLY))

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
    assert api.rows() == []


def test_a_request_with_the_scope_reaches_the_function(local: TestClient, api: Api) -> None:
    created = local.post("items", json={"name": "through the stage"}, headers=bearer(BOTH))

    assert created.status_code == HTTPStatus.CREATED
    listed = local.get("items", params={"limit": "5"}, headers=bearer(READ_ONLY))
    assert [item["name"] for item in listed.json()["items"]] == ["through the stage"]


@pytest.mark.parametrize(
    "body", [b'{"name": "\xff\xfe"}', b"\xc3\x28", b"\x80" * 10], ids=["in-string", "bad", "bytes"]
)
def test_a_body_that_is_not_utf8_is_a_400_json_never_a_500(
    local: TestClient, api: Api, body: bytes
) -> None:
    response = local.post(
        "items", content=body, headers=bearer(BOTH) | {"Content-Type": "application/json"}
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == {
        "code": "MALFORMED_JSON",
        "message": "the body is not UTF-8",
    }
    assert api.rows() == []
