"""The reference web app's API client: one Cognito token per process, renewed shortly before it
expires or once after a 401; the API's refusals and outages become clear errors; the page names
the field the API refused, and every page is styled for any screen."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws
from starlette.testclient import TestClient

from web_app.api_client import (
    REFRESH_BEFORE_EXPIRY_SECONDS,
    ApiRejectedError,
    ApiUnavailableError,
    ItemsApi,
    TokenCache,
)
from web_app.app import create_app
from web_app.pages import STYLESHEET, csrf_page, error_page, page
from web_app.settings import Settings

TOKEN_URL = "https://auth.example/oauth2/token"
API_URL = "https://api.example/v1/"
LIFETIME = 3600
VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'
NAME_REFUSED = {
    "error": {
        "code": "VALIDATION_ERROR",
        "message": "the request is not valid",
        "details": [
            {
                "location": "body",
                "field": "name",
                "type": "string_too_short",
                "message": "String should have at least 1 character",
            }
        ],
    }
}
"""The API's 422 for a blank name (lambda_src/api: models.validation_error)."""


class FakeServices:
    """Cognito's token endpoint and the API, as an httpx transport."""

    def __init__(self) -> None:
        self.tokens_issued = 0
        self.token_requests: list[httpx.Request] = []
        self.api_status = 200
        self.write_refusal: dict[str, Any] | None = None
        self.unauthorized_once = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            self.token_requests.append(request)
            self.tokens_issued += 1
            token = f"token-{self.tokens_issued}"
            return httpx.Response(200, json={"access_token": token, "expires_in": LIFETIME})
        if self.unauthorized_once:
            self.unauthorized_once = False
            return httpx.Response(401, json={"message": "Unauthorized"})
        if self.write_refusal is not None and request.method == "POST":
            return httpx.Response(422, json=self.write_refusal)
        if self.api_status != 200:
            body = {"error": {"code": "VALIDATION_ERROR", "message": "name is too long"}}
            return httpx.Response(self.api_status, json=body)
        return httpx.Response(200, json={"items": [], "auth": request.headers["authorization"]})


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


def client(services: FakeServices, clock: list[float]) -> tuple[ItemsApi, TokenCache]:
    http = httpx.Client(transport=httpx.MockTransport(services.handle))
    tokens = TokenCache(
        http,
        token_url=TOKEN_URL,
        client_id="web",
        client_secret="s3cret",  # the fake endpoint's
        scopes="api/items.read api/items.write",
        clock=lambda: clock[0],
    )
    return ItemsApi(http, base_url=API_URL, tokens=tokens), tokens


def test_one_token_serves_until_shortly_before_it_expires(services: FakeServices) -> None:
    clock = [1000.0]
    api, tokens = client(services, clock)
    api.list_items()
    api.list_items()
    assert services.tokens_issued == 1
    (request,) = services.token_requests
    form = dict(httpx.QueryParams(request.content.decode()))
    assert form == {"grant_type": "client_credentials", "scope": "api/items.read api/items.write"}
    assert request.headers["authorization"].startswith("Basic ")
    clock[0] += LIFETIME - REFRESH_BEFORE_EXPIRY_SECONDS - 1
    api.list_items()
    assert services.tokens_issued == 1
    clock[0] += 1
    api.list_items()
    assert services.tokens_issued == 2
    assert tokens.fetches == 2


def test_a_401_fetches_one_fresh_token_and_retries_once(services: FakeServices) -> None:
    api, _ = client(services, [0.0])
    api.list_items()
    services.unauthorized_once = True
    api.list_items()
    assert services.tokens_issued == 2


def test_a_refusal_carries_the_apis_message(services: FakeServices) -> None:
    api, _ = client(services, [0.0])
    services.api_status = 422
    with pytest.raises(ApiRejectedError) as refused:
        api.create_item("x" * 500, "")
    assert (refused.value.status, refused.value.code) == (422, "VALIDATION_ERROR")
    assert refused.value.message == "name is too long"
    response = error_page(refused.value)
    assert response.status_code == 502
    assert b"refused" in bytes(response.body)


def test_an_outage_is_unavailable_not_a_crash(services: FakeServices) -> None:
    api, _ = client(services, [0.0])
    services.api_status = 503
    with pytest.raises(ApiUnavailableError):
        api.list_items()

    def refuse(_: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    tokens = TokenCache(http, token_url=TOKEN_URL, client_id="a", client_secret="b", scopes="")
    with pytest.raises(ApiUnavailableError, match="unreachable"):
        ItemsApi(http, base_url=API_URL, tokens=tokens).list_items()


def test_page_escapes_what_it_shows() -> None:
    html = page([{"id": "1", "name": "<script>x</script>", "description": "a&b"}], "t", "")
    assert "<script>x" not in html
    assert "&lt;script&gt;" in html
    assert "a&amp;b" in html


def test_settings_come_from_the_injected_variables() -> None:
    environ: dict[str, Any] = {
        "API_CLIENT_ID": "id",
        "API_CLIENT_SECRET": "secret",
        "API_TOKEN_URL": TOKEN_URL,
        "API_SCOPES": "api/items.read",
        "API_BASE_URL": API_URL,
        "SESSION_TABLE": "sessions",
        "HEALTH_PATH": "/healthz",
        "APP_SECRETS": json.dumps({"EXAMPLE_API_KEY": "k"}),
    }
    settings = Settings.from_environment(environ)
    assert settings.api_base_url == API_URL.rstrip("/")
    assert settings.app_secrets == {"EXAMPLE_API_KEY": "k"}
    assert "secret" not in repr(settings)
    del environ["API_CLIENT_SECRET"]
    with pytest.raises(RuntimeError, match="API_CLIENT_SECRET"):
        Settings.from_environment(environ)


def test_a_refusal_names_each_field_the_api_refused(services: FakeServices) -> None:
    api, _ = client(services, [0.0])
    services.write_refusal = NAME_REFUSED
    with pytest.raises(ApiRejectedError) as refused:
        api.create_item("", "")
    assert refused.value.field_errors == {"name": "String should have at least 1 character"}
    assert refused.value.explanation == "name: String should have at least 1 character"
    # Details that are not about a field (a 409's current version) leave the message as it is.
    services.write_refusal = {
        "error": {"code": "CONFLICT", "message": "stale", "details": [{"current_version": 2}]}
    }
    with pytest.raises(ApiRejectedError) as conflict:
        api.create_item("x", "")
    assert conflict.value.field_errors == {}
    assert conflict.value.explanation == "stale"


def test_page_marks_the_refused_field_and_says_why() -> None:
    html = page([], "t", "Not added: name: too short", {"name": "too <short>"})
    (name_input,) = re.findall(r"<input name=\"name\"[^>]*>", html)
    assert 'aria-invalid="true"' in name_input
    assert 'aria-describedby="name-error"' in name_input
    assert '<span class="field-error" id="name-error">too &lt;short&gt;</span>' in html
    (description_input,) = re.findall(r"<input name=\"description\"[^>]*>", html)
    assert "aria-invalid" not in description_input
    assert not [tag for tag in re.findall("<input[^>]*>", page([], "t", "")) if "aria-" in tag]


def test_every_page_fits_the_screen_and_has_the_stylesheet() -> None:
    assert 0 < len(STYLESHEET) < 4096  # small
    pages = {
        "items": page([], "t", ""),
        "error": bytes(error_page(ApiUnavailableError("down")).body).decode(),
        "csrf": bytes(csrf_page().body).decode(),
    }
    for name, html in pages.items():
        assert VIEWPORT in html, name
        assert f"<style>{STYLESHEET}</style>" in html, name


@pytest.fixture
def session_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="sessions",
            AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield "sessions"


def test_a_refused_add_shows_the_field_once(services: FakeServices, session_table: str) -> None:
    settings = Settings(
        api_client_id="web",
        api_client_secret="s3cret",  # the fake endpoint's
        api_token_url=TOKEN_URL,
        api_scopes="api/items.read api/items.write",
        api_base_url=API_URL,
        session_table=session_table,
    )
    http = httpx.Client(transport=httpx.MockTransport(services.handle))
    browser = TestClient(create_app(settings, http=http))
    (csrf,) = re.findall(r'name="csrf" value="([^"]+)"', browser.get("/").text)
    services.write_refusal = NAME_REFUSED
    added = browser.post("/items", data={"csrf": csrf, "name": " "}, follow_redirects=False)
    assert added.status_code == 303
    shown = browser.get("/").text
    assert "Not added: name: String should have at least 1 character" in shown
    assert 'aria-invalid="true" aria-describedby="name-error"' in shown
    again = browser.get("/").text  # shown once, then gone
    assert "Not added" not in again
    assert 'aria-invalid="true" aria-describedby' not in again
