"""Every web runtime behind one interface: the factory picks it from config, each one in the
registry gives the platform what it needs (URL, service id, a role with exactly the app's
grants, a WAF in front of its entry point, its rollback guard, alarms, its rollout and deploy
permissions), and nothing outside the factory and the runtime modules names a runtime."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from aws_cdk import CfnElement, Environment, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from cdk_constructs.github_deploy_role import RELEASE_READ_ACTIONS
from cdk_constructs.monitoring import PERIOD
from cdk_constructs.options import CpuArchitecture, WebReleaseStrategy, WebRuntime
from cdk_constructs.web_runtime.app_runner import AppRunnerService
from cdk_constructs.web_runtime.factory import WEB_RUNTIMES, web_runtime_type
from cdk_constructs.web_runtime.fargate import FargateOptions, FargateWebService
from cdk_constructs.web_runtime.image import PLACEHOLDER_IMAGE, PublicImage
from cdk_constructs.web_runtime.interface import (
    WebAclPlacement,
    WebReleasePlan,
    WebRuntimeProps,
    WebRuntimeService,
    runtime_traits,
)
from cdk_constructs.web_runtime.rollout import Rollout
from release.contract import RELEASE_OUTPUT, WebRelease
from stacks.config import APP_CONFIG, EnvironmentConfig, deploy_role_name
from stacks.config.runtimes import runtime_spec
from stacks.config.sections import AlarmThresholds, WebReleaseConfig
from stacks.platform_stage import PlatformStage
from stacks.web_stack import web_service_name
from tests.synth import REPO_ROOT, Tier, scratch_app
from tests.template_queries import only, policy_statements_of_role, references, resources
from tests.test_github_oidc import ACCOUNT, roles, synth_oidc
from tests.web_variants import Templates, assert_runtime_role, on_runtime

RUNTIMES = sorted(r for r in WEB_RUNTIMES if runtime_spec(r).runs_container)
"""The container runtimes (the static site has its own tests: tests/test_static_site.py)."""


def prod_on(runtime: WebRuntime) -> EnvironmentConfig:
    """prod (retained data, WAF, proxy) on ``runtime``, serving plain HTTP (no domain)."""
    prod = APP_CONFIG.environment("prod")
    return on_runtime(prod, runtime, f"-{runtime.value.replace('_', '-')}", allow_plain_http=True)


@dataclass(frozen=True)
class Built:
    stage: PlatformStage
    templates: Templates

    @property
    def runtime(self) -> WebRuntimeService:
        return self.stage.web.runtime

    def web_id(self, element: CfnElement) -> str:
        return self.stage.web.get_logical_id(element)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[WebRuntime, Built]:
    """One stage per registered runtime, synthesized in one app (the quality gates run on the
    shipped and variant synths)."""
    outdir = tmp_path_factory.mktemp("runtimes")
    app = scratch_app(outdir)
    stages = {
        runtime: PlatformStage(app, app=APP_CONFIG, env_config=prod_on(runtime))
        for runtime in RUNTIMES
    }
    app.synth()

    def load(stage: PlatformStage, tier: Tier) -> dict[str, Any]:
        stack: Stack = getattr(stage, tier.value)
        template: dict[str, Any] = json.loads(
            (outdir / stage.artifact_id / stack.template_file).read_text()
        )
        return template

    return {
        runtime: Built(stage, Templates(stage.env_config, *(load(stage, tier) for tier in Tier)))
        for runtime, stage in stages.items()
    }


def test_every_runtime_has_a_registry_row() -> None:
    assert set(WEB_RUNTIMES) == set(WebRuntime)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_factory_builds_the_configured_runtime(
    runtime: WebRuntime, built: dict[WebRuntime, Built]
) -> None:
    built_runtime = built[runtime].runtime
    assert type(built_runtime) is cast(object, web_runtime_type(runtime))
    assert isinstance(built_runtime, WebRuntimeService)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_outputs_url_service_id_and_rollout(
    runtime: WebRuntime, built: dict[WebRuntime, Built]
) -> None:
    web_runtime, stack = built[runtime].runtime, built[runtime].stage.web
    outputs = built[runtime].templates.web["Outputs"]
    assert outputs["PublicUrl"]["Value"] == stack.resolve(web_runtime.url)
    assert outputs["ServiceId"]["Value"] == stack.resolve(web_runtime.service_id)
    assert outputs["Rollout"]["Value"] == web_runtime.rollout.value
    assert web_runtime.rollout is web_runtime_type(runtime).rollout
    # The release the runtime applies, as the release tooling reads it (release/contract.py).
    release = WebRelease.from_json(outputs[RELEASE_OUTPUT]["Value"])
    assert release == web_runtime.release
    assert (release.runtime, release.strategy) == (runtime.value, "rolling")  # prod_on: rolling
    assert web_runtime.release_strategies == web_runtime_type(runtime).release_strategies


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_runtime_role_gets_exactly_the_two_secrets_and_the_session_table(
    runtime: WebRuntime, built: dict[WebRuntime, Built]
) -> None:
    web_runtime, stack = built[runtime].runtime, built[runtime].stage.web
    role = web_runtime.runtime_role
    assert role is not None
    role_arn = stack.resolve(role.role_arn)
    (role_id, attribute) = role_arn["Fn::GetAtt"]
    assert attribute == "Arn"
    assert_runtime_role(built[runtime].templates, role_id)


def own_resources(built: Built) -> set[str]:
    """Logical ids of every resource the runtime construct holds."""
    return {
        built.web_id(child)
        for child in built.runtime.node.find_all()
        if isinstance(child, CfnElement) and not isinstance(child, Stack)
    }


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_web_acl_protects_the_runtimes_own_entry_point(
    runtime: WebRuntime, built: dict[WebRuntime, Built]
) -> None:
    """A regional ACL associated with the runtime's own entry point; a runtime that builds its
    own (CloudFront's, ``traits.web_acl``) puts it on its own distribution."""
    web = built[runtime].templates.web
    assert built[runtime].templates.config.web.waf
    if runtime_traits(web_runtime_type(runtime)).web_acl is WebAclPlacement.RUNTIME:
        assert not resources(web, "AWS::WAFv2::WebACLAssociation")
        distribution_id, distribution = only(web, "AWS::CloudFront::Distribution")
        acl = distribution["Properties"]["DistributionConfig"]["WebACLId"]
        protected = {distribution_id} | references(acl)
    else:
        _, association = only(web, "AWS::WAFv2::WebACLAssociation")
        protected = references(association["Properties"]["ResourceArn"])
    assert protected
    assert protected <= own_resources(built[runtime])


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_what_the_runtime_protects_from_deletion_has_a_guard(
    runtime: WebRuntime, built: dict[WebRuntime, Built]
) -> None:
    web = built[runtime].templates.web
    protected = built[runtime].runtime.deletion_protected
    guards = resources(web, "Custom::CreateRollbackGuard").values()
    assert sorted(guard["Properties"]["Kind"] for guard in guards) == sorted(
        item.kind.value for item in protected
    )
    for item in protected:
        resource_id = built[runtime].web_id(item.resource)
        assert resource_id in own_resources(built[runtime])
        (guard,) = [g for g in guards if g["Properties"]["Kind"] == item.kind.value]
        assert resource_id in references(guard)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_monitoring_alarms_on_what_the_runtime_names_and_on_its_canary(
    runtime: WebRuntime, built: dict[WebRuntime, Built]
) -> None:
    stage, ops = built[runtime].stage, built[runtime].templates.ops
    sources = built[runtime].runtime.alarm_sources(stage.env_config.alarms, period=PERIOD)
    assert sources
    alarms = stage.ops.monitoring.alarms
    for source in sources:
        alarm_resource = cast(CfnElement, alarms[source.id_].node.default_child)
        alarm = ops["Resources"][stage.ops.get_logical_id(alarm_resource)]
        assert alarm["Properties"]["AlarmDescription"].startswith(f"{source.what} at or above")
        assert alarm["Properties"]["Threshold"] == source.threshold
    dashboard = json.dumps(only(ops, "AWS::CloudWatch::Dashboard")[1])
    assert all(json.dumps(source.graph)[1:-1] in dashboard for source in sources)
    canary_alarms = [
        alarm
        for alarm in resources(ops, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == "CloudWatchSynthetics"
    ]
    assert len(canary_alarms) == 1


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_deploy_role_gets_the_runtimes_deploy_permissions(
    runtime: WebRuntime, tmp_path: Path
) -> None:
    dev = APP_CONFIG.environment("dev")
    env = replace(dev, account=ACCOUNT, web=replace(dev.web, runtime=runtime, spot=False))
    config = replace(APP_CONFIG, environments=(env,))
    template = synth_oidc(tmp_path, config, ACCOUNT)
    role = roles(template)[deploy_role_name(config, env)]
    statements = {
        statement.get("Sid"): statement
        for statement in policy_statements_of_role(template, role["id"])
    }
    permissions = web_runtime_type(runtime).deploy_permissions(
        service_name=web_service_name(config, env),
        partition="aws",
        region=env.region,
        account=env.account,
    )
    # The platform's own statements, and reading releases (``python -m release``), which every
    # runtime's environment has: the rest are the runtime's.
    platform_sids = {"AssumeCdkBootstrapRoles", "PushImages", "LogInToEcr", *RELEASE_READ_ACTIONS}
    assert set(statements) - platform_sids == {permission.sid for permission in permissions}
    for permission in permissions:
        statement = statements[permission.sid]
        actions = statement["Action"]
        assert sorted(actions if isinstance(actions, list) else [actions]) == sorted(
            permission.actions
        )
        resource = statement["Resource"]
        assert (resource if isinstance(resource, list) else [resource]) == list(
            permission.resources
        )


def deploy_steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load((REPO_ROOT / ".github/workflows/deploy.yml").read_text())
    steps: list[dict[str, Any]] = workflow["jobs"]["deploy"]["steps"]
    return steps


def test_the_deploy_workflow_rolls_out_by_the_web_stacks_rollout_output() -> None:
    """A rollout other than the stack update has its own step, keyed on ``env.rollout`` (which
    ``stacks.delivery web-outputs`` writes to ``$GITHUB_ENV`` from the ``Rollout`` output)."""
    steps = deploy_steps()
    conditions = [step.get("if", "") for step in steps]
    keyed = {condition for condition in conditions if "env.rollout" in condition}
    assert keyed == {f"env.rollout == '{rollout}'" for rollout in Rollout} - {
        f"env.rollout == '{Rollout.CLOUDFORMATION}'"
    }
    assert not [condition for condition in conditions if "outputs.runtime" in condition]
    (start,) = [
        i for i, step in enumerate(steps) if "apprunner start-deployment" in step.get("run", "")
    ]
    assert steps[start]["if"] == f"env.rollout == '{Rollout.APP_RUNNER_START_DEPLOYMENT}'"
    (outputs,) = [i for i, step in enumerate(steps) if "web-outputs" in step.get("run", "")]
    assert '>> "$GITHUB_ENV"' in steps[outputs]["run"]
    assert outputs < start
    assert {runtime.rollout for runtime in WEB_RUNTIMES.values()} <= set(Rollout)


RUNTIME_BRANCH = re.compile(r"WebRuntime\.|isinstance\(.*Web|\.app_runner\b|\.fargate\b")
"""How code would name one runtime: a member, a type check, an attribute per runtime."""
RUNTIME_HOMES = ("cdk_constructs/web_runtime/", "cdk_constructs/options.py", "stacks/config")
"""Where naming a runtime belongs: the factory and runtime modules, and config's own rules."""


def test_nothing_outside_the_factory_and_the_runtimes_names_a_runtime() -> None:
    sources = [
        *sorted((REPO_ROOT / "cdk_constructs").rglob("*.py")),
        *sorted((REPO_ROOT / "stacks").rglob("*.py")),
        *sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml")),
    ]
    found = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for path in sources
        if not str(path.relative_to(REPO_ROOT)).startswith(RUNTIME_HOMES)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if RUNTIME_BRANCH.search(line)
    ]
    assert len(sources) > 20
    assert found == []


# --- Fargate: Spot runs X86_64 only ---------------------------------------------------------------

ENV = Environment(account="111111111111", region="us-east-1")


def _spot(stack: Stack) -> WebRuntimeProps:
    vpc = ec2.Vpc(stack, "Vpc", availability_zones=["us-east-1a", "us-east-1b"])
    return WebRuntimeProps(
        name="web",
        vpc=vpc,
        public_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        app_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        image=PublicImage(PLACEHOLDER_IMAGE),
        port=8080,
        health_path="/healthz",
        cpu=256,
        memory_mib=512,
        min_instances=1,
        max_instances=1,
        log_retention=logs.RetentionDays.TWO_WEEKS,
        removal_policy=RemovalPolicy.DESTROY,
    )


# https://docs.aws.amazon.com/AmazonECS/latest/userguide/fargate-capacity-providers.html
# "Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity provider.
# Fargate Spot only supports Linux tasks with the X86_64 architecture."
def test_fargate_service_refuses_arm64_tasks_on_spot_and_runs_x86_there() -> None:
    stack = Stack(scratch_app(), "Spot", env=ENV)
    props = _spot(stack)
    options = FargateOptions(
        spot=True, cpu_architecture=CpuArchitecture.ARM64, allowed_ingress_cidrs=["0.0.0.0/0"]
    )
    with pytest.raises(ValueError, match="X86_64"):
        FargateWebService(stack, "Arm", props=props, options=options)
    FargateWebService(
        stack,
        "X86",
        props=props,
        options=replace(options, cpu_architecture=CpuArchitecture.X86_64),
    )
    template = dict(Template.from_stack(stack).to_json())
    _, task = only(template, "AWS::ECS::TaskDefinition")
    assert task["Properties"]["RuntimePlatform"]["CpuArchitecture"] == "X86_64"
    _, service = only(template, "AWS::ECS::Service")
    strategy = service["Properties"]["CapacityProviderStrategy"]
    assert [item["CapacityProvider"] for item in strategy] == ["FARGATE_SPOT"]


# --- releases: what each runtime can run ----------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_each_runtime_runs_exactly_the_strategies_its_config_spec_allows(
    runtime: WebRuntime,
) -> None:
    assert WEB_RUNTIMES[runtime].release_strategies == runtime_spec(runtime).release_strategies
    assert WebReleaseStrategy.ROLLING in WEB_RUNTIMES[runtime].release_strategies


def test_a_runtime_refuses_a_strategy_it_cannot_run_in_one_line() -> None:
    """Config refuses it first (stacks/config); the construct guards direct use."""
    stack = Stack(scratch_app(), "Refused", env=ENV)
    canary = WebReleaseConfig(strategy=WebReleaseStrategy.CANARY)
    props = replace(_spot(stack), release=WebReleasePlan(canary, AlarmThresholds()))
    refusal = r"^app_runner cannot release with canary \(it runs: rolling\)$"
    with pytest.raises(ValueError, match=refusal):
        AppRunnerService(stack, "AppRunner", props=props)
