"""``make local --shape spa``: the one-origin gateway (site files, ``/config.json`` and
``/api/*`` through the REAL Lambda authorizer), its IAM policy matcher, and the stand-in for
Cognito's managed login (authorization code + PKCE)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import psycopg
import pytest
from starlette.testclient import TestClient

from cdk_constructs.web_runtime import static_site
from devkit.postgres import create_database, drop_database
from local_stack import gateway
from local_stack.gateway import NO_CACHE
from local_stack.iam_policy import Decision, PolicyError, evaluate
from local_stack.oidc_issuer import Client, Issuer, User, s256
from local_stack.spa import CLIENT_ID, Role, SpaStack, running_spa

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

ARN = "arn:aws:execute-api:us-east-1:000000000000:localapi/api"


# --- the policy matcher ----------------------------------------------------------------------


def policy(*statements: tuple[str, str | list[str]]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": effect, "Action": "execute-api:Invoke", "Resource": resource}
            for effect, resource in statements
        ],
    }


@pytest.mark.parametrize(
    ("resource", "request_arn", "decision"),
    [
        (f"{ARN}/GET/items", f"{ARN}/GET/items", Decision.ALLOW),
        (f"{ARN}/GET/items/*", f"{ARN}/GET/items/a/b", Decision.ALLOW),  # * spans "/"
        (f"{ARN}/GET/items/*", f"{ARN}/GET/items", Decision.IMPLICIT_DENY),
        (f"{ARN}/*/items", f"{ARN}/DELETE/items", Decision.ALLOW),
        (f"{ARN}/GET/items", f"{ARN}/POST/items", Decision.IMPLICIT_DENY),
        (f"{ARN}/GET/item?", f"{ARN}/GET/items", Decision.ALLOW),
        (f"{ARN}/GET/item?", f"{ARN}/GET/item", Decision.IMPLICIT_DENY),
        (f"{ARN}/GET/Items", f"{ARN}/GET/items", Decision.IMPLICIT_DENY),  # case-sensitive
        (f"{ARN}/GET/items", f"{ARN}/GET/itemsX", Decision.IMPLICIT_DENY),  # whole ARN
    ],
)
def test_a_resource_pattern_matches_as_iam_matches_it(
    resource: str, request_arn: str, decision: Decision
) -> None:
    assert evaluate(policy(("Allow", resource)), request_arn) is decision


def test_an_explicit_deny_wins_over_any_allow() -> None:
    document = policy(("Allow", f"{ARN}/*"), ("Deny", [f"{ARN}/POST/*"]))

    assert evaluate(document, f"{ARN}/POST/items") is Decision.EXPLICIT_DENY
    assert evaluate(document, f"{ARN}/GET/items") is Decision.ALLOW


def test_actions_compare_case_insensitively_and_must_match() -> None:
    statement = {"Effect": "Allow", "Action": "Execute-API:invoke", "Resource": "*"}
    other = {"Effect": "Allow", "Action": "execute-api:ManageConnections", "Resource": "*"}

    assert evaluate({"Statement": statement}, f"{ARN}/GET/x") is Decision.ALLOW
    assert evaluate({"Statement": [other]}, f"{ARN}/GET/x") is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    "document",
    [{}, {"Statement": "x"}, {"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]},
     {"Statement": [{"Effect": "Allow", "Action": 3, "Resource": "*"}]}],
)  # fmt: skip
def test_a_malformed_policy_is_an_error_not_an_allow(document: dict[str, Any]) -> None:
    with pytest.raises(PolicyError):
        evaluate(document, f"{ARN}/GET/items")


# --- the issuer ------------------------------------------------------------------------------

SITE = "http://site.test/"
VERIFIER = "v" * 43


@pytest.fixture
def issuer() -> Issuer:
    return Issuer(
        "http://issuer.test",
        [Client("spa", frozenset({SITE}), frozenset({SITE}))],
        [User("alice", "secret-password")],
    )


def authorize_params(**overrides: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": "spa",
        "redirect_uri": SITE,
        "scope": "openid email",
        "state": "s-1",
        "code_challenge": s256(VERIFIER),
        "code_challenge_method": "S256",
    } | overrides


def sign_in(client: TestClient, **overrides: str) -> str:
    """The code the issuer redirects to the site with (the state checked)."""
    form = authorize_params(**overrides) | {"username": "alice", "password": "secret-password"}
    response = client.post("/oauth2/authorize", data=form, follow_redirects=False)
    assert response.status_code == HTTPStatus.FOUND, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == SITE
    query = parse_qs(location.query)
    assert query["state"] == ["s-1"]
    code: str = query["code"][0]
    return code


def exchange(client: TestClient, issued: str, /, **overrides: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": "spa",
        "code": issued,
        "redirect_uri": SITE,
        "code_verifier": VERIFIER,
    } | overrides
    response: httpx.Response = client.post(
        "/oauth2/token", data=form, headers={"Origin": "http://site.test"}
    )
    return response


def test_the_code_flow_gives_cognito_like_tokens_signed_by_the_jwks(issuer: Issuer) -> None:
    client = TestClient(issuer.app())
    assert client.get("/oauth2/authorize", params=authorize_params()).status_code == 200

    response = exchange(client, sign_in(client))

    assert response.status_code == HTTPStatus.OK, response.text
    assert response.headers["access-control-allow-origin"] == "http://site.test"
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    keys = jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").json())
    (key,) = keys.keys
    assert jwt.get_unverified_header(tokens["access_token"])["kid"] == key.key_id
    claims = jwt.decode(tokens["access_token"], key.key, algorithms=["RS256"])
    assert claims["iss"] == "http://issuer.test"
    assert claims["sub"] == issuer.users["alice"].subject
    assert claims["client_id"] == "spa"
    assert claims["token_use"] == "access"
    assert claims["scope"] == "openid email"
    assert claims["username"] == "alice"
    assert claims["exp"] - claims["iat"] == tokens["expires_in"]
    id_claims = jwt.decode(tokens["id_token"], key.key, algorithms=["RS256"], audience="spa")
    assert id_claims["token_use"] == "id"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_verifier": "w" * 43}, "invalid_grant"),  # not the challenge's verifier
        ({"code_verifier": ""}, "invalid_request"),
        ({"code_verifier": "short"}, "invalid_request"),
        ({"redirect_uri": "http://site.test/other"}, "invalid_grant"),
        ({"client_id": "someone-else"}, "invalid_client"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"code": "made-up"}, "invalid_grant"),
    ],
)
def test_a_token_request_that_fails_pkce_or_its_binding_is_a_400(
    issuer: Issuer, overrides: dict[str, str], error: str
) -> None:
    client = TestClient(issuer.app())
    response = exchange(client, sign_in(client), **overrides)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == error


def test_a_code_works_once(issuer: Issuer) -> None:
    client = TestClient(issuer.app())
    code = sign_in(client)

    assert exchange(client, code).status_code == HTTPStatus.OK
    again = exchange(client, code)
    assert again.status_code == HTTPStatus.BAD_REQUEST
    assert again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uri": "http://evil.test/"},
        {"client_id": "nobody"},
        {"code_challenge_method": "plain"},
        {"code_challenge": ""},
        {"response_type": "token"},
        {"scope": "openid admin"},
    ],
)
def test_a_bad_authorize_request_is_a_400_never_a_redirect(
    issuer: Issuer, overrides: dict[str, str]
) -> None:
    response = TestClient(issuer.app()).get(
        "/oauth2/authorize", params=authorize_params(**overrides), follow_redirects=False
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "error" in response.json()


def test_a_wrong_password_shows_the_form_again(issuer: Issuer) -> None:
    form = authorize_params() | {"username": "alice", "password": "wrong"}
    response = TestClient(issuer.app()).post("/oauth2/authorize", data=form)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert "Incorrect username or password." in response.text
    assert "location" not in response.headers


def test_logout_redirects_only_to_a_registered_uri(issuer: Issuer) -> None:
    client = TestClient(issuer.app())

    good = client.get("/logout", params={"client_id": "spa", "logout_uri": SITE},
                      follow_redirects=False)  # fmt: skip
    bad = client.get("/logout", params={"client_id": "spa", "logout_uri": "http://evil.test/"})

    assert (good.status_code, good.headers["location"]) == (HTTPStatus.FOUND, SITE)
    assert bad.status_code == HTTPStatus.BAD_REQUEST


# --- the gateway, with everything running ----------------------------------------------------


@pytest.fixture(scope="module")
def spa(pg_server: PostgresServer) -> Iterator[SpaStack]:
    dbname = f"spa_{uuid.uuid4().hex[:12]}"
    database = create_database(pg_server, dbname)
    try:
        with running_spa(database.conninfo) as stack:
            yield stack
    finally:
        drop_database(pg_server, dbname)


def bearer(spa: SpaStack, role: Role, lifetime: int = 0) -> dict[str, str]:
    token = spa.issuer.access_token(spa.users[role], CLIENT_ID, lifetime=lifetime)
    return {"Authorization": f"Bearer {token}"}


def item_count(spa: SpaStack) -> int:
    with psycopg.connect(spa.conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM items").fetchone()
    assert row is not None
    return int(row[0])


def api(spa: SpaStack, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{spa.site_url}api{path}", timeout=10, **kwargs)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": ""}],
    ids=["none", "garbage", "empty"],
)
def test_the_api_without_a_valid_token_is_a_401(spa: SpaStack, headers: dict[str, str]) -> None:
    response = api(spa, "GET", "/items", headers=headers)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {"error": {"code": "UNAUTHORIZED", "message": "Unauthorized"}}


def test_an_expired_token_is_a_401(spa: SpaStack) -> None:
    response = api(spa, "GET", "/items", headers=bearer(spa, Role.ADMIN, lifetime=-600))

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


def test_a_reader_may_list_but_a_write_is_a_403_and_writes_nothing(spa: SpaStack) -> None:
    before = item_count(spa)

    listed = api(spa, "GET", "/items", headers=bearer(spa, Role.READER))
    refused = api(spa, "POST", "/items", json={"name": "nope"}, headers=bearer(spa, Role.READER))

    assert listed.status_code == HTTPStatus.OK
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert refused.json()["error"]["code"] == "FORBIDDEN"
    assert item_count(spa) == before


def test_an_admin_write_reaches_the_service_and_postgresql(spa: SpaStack) -> None:
    before = item_count(spa)

    created = api(spa, "POST", "/items", json={"name": "by admin"}, headers=bearer(spa, Role.ADMIN))

    assert created.status_code == HTTPStatus.CREATED, created.text
    assert created.headers["location"] == f"/api/items/{created.json()['id']}"
    assert created.headers["cache-control"] == "no-store"
    assert item_count(spa) == before + 1


def test_the_services_see_the_authorizers_caller_never_the_clients_headers(
    spa: SpaStack,
) -> None:
    forged = {"X-User-Id": "someone-else", "X-User-Roles": "admin"}
    response = api(spa, "GET", "/me", headers=bearer(spa, Role.READER) | forged)

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"userId": spa.users[Role.READER].subject, "roles": ["reader"]}


@pytest.mark.parametrize("path", ["/nope", "/", "/itemsx"])
def test_a_path_outside_the_services_is_a_404_before_any_authorizer(
    spa: SpaStack, path: str
) -> None:
    response = api(spa, "GET", path)  # no token: still a 404, as API Gateway answers

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["error"]["code"] == "ROUTE_NOT_FOUND"


def test_config_json_tells_the_app_where_to_sign_in(spa: SpaStack) -> None:
    response = httpx.get(f"{spa.site_url}config.json", timeout=10)

    assert response.headers["cache-control"] == "no-cache"
    assert response.json() == {
        "apiBase": "/api",
        "clientId": CLIENT_ID,
        "authorizeUrl": f"{spa.issuer.url}/oauth2/authorize",
        "tokenUrl": f"{spa.issuer.url}/oauth2/token",
        "logoutUrl": f"{spa.issuer.url}/logout",
        "scopes": "openid email profile",
    }


@pytest.mark.parametrize("path", ["", "items/123/edit", "no-such-file.js"])
def test_any_other_path_is_the_app_itself_not_cached(spa: SpaStack, path: str) -> None:
    response = httpx.get(f"{spa.site_url}{path}", timeout=10)

    assert response.status_code == HTTPStatus.OK
    assert '<script type="module" src="/app.js">' in response.text
    assert response.headers["cache-control"] == "no-cache"
    csp = response.headers["content-security-policy"]
    assert f"connect-src 'self' {spa.issuer.url};" in csp
    assert "frame-ancestors 'none'" in csp


def test_unhashed_files_are_revalidated_as_deployed_and_files_outside_the_site_not_served(
    spa: SpaStack,
) -> None:
    asset = httpx.get(f"{spa.site_url}app.js", timeout=10)
    outside = httpx.get(f"{spa.site_url}%2E%2E/pyproject.toml", timeout=10)

    assert asset.headers["cache-control"] == NO_CACHE == static_site.NO_CACHE
    assert (gateway.HASHED_ASSETS, gateway.IMMUTABLE) == (
        static_site.HASHED_ASSETS,
        static_site.IMMUTABLE,
    )
    assert asset.headers["content-type"].startswith("text/javascript")
    assert "[tool.ruff]" not in outside.text
    assert '<script type="module" src="/app.js">' in outside.text
