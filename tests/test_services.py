"""The two reference services over HTTP: ``me`` names the caller API Gateway passes, ``items``
serves the items API's own handler against a real PostgreSQL (the ``api`` fixture), with the
caller in the event and every answer ``Cache-Control: no-store``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from http import HTTPStatus

import pytest
from starlette.testclient import TestClient

from services.items.app import create_app as items_app
from services.items.app import main
from services.me.app import create_app as me_app
from tests.test_api_harness import Api
from tests.test_api_harness import api as api  # the fixture, re-exported (see devkit.fixtures)

ADMIN = {"X-User-Id": "user-1", "X-User-Roles": "admin,reader"}


@pytest.fixture
def items(api: Api) -> Iterator[TestClient]:
    with TestClient(items_app()) as client:
        yield client


def test_me_answers_with_the_caller_api_gateway_names() -> None:
    response = TestClient(me_app()).get("/me", headers=ADMIN)

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"userId": "user-1", "roles": ["admin", "reader"]}
    assert response.headers["cache-control"] == "no-store"


def test_me_without_a_caller_is_a_401_in_the_platform_shape() -> None:
    response = TestClient(me_app()).get("/me", headers={"X-User-Roles": "admin"})

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("POST", "/me")])
def test_me_answers_an_unknown_route_with_a_json_404(method: str, path: str) -> None:
    response = TestClient(me_app()).request(method, path, headers=ADMIN)

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["error"]["code"] == "ROUTE_NOT_FOUND"


@pytest.mark.parametrize("app", [me_app, items_app])
def test_healthz_needs_neither_caller_nor_database(app: object) -> None:
    """The NLB's health check: items' /healthz answers without any DB_* settings."""
    response = TestClient(app()).get("/healthz")  # type: ignore[operator]

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


def test_items_creates_with_the_public_location_and_logs_the_caller(
    items: TestClient, api: Api
) -> None:
    response = items.post("/items", json={"name": "from the service"}, headers=ADMIN)

    assert response.status_code == HTTPStatus.CREATED, response.text
    item = response.json()
    assert response.headers["location"] == f"/api/items/{item['id']}"  # the browser's path
    assert response.headers["cache-control"] == "no-store"
    assert [row[1] for row in api.rows()] == ["from the service"]
    (request,) = [line for line in api.logs() if line["message"] == "request"]
    assert request["user_id"] == "user-1"
    assert request["roles"] == "admin,reader"
    assert request["status"] == HTTPStatus.CREATED
    assert "client_id" not in request  # no Cognito claims on this shape's calls


def test_items_updates_with_the_version_read_and_refuses_a_stale_one(
    items: TestClient, api: Api
) -> None:
    created = items.post("/items", json={"name": "v1"}, headers=ADMIN).json()
    path = f"/items/{created['id']}"

    updated = items.put(
        path, json={"name": "v2", "description": "", "version": created["version"]}, headers=ADMIN
    )
    stale = items.put(
        path, json={"name": "v3", "description": "", "version": created["version"]}, headers=ADMIN
    )

    assert updated.status_code == HTTPStatus.OK
    assert updated.json()["version"] == created["version"] + 1
    assert stale.status_code == HTTPStatus.CONFLICT
    assert stale.json()["error"]["code"] == "VERSION_CONFLICT"
    assert [row[1] for row in api.rows()] == ["v2"]


def test_items_without_a_caller_is_a_401_and_writes_nothing(items: TestClient, api: Api) -> None:
    response = items.post("/items", json={"name": "anonymous"})

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert api.rows() == []


def test_items_passes_the_handlers_own_answers_through(items: TestClient, api: Api) -> None:
    """Validation, unknown items, unknown routes and non-UTF-8 bodies: the handler's JSON."""
    missing = items.get(f"/items/{uuid.uuid4()}", headers=ADMIN)
    invalid = items.post("/items", json={"name": " "}, headers=ADMIN)
    no_route = items.get("/nope", headers=ADMIN)
    binary = items.post(
        "/items", content=b"\xff\xfe", headers=ADMIN | {"Content-Type": "application/json"}
    )

    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "ITEM_NOT_FOUND")
    assert (invalid.status_code, invalid.json()["error"]["code"]) == (422, "VALIDATION_ERROR")
    assert (no_route.status_code, no_route.json()["error"]["code"]) == (404, "ROUTE_NOT_FOUND")
    assert binary.status_code == HTTPStatus.BAD_REQUEST
    assert binary.json()["error"]["code"] == "MALFORMED_JSON"
    assert api.rows() == []


def test_items_deep_health_reaches_the_database_without_a_caller(items: TestClient) -> None:
    response = items.get("/health")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok", "database": "ok"}


def test_the_image_signs_database_tokens_with_the_task_roles_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On ECS the credentials come from boto3's chain (the task's credentials endpoint), not
    from the Lambda-style environment the package's own signer reads. Signing is local."""
    from api import db

    monkeypatch.setattr(db, "IamTokenSigner", db.IamTokenSigner)  # restored afterwards
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTASKROLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "task-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "task-session")

    app = main()

    signer = db.IamTokenSigner(region_name="eu-west-1")
    token = signer.generate_db_auth_token(DBHostname="db.internal", Port=5432, DBUsername="app")
    assert token.startswith("db.internal:5432/?Action=connect&DBUser=app&")
    assert "X-Amz-Credential=AKIDTASKROLE%2F" in token
    assert "X-Amz-Security-Token=task-session" in token
    assert TestClient(app).get("/healthz").status_code == HTTPStatus.OK
