"""The web tier of the ``spa`` environment (static site, eu-west-1) as the stage builds it, with
cdk-nag: no container inputs, the browser client on the API's pool, the site's config.json, the
edge stack in us-east-1, the rendered canary; and the same site in us-east-1 (no edge stack)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Duration, Stack

from cdk_constructs.health_canary import SELECTOR_VARIABLE, URL_VARIABLE
from stacks import platform_app
from stacks.config import APP_CONFIG, EnvironmentConfig, sign_in_clients_parameter
from stacks.platform_stage import PlatformStage
from stacks.web_stack import SITE_READY_SELECTOR
from tests.synth import Tier, cdk_json_context
from tests.template_queries import only, resources

SPA = APP_CONFIG.environment("spa")
DOMAIN = "app.example.com"


@dataclass
class Site:
    stage: PlatformStage
    web: dict[str, Any]
    edge: dict[str, Any] | None
    config_json: str
    """The deployed config.json, client id left as CDK's marker."""


def synth(env_config: EnvironmentConfig) -> Iterator[Site]:
    with tempfile.TemporaryDirectory(prefix="site-") as outdir:
        app = App(outdir=outdir, context=cdk_json_context())
        stage = PlatformStage(app, app=APP_CONFIG, env_config=env_config, until=Tier.WEB)
        platform_app.add_quality_gates(app)
        assembly = app.synth()
        assert platform_app.unacknowledged_findings(outdir) == []
        web = assembly.get_stack_artifact(stage.web.artifact_id).template
        edge_stack = stage.node.try_find_child("WebEdge")
        edge = (
            assembly.get_stack_artifact(edge_stack.artifact_id).template
            if isinstance(edge_stack, Stack)
            else None
        )
        (entry,) = [
            props
            for props in (
                r["Properties"] for r in resources(web, "Custom::CDKBucketDeployment").values()
            )
            if "DistributionId" in props  # the deployment with the files and config.json
        ]
        data_key = entry["SourceObjectKeys"][1].removesuffix(".zip")
        config_json = (Path(outdir) / f"asset.{data_key}" / "config.json").read_text()
        yield Site(stage, web, edge, config_json)


@pytest.fixture(scope="module")
def spa() -> Iterator[Site]:
    yield from synth(SPA)


@pytest.fixture(scope="module")
def spa_us_east_1() -> Iterator[Site]:
    yield from synth(
        replace(SPA, region="us-east-1", availability_zones=("us-east-1a", "us-east-1b"))
    )


def test_a_site_gets_no_container_inputs(spa: Site) -> None:
    web = spa.web
    for kind in (
        "AWS::SecretsManager::Secret",
        "AWS::ECS::Service",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::WAFv2::WebACLAssociation",
    ):
        assert not resources(web, kind), kind
    assert spa.stage.web.app_secret is None
    assert spa.stage.web.runtime.runtime_role is None
    # Only CDK's deploy-time functions have roles: the deployment, auto-delete, log retention.
    assert "AppSecretArn" not in web["Outputs"]


def test_the_browser_client_joins_the_api_pool_and_returns_to_the_site(spa: Site) -> None:
    client_id, client = only(spa.web, "AWS::Cognito::UserPoolClient")
    props = client["Properties"]
    assert props["CallbackURLs"] == props["LogoutURLs"] == [f"https://{DOMAIN}/"]
    assert props["GenerateSecret"] is False
    assert props["AllowedOAuthFlows"] == ["code"]
    assert props["UserPoolId"]["Fn::GetStackOutput"]["StackName"] == "three-tier-spa-api"
    _, parameter = only(spa.web, "AWS::SSM::Parameter")
    assert parameter["Properties"]["Name"] == sign_in_clients_parameter(APP_CONFIG, SPA)
    assert parameter["Properties"]["Value"] == {"Ref": client_id}
    outputs = spa.web["Outputs"]
    assert outputs["BrowserClientId"]["Value"] == {"Ref": client_id}
    sign_in = spa.stage.api.sign_in
    assert sign_in is not None
    assert outputs["SignInUrl"]["Value"] == f"{sign_in.domain_url}/oauth2/authorize"
    assert outputs["PublicUrl"]["Value"] == f"https://{DOMAIN}"
    assert outputs["Rollout"]["Value"] == "cloudformation"


def test_config_json_is_the_contract(spa: Site) -> None:
    sign_in = spa.stage.api.sign_in
    assert sign_in is not None
    config = json.loads(spa.config_json.replace("<<marker:0xbaba:0>>", '"CLIENT"'))
    assert config == {
        "apiBase": "/api",
        "clientId": "CLIENT",
        "authorizeUrl": f"{sign_in.domain_url}/oauth2/authorize",
        "tokenUrl": f"{sign_in.domain_url}/oauth2/token",
        "logoutUrl": f"{sign_in.domain_url}/logout",
        "scopes": "openid email profile",
    }
    assert sign_in.domain_url.endswith(".auth.eu-west-1.amazoncognito.com")


def test_the_csp_names_the_sign_in_origin_and_the_api_is_routed(spa: Site) -> None:
    sign_in = spa.stage.api.sign_in
    assert sign_in is not None
    _, policy = only(spa.web, "AWS::CloudFront::ResponseHeadersPolicy")
    csp = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"][
        "ContentSecurityPolicy"
    ]["ContentSecurityPolicy"]
    assert f"connect-src 'self' {sign_in.domain_url};" in csp
    _, distribution = only(spa.web, "AWS::CloudFront::Distribution")
    (api,) = distribution["Properties"]["DistributionConfig"]["CacheBehaviors"]
    assert api["PathPattern"] == "/api/*"


def test_the_certificate_and_acl_are_in_the_us_east_1_edge_stack(spa: Site) -> None:
    assert spa.edge is not None
    edge_stack = spa.stage.node.find_child("WebEdge")
    assert isinstance(edge_stack, Stack)
    assert (edge_stack.region, edge_stack.stack_name) == ("us-east-1", "three-tier-spa-web-edge")
    assert spa.stage.web.region == "eu-west-1"
    _, certificate = only(spa.edge, "AWS::CertificateManager::Certificate")
    assert certificate["Properties"]["DomainName"] == DOMAIN
    _, acl = only(spa.edge, "AWS::WAFv2::WebACL")
    assert acl["Properties"]["Scope"] == "CLOUDFRONT"
    assert not resources(spa.web, "AWS::WAFv2::WebACL")
    records = resources(spa.web, "AWS::Route53::RecordSet").values()
    assert {(r["Properties"]["Name"], r["Properties"]["Type"]) for r in records} == {
        (f"{DOMAIN}.", "A"),
        (f"{DOMAIN}.", "AAAA"),
    }


def test_the_canary_waits_for_the_app_to_render(spa: Site) -> None:
    _, canary = only(spa.web, "AWS::Synthetics::Canary")
    variables = canary["Properties"]["RunConfig"]["EnvironmentVariables"]
    assert variables == {URL_VARIABLE: f"https://{DOMAIN}/", SELECTOR_VARIABLE: SITE_READY_SELECTOR}
    script = canary["Properties"]["Code"]["Script"]
    assert "synthetics.getPage()" in script
    assert "waitForSelector(selector" in script
    assert canary["Properties"]["RunConfig"]["TimeoutInSeconds"] == 120


def test_in_us_east_1_everything_is_in_the_web_stack_and_alarms_exist(spa_us_east_1: Site) -> None:
    assert spa_us_east_1.edge is None
    only(spa_us_east_1.web, "AWS::CertificateManager::Certificate")
    _, acl = only(spa_us_east_1.web, "AWS::WAFv2::WebACL")
    assert acl["Properties"]["Scope"] == "CLOUDFRONT"
    runtime = spa_us_east_1.stage.web.runtime
    (alarm,) = runtime.alarm_sources(SPA.alarms, period=Duration.minutes(5))
    assert alarm.id_ == "Web5xx"
