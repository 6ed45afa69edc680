"""The API-tier factory: every ``ApiKind`` has a stack, and each stack is the ``ApiTier`` the
later tiers use (sign-in, site route, monitoring) whatever the kind."""

from __future__ import annotations

from aws_cdk import App

from cdk_constructs.options import ApiKind
from stacks.api_stack import ApiStack
from stacks.api_tiers import API_TIERS
from stacks.config import APP_CONFIG, EnvironmentConfig
from stacks.platform_stage import PlatformStage
from stacks.services_api_stack import AUTHORIZER_TIMEOUT, STAGE_NAME, ServicesApiStack
from tests.synth import Tier, cdk_json_context


def api_tier(env: EnvironmentConfig) -> object:
    stage = PlatformStage(
        App(context=cdk_json_context()), app=APP_CONFIG, env_config=env, until=Tier.API
    )
    return stage.api


def test_every_api_kind_has_a_stack() -> None:
    assert set(API_TIERS) == set(ApiKind)
    assert API_TIERS[ApiKind.PRIVATE_LAMBDA] is ApiStack
    assert API_TIERS[ApiKind.PUBLIC_SERVICES] is ServicesApiStack


def test_the_stage_builds_the_private_api_for_private_lambda() -> None:
    dev = APP_CONFIG.environment("dev")
    assert dev.api.kind is ApiKind.PRIVATE_LAMBDA
    api = api_tier(dev)
    assert isinstance(api, ApiStack)
    assert api.sign_in is None
    assert api.site_api is None
    assert api.web_client_secret is not None
    monitoring = api.monitoring
    assert monitoring.rest_api is api.private_api.rest_api
    assert monitoring.function is api.function.function
    assert monitoring.function_timeout.to_seconds() == dev.api.timeout_seconds
    assert tuple(monitoring.extra_alarms) == ()
    assert not monitoring.errors_are_refusals  # the items function's errors are failures


def test_the_stage_builds_the_services_api_for_public_services() -> None:
    spa = APP_CONFIG.environment("spa")
    assert spa.api.kind is ApiKind.PUBLIC_SERVICES
    api = api_tier(spa)
    assert isinstance(api, ServicesApiStack)
    assert api.web_client_secret is None
    sign_in = api.sign_in
    assert sign_in.user_pool is api.user_sign_in.user_pool
    assert sign_in.clients_parameter == f"/{APP_CONFIG.app_name}/spa/sign-in/client-ids"
    assert api.site_api.stage_name == STAGE_NAME == "api"
    assert ".execute-api." in api.site_api.domain_name
    monitoring = api.monitoring
    assert monitoring.rest_api is api.public_api.rest_api
    assert monitoring.function is api.authorizer.function
    assert monitoring.function_timeout is AUTHORIZER_TIMEOUT
    # A refused token is an authorizer "error": no errors alarm that any bad token sets off.
    assert monitoring.errors_are_refusals
    ids = {alarm.id_ for alarm in monitoring.extra_alarms}
    for service in spa.api.services:
        name = service.name.capitalize()
        assert {f"Service{name}UnhealthyTargets", f"Service{name}TasksBelowMinimum"} <= ids
        assert f"Service{name}CpuHigh" in ids
