"""Config of the S3M shape: the public services API (its services, routes by role, authorizer,
sign-in) and the static site, each refused in one line where it does not fit."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from cdk_constructs.options import ApiKind, WebRuntime
from stacks.config import APP_CONFIG, EDGE_REGION, AppConfig, sign_in_clients_parameter
from stacks.config.sections import (
    ApiConfig,
    ServiceConfig,
    SignInConfig,
    WebConfig,
)
from stacks.delivery import deploy_plan
from tests.config_helpers import assert_one_line, error_of, with_section

SPA = APP_CONFIG.environment("spa")


def with_spa(**changes: Any) -> AppConfig:
    """The shipped config with some fields of the spa environment (``api``/``web`` as dicts)
    replaced."""
    api = replace(SPA.api, **changes.pop("api", {}))
    web = replace(SPA.web, **changes.pop("web", {}))
    spa = replace(SPA, api=api, web=web, **changes)
    return replace(
        APP_CONFIG,
        environments=tuple(spa if env.name == "spa" else env for env in APP_CONFIG.environments),
    )


def service(**changes: Any) -> ServiceConfig:
    return replace(SPA.api.services[0], **changes)


def test_the_shipped_spa_shape() -> None:
    assert (SPA.api.kind, SPA.web.runtime) == (ApiKind.PUBLIC_SERVICES, WebRuntime.STATIC_SITE)
    assert [s.name for s in SPA.api.services] == ["items", "me"]
    assert [s.database for s in SPA.api.services] == [True, False]
    assert SPA.api.roles == ("admin", "reader")
    assert SPA.api.route_roles["* /items"] == ("admin",)
    assert sign_in_clients_parameter(APP_CONFIG, SPA) == "/three-tier/spa/sign-in/client-ids"


def test_defaults_are_secure() -> None:
    sign_in = SignInConfig()
    assert sign_in.self_sign_up is False
    assert sign_in.mfa == "optional"
    assert sign_in.password_min_length >= 12
    assert ApiConfig().kind is ApiKind.PRIVATE_LAMBDA  # today's shape stays the default
    assert ApiConfig().route_roles == {}


def test_the_static_site_goes_with_the_public_services_api_only() -> None:
    error = error_of(
        lambda: with_spa(api={"kind": ApiKind.PRIVATE_LAMBDA, "services": (), "route_roles": {}})
    )
    assert_one_line(error, "spa", "api.kind", "api.kind public_services with web.runtime")
    error = error_of(lambda: with_section("web", runtime=WebRuntime.STATIC_SITE, spot=False))
    assert_one_line(error, "dev", "api.kind", "static_site")


def test_private_lambda_refuses_services_and_routes() -> None:
    error = error_of(lambda: with_section("api", services=(service(),)))
    assert_one_line(error, "dev", "api.services", "kind public_services")
    error = error_of(lambda: with_section("api", route_roles={"GET /items": ("reader",)}))
    assert_one_line(error, "dev", "api.route_roles", "no route_roles with kind private_lambda")


def test_public_services_needs_a_service() -> None:
    error = error_of(lambda: with_spa(api={"services": (), "route_roles": {}}))
    assert_one_line(error, "spa", "api.services", "at least one service")


def test_public_services_has_no_items_function_settings() -> None:
    error = error_of(lambda: with_spa(api={"image_tag": "abc"}))
    assert_one_line(error, "spa", "api.image_tag", "image_tag=None")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "me"}, "api.services.name"),
        ({"path_prefix": "me"}, "api.services.path_prefix"),
        ({"port": 8081}, "api.services.port"),
    ],
)
def test_services_are_unique(changes: dict[str, Any], field: str) -> None:
    services = (service(**changes), SPA.api.services[1])
    error = error_of(lambda: with_spa(api={"services": services}))
    assert_one_line(error, "spa", field, "a different")


@pytest.mark.parametrize(
    ("changes", "field", "allowed"),
    [
        ({"name": "Items"}, "api.services.1.name", "[a-z][a-z0-9]{0,11}"),
        ({"path_prefix": "items/x"}, "api.services.1.path_prefix", "one path segment"),
        ({"source": "../elsewhere"}, "api.services.1.source", "relative"),
        (
            {"cpu": 256, "memory_mib": 4096},
            "api.services.1.cpu/api.services.1.memory_mib",
            "cpu 256",
        ),
        ({"min_tasks": 3, "max_tasks": 2}, "api.services.1.min_tasks", "min_tasks <= max_tasks"),
        ({"port": 80}, "api.services.1.port", "an integer 1024..65535"),
        ({"cpu": "256"}, "api.services.1.cpu", "integer"),
    ],
)
def test_a_bad_service_is_one_line_naming_its_index_and_field(
    changes: dict[str, Any], field: str, allowed: str
) -> None:
    """The second service is the bad one: the line names it by index, then its field."""
    services = (SPA.api.services[0], replace(SPA.api.services[1], **changes))
    error = error_of(lambda: with_spa(api={"services": services}))
    assert_one_line(error, "spa", field, allowed)


@pytest.mark.parametrize(
    ("routes", "fragment"),
    [
        ({"GET items": ("reader",)}, "'<METHOD> /<service prefix>"),
        ({"HEAD /items": ("reader",)}, "'<METHOD> /<service prefix>"),
        ({"GET /orders": ("reader",)}, "a route under one of: items, me"),
        ({"GET /items": ("Reader",)}, "[a-z][a-z0-9_-]{0,31}"),
    ],
)
def test_bad_routes_are_one_line(routes: dict[str, tuple[str, ...]], fragment: str) -> None:
    message = str(error_of(lambda: with_spa(api={"route_roles": routes})))
    assert "\n" not in message
    assert "field 'api.route_roles" in message
    assert fragment in message


def test_a_route_below_a_prefix_is_allowed() -> None:
    config = with_spa(api={"route_roles": {"DELETE /items/archive": ("admin",)}})
    assert config.environment("spa").api.roles == ("admin",)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"image_tag": "abc"}, "web.image_tag"),
        ({"environment": {"A": "b"}}, "web.environment"),
        ({"spot": True}, "web.spot"),
        ({"allowed_ingress_cidrs": ("10.0.0.0/8",)}, "web.allowed_ingress_cidrs"),
        ({"site_source": "/abs"}, "web.site_source"),
    ],
)
def test_the_static_site_refuses_container_settings(changes: dict[str, Any], field: str) -> None:
    error = error_of(lambda: with_spa(web=changes))
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"config error: environment 'spa', field '{field}'")


def test_sign_in_ranges() -> None:
    cases: tuple[tuple[dict[str, Any], str], ...] = (
        ({"password_min_length": 6}, "api.sign_in.password_min_length"),
        ({"access_token_minutes": 2}, "api.sign_in.access_token_minutes"),
        ({"refresh_token_days": 0}, "api.sign_in.refresh_token_days"),
    )
    for changes, field in cases:
        sign_in = replace(SPA.api.sign_in, **changes)
        error = error_of(lambda: with_spa(api={"sign_in": sign_in}))  # noqa: B023
        assert str(error).startswith(f"config error: environment 'spa', field '{field}'")


def test_authorizer_cache_is_bounded() -> None:
    authorizer = replace(SPA.api.authorizer, cache_ttl_seconds=3601)
    error = error_of(lambda: with_spa(api={"authorizer": authorizer}))
    assert "api.authorizer.cache_ttl_seconds" in str(error)


def test_the_edge_stack_is_in_us_east_1_only_when_needed() -> None:
    """The certificate and the CLOUDFRONT web ACL must be in us-east-1
    (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cnames-and-https-requirements.html)."""
    assert SPA.region != EDGE_REGION
    assert SPA.edge_region == EDGE_REGION
    no_edge = {"waf": False, "domain_name": None, "hosted_zone_id": None, "hosted_zone_name": None}
    assert with_spa(web=no_edge).environment("spa").edge_region is None
    in_us_east_1 = with_spa(
        region="us-east-1", availability_zones=("us-east-1a", "us-east-1b")
    ).environment("spa")
    assert in_us_east_1.edge_region is None
    for env in ("dev", "staging", "prod"):  # containers: no CloudFront
        assert APP_CONFIG.environment(env).edge_region is None
    assert WebConfig(runtime=WebRuntime.STATIC_SITE).site_source == "site_app"


def test_one_services_tag_for_every_microservice() -> None:
    config = APP_CONFIG.with_image_tags("spa", {}, services_tag="abc123")
    assert [s.image_tag for s in config.environment("spa").api.services] == ["abc123", "abc123"]
    assert config.environment("dev") == APP_CONFIG.environment("dev")
    error = error_of(lambda: APP_CONFIG.with_image_tags(None, {}, services_tag="abc123"))
    assert "services_image_tag" in str(error)


def test_the_deploy_plan_lists_each_service_image() -> None:
    plan = deploy_plan(APP_CONFIG, SPA)
    assert plan["services"].split() == [
        "services/items:three-tier/spa/services/items",
        "services/me:three-tier/spa/services/me",
    ]
    assert deploy_plan(APP_CONFIG, APP_CONFIG.environment("dev"))["services"] == ""
