"""The reference web app's API client: one Cognito token per process, renewed shortly before it
expires or once after a 401; the API's refusals and outages become clear errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from web_app.api_client import (
    REFRESH_BEFORE_EXPIRY_SECONDS,
    ApiRejectedError,
    ApiUnavailableError,
    ItemsApi,
    TokenCache,
)
from web_app.app import error_page, page
from web_app.settings import Settings

TOKEN_URL = "https://auth.example/oauth2/token"
API_URL = "https://api.example/v1/"
LIFETIME = 3600


class FakeServices:
    """Cognito's token endpoint and the API, as an httpx transport."""

    def __init__(self) -> None:
        self.tokens_issued = 0
        self.token_requests: list[httpx.Request] = []
        self.api_status = 200
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
