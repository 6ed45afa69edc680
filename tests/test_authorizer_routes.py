"""Route keys, role names and the policy's ARNs (``authorizer.routes``, ``authorizer.policy``):
the rules the CDK config validation shares with the function."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from authorizer.policy import MethodArn, allowed_resources
from authorizer.routes import (
    Method,
    RouteRule,
    parse_role_name,
    parse_route_key,
    parse_route_roles,
)
from stacks.config import APP_CONFIG

REPO_ROOT = Path(__file__).resolve().parent.parent
ARN = MethodArn.parse("arn:aws:execute-api:eu-west-1:123456789012:abcdef123/api/GET/items/42")


@pytest.mark.parametrize(
    ("key", "method", "prefix"),
    [
        ("GET /items", Method.GET, "items"),
        ("* /items", Method.ANY, "items"),
        ("DELETE /items/archive", Method.DELETE, "items/archive"),
        ("PATCH /me", Method.PATCH, "me"),
        ("POST /order-lines/v2.1_x", Method.POST, "order-lines/v2.1_x"),
    ],
)
def test_a_route_key_is_a_method_and_a_prefix(key: str, method: Method, prefix: str) -> None:
    assert parse_route_key(key) == (method, prefix)


@pytest.mark.parametrize(
    "key",
    [
        "GET items",
        "get /items",
        "HEAD /items",
        "GET /",
        "GET /items/",
        "GET  /items",
        "GET /Items",
        "GET /items//x",
        "GET /items/{id}",
        "GET /items/*",
        "",
    ],
)
def test_anything_else_is_a_one_line_error_naming_what_is_allowed(key: str) -> None:
    with pytest.raises(ValueError, match="not a route") as raised:
        parse_route_key(key)
    message = str(raised.value)
    assert "\n" not in message
    assert "GET POST PUT PATCH DELETE *" in message


@pytest.mark.parametrize("name", ["Admin", "", "1st", "a" * 33, "read er", 7])
def test_a_role_name_is_lower_case_and_short(name: object) -> None:
    with pytest.raises(ValueError, match="not a role name"):
        parse_role_name(name)


def test_route_roles_parse_from_json_in_order() -> None:
    text = json.dumps({"GET /items": ["reader", "admin"], "* /items": ["admin"]})
    assert parse_route_roles(text) == (
        RouteRule(Method.GET, "items", frozenset({"reader", "admin"})),
        RouteRule(Method.ANY, "items", frozenset({"admin"})),
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not json", "not JSON"),
        ("[]", "not a {route key"),
        ('{"GET /items": "reader"}', "not a list"),
        ('{"GET /items": ["Reader"]}', "not a role name"),
        ('{"GET items": ["reader"]}', "not a route"),
    ],
)
def test_bad_route_roles_name_the_problem(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_route_roles(value)


def test_every_shipped_environments_route_roles_parse() -> None:
    shipped = [env.api.route_roles for env in APP_CONFIG.environments if env.api.route_roles]
    assert shipped  # at least one environment routes by role
    for route_roles in shipped:
        rules = parse_route_roles(dict(route_roles))
        assert len(rules) == len(route_roles)


def test_a_rule_covers_its_path_and_below_for_its_method() -> None:
    rule = RouteRule(Method.GET, "items", frozenset({"reader"}))
    assert rule.covers("GET", "items")
    assert rule.covers("GET", "items/42/notes")
    assert not rule.covers("GET", "itemsx")
    assert not rule.covers("DELETE", "items/42")
    assert RouteRule(Method.ANY, "items", frozenset()).covers("DELETE", "items/42")
    assert rule.allows(["admin", "reader"])
    assert not rule.allows(["admin"])


def test_a_method_arn_parses_into_its_parts() -> None:
    assert (
        MethodArn("aws", "eu-west-1", "123456789012", "abcdef123", "api", "GET", "items/42") == ARN
    )
    china = MethodArn.parse("arn:aws-cn:execute-api:cn-north-1:1:api1/api/POST/me")
    assert china.resource("*", "me") == "arn:aws-cn:execute-api:cn-north-1:1:api1/api/*/me"


@pytest.mark.parametrize(
    "arn",
    ["", None, "arn:aws:lambda:eu-west-1:1:function:x", "arn:aws:execute-api:eu-west-1:1:api1"],
)
def test_anything_but_a_method_arn_is_refused(arn: object) -> None:
    with pytest.raises(ValueError, match="method ARN"):
        MethodArn.parse(arn)


def test_allowed_resources_are_each_route_and_below_on_the_callers_api_and_stage() -> None:
    rules = parse_route_roles(
        {"GET /items": ["reader"], "* /items/archive": ["admin"], "GET /me": ["admin"]}
    )
    stage = "arn:aws:execute-api:eu-west-1:123456789012:abcdef123/api"
    assert allowed_resources(rules, ["admin"], ARN) == [
        f"{stage}/*/items/archive",
        f"{stage}/*/items/archive/*",
        f"{stage}/GET/me",
        f"{stage}/GET/me/*",
    ]
    assert allowed_resources(rules, ["nobody"], ARN) == []


def test_the_routes_module_imports_only_the_standard_library() -> None:
    """The CDK config validation imports it, without the function's dependencies."""
    probe = (
        "import sys; sys.path.insert(0, 'lambda_src'); import authorizer.routes; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'jwt', 'boto3', 'botocore', 'cryptography'} or m.startswith('authorizer.')))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "['authorizer.routes']"
