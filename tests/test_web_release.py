"""Safe web releases on the Fargate runtime (issue 16): ECS's deployment strategy from
``web.release``, the alternate target group and listener rules ECS shifts, and the release alarms
that roll a release back. Each AWS rule cdk_constructs/web_runtime/fargate_release.py relies on
is pinned here, by relation (references between resources), not by logical id. The EC2 runtime
(rolling only: an instance refresh within the stack update) keeps the same release alarms on its
one target group; what is ECS's alone (blue/green groups and listener rules) is Fargate's only."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from cdk_constructs.options import WebReleaseStrategy, WebRuntime
from cdk_constructs.web_runtime.ec2 import REFRESH_BAKE, REFRESH_WARMUP
from cdk_constructs.web_runtime.fargate_release import (
    INFRASTRUCTURE_POLICY,
    TEST_PORT_HTTP,
    TEST_PORT_HTTPS,
)
from release.contract import RELEASE_OUTPUT, WebRelease
from stacks.config import APP_CONFIG, canary_name
from stacks.config.sections import WebReleaseConfig
from tests.synth import (
    PLATFORM_ALB_ENV_NAMES,
    Synthesized,
    SynthesizedEnv,
    Tier,
    env_fixture,
    synth_variant,
)
from tests.template_queries import (
    all_dependencies,
    direct_dependencies,
    get_att,
    imported,
    only,
    ref,
    resources,
    security_group_rules,
)
from tests.web_variants import Templates
from tests.web_variants import variants as variants  # fixture

env = env_fixture(PLATFORM_ALB_ENV_NAMES)
"""Each shipped environment behind the platform's own ALB (Express has its own module)."""

SERVICE = "AWS::ECS::Service"
GROUP = "AWS::AutoScaling::AutoScalingGroup"
ALARM = "AWS::CloudWatch::Alarm"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"
LISTENER = "AWS::ElasticLoadBalancingV2::Listener"
RULE = "AWS::ElasticLoadBalancingV2::ListenerRule"
SHIPPED: dict[str, dict[str, Any]] = {
    "dev": {"Strategy": "ROLLING"},
    "staging": {
        "Strategy": "CANARY",
        "CanaryConfiguration": {"CanaryPercent": 10, "CanaryBakeTimeInMinutes": 5},
        "BakeTimeInMinutes": 10,
    },
    "prod": {"Strategy": "BLUE_GREEN", "BakeTimeInMinutes": 15},
    "classic": {"Strategy": "ROLLING"},
}
"""What each shipped environment's service releases with (stacks/config/environments.py), on
Fargate."""
SHIPPED_REFRESH: dict[str, dict[str, Any]] = {
    "ec2": {
        "MinHealthyPercentage": 100,  # launch before terminate: the old instances serve
        "MaxHealthyPercentage": 200,
        "InstanceWarmup": REFRESH_WARMUP.to_seconds(),
        "BakeTime": REFRESH_BAKE.to_seconds(),
        "SkipMatching": True,
    },
}
"""The instance refresh preferences of each shipped environment on EC2 (rolling only)."""
FARGATE_ENV_NAMES = tuple(
    name
    for name in PLATFORM_ALB_ENV_NAMES
    if APP_CONFIG.environment(name).web.runtime is WebRuntime.FARGATE
)
SHIFT_KEYS = {"CanaryConfiguration", "LinearConfiguration", "BakeTimeInMinutes"}
DEV = APP_CONFIG.environment("dev")
LINEAR = WebReleaseConfig(
    strategy=WebReleaseStrategy.LINEAR, step_percent=25, step_bake_minutes=3, bake_minutes=5
)


@pytest.fixture(scope="module")
def linear_dev() -> dict[str, Any]:
    """dev's web tier, unchanged but for a linear release (same name, so same tags): with
    cdk-nag and CDK's template checks, which fail the synth on any unacknowledged finding."""
    config = replace(DEV, web=replace(DEV.web, release=LINEAR))
    return synth_variant(config, Tier.WEB, nag=True)


EC2_ENV_NAMES = tuple(name for name in PLATFORM_ALB_ENV_NAMES if name not in FARGATE_ENV_NAMES)


@pytest.fixture(params=FARGATE_ENV_NAMES)
def fargate_env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment on Fargate: what ECS alone does (blue/green groups, rules)."""
    return synthesized.envs[request.param]


@pytest.fixture(params=EC2_ENV_NAMES)
def ec2_env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment on EC2 (``test_the_shipped_runtimes``)."""
    return synthesized.envs[request.param]


# --- helpers ---------------------------------------------------------------------------------


def on_fargate(env: SynthesizedEnv) -> bool:
    """Fargate (ECS deployments) or else EC2 (an instance refresh): the two container runtimes
    shipped environments run (the premise is checked in ``test_the_shipped_runtimes``)."""
    return env.config.web.runtime is WebRuntime.FARGATE


def test_the_shipped_runtimes() -> None:
    runtimes = {APP_CONFIG.environment(name).web.runtime for name in PLATFORM_ALB_ENV_NAMES}
    assert runtimes == {WebRuntime.FARGATE, WebRuntime.EC2}
    assert set(FARGATE_ENV_NAMES) == set(SHIPPED)
    assert set(PLATFORM_ALB_ENV_NAMES) - set(FARGATE_ENV_NAMES) == set(SHIPPED_REFRESH)


def service_of(web: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    logical_id, service = only(web, SERVICE)
    return logical_id, service["Properties"]


def group_of(web: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The EC2 runtime's Auto Scaling group: (logical id, resource)."""
    return only(web, GROUP)


def refresh_of(web: dict[str, Any]) -> dict[str, Any]:
    """The EC2 runtime's instance refresh (the group's update policy)."""
    refresh: dict[str, Any] = group_of(web)[1]["UpdatePolicy"]["AutoScalingInstanceRefresh"]
    return refresh


def service_id_of(env: SynthesizedEnv) -> str:
    """What runs the web containers: the ECS service, or the EC2 runtime's group."""
    return service_of(env.web_json)[0] if on_fargate(env) else group_of(env.web_json)[0]


def watched_alarms(env: SynthesizedEnv) -> list[str]:
    """The alarms a release watches: ECS's deployment alarms, or the instance refresh's."""
    if on_fargate(env):
        deployment = service_of(env.web_json)[1]["DeploymentConfiguration"]
        names: list[str] = deployment["Alarms"]["AlarmNames"]
    else:
        names = refresh_of(env.web_json)["Preferences"]["AlarmSpecification"]["Alarms"]
    return names


def release_groups(env: SynthesizedEnv) -> set[str]:
    """The target groups a release runs in: blue and green on Fargate, the one group on EC2."""
    if on_fargate(env):
        return set(groups_of(env.web_json))
    (target_group,) = group_of(env.web_json)[1]["Properties"]["TargetGroupARNs"]
    return {target_group["Ref"]}


def release_of(web: dict[str, Any]) -> WebRelease:
    return WebRelease.from_json(web["Outputs"][RELEASE_OUTPUT]["Value"])


def alarms_by_name(web: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Alarm name -> (logical id, properties), for every alarm of the web stack."""
    return {
        alarm["Properties"]["AlarmName"]: (logical_id, alarm["Properties"])
        for logical_id, alarm in resources(web, ALARM).items()
    }


def groups_of(web: dict[str, Any]) -> tuple[str, str]:
    """(primary, alternate) target group logical ids, as the service names them."""
    (balancer,) = service_of(web)[1]["LoadBalancers"]
    primary = balancer["TargetGroupArn"]["Ref"]
    alternate = balancer["AdvancedConfiguration"]["AlternateTargetGroupArn"]["Ref"]
    return primary, alternate


def rules_of(web: dict[str, Any]) -> tuple[str, str]:
    """(production, test) listener rule logical ids, as the service names them."""
    (balancer,) = service_of(web)[1]["LoadBalancers"]
    advanced = balancer["AdvancedConfiguration"]
    return advanced["ProductionListenerRule"]["Ref"], advanced["TestListenerRule"]["Ref"]


def listener_of(web: dict[str, Any], rule_id: str) -> dict[str, Any]:
    listener_id = web["Resources"][rule_id]["Properties"]["ListenerArn"]["Ref"]
    return dict(web["Resources"][listener_id]["Properties"])


def metric_stats(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm reads: its own, or those of its math expression."""
    if "MetricName" in alarm:
        keys = ("Namespace", "MetricName", "Dimensions")
        return [{key: alarm[key] for key in keys}]
    return [query["MetricStat"]["Metric"] for query in alarm["Metrics"] if "MetricStat" in query]


def dimensions(metric: dict[str, Any]) -> dict[str, Any]:
    return {item["Name"]: item["Value"] for item in metric["Dimensions"]}


# --- the strategy and the rollback -------------------------------------------------------------


def test_each_environment_releases_with_its_strategy_and_times(env: SynthesizedEnv) -> None:
    if not on_fargate(env):
        # A rolling instance refresh that CloudFormation runs within the stack update.
        assert env.config.web.release.strategy is WebReleaseStrategy.ROLLING
        _, group = group_of(env.web_json)
        assert "AutoScalingRollingUpdate" not in group["UpdatePolicy"]
        assert "CreationPolicy" not in group  # a refresh does not use cfn-signal
        refresh = refresh_of(env.web_json)
        assert refresh["Strategy"] == "Rolling"
        expected_refresh = SHIPPED_REFRESH[env.config.name]
        preferences = refresh["Preferences"]
        assert {key: preferences.get(key) for key in expected_refresh} == expected_refresh
        assert set(preferences) == {*expected_refresh, "AlarmSpecification"}
        return
    deployment = service_of(env.web_json)[1]["DeploymentConfiguration"]
    expected = SHIPPED[env.config.name]
    assert {key: deployment.get(key) for key in expected} == expected
    assert not (SHIFT_KEYS - set(expected)) & set(deployment)
    assert deployment["Strategy"] == env.config.web.release.strategy.upper()


def test_the_linear_variant_shifts_in_equal_steps(linear_dev: dict[str, Any]) -> None:
    deployment = service_of(linear_dev)[1]["DeploymentConfiguration"]
    assert deployment["Strategy"] == "LINEAR"
    assert deployment["LinearConfiguration"] == {"StepPercent": 25, "StepBakeTimeInMinutes": 3}
    assert deployment["BakeTimeInMinutes"] == 5
    assert "CanaryConfiguration" not in deployment
    release = release_of(linear_dev)
    assert (release.strategy, release.step_percent, release.step_bake_minutes) == ("linear", 25, 3)
    assert (release.bake_minutes, release.alarms) == (5, tuple(deployment["Alarms"]["AlarmNames"]))


# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-failure-detection.html:
# circuit breaker and alarms "only support rolling update deployment and blue/green deployment
# types"; "When both methods are used, either can trigger deployment failure".
def test_every_strategy_rolls_back_on_the_release_alarms_and_the_circuit_breaker(
    env: SynthesizedEnv,
) -> None:
    web = env.web_json
    prefix = f"{APP_CONFIG.app_name}-{env.config.name}-web-release-"
    if not on_fargate(env):
        # No ECS circuit breaker: the instance refresh fails as soon as one release alarm is in
        # ALARM, which fails the stack update and rolls it back (cdk_constructs/web_runtime/ec2.py).
        assert watched_alarms(env) == [
            f"{prefix}{what}" for what in ("5xx-rate", "p99", "unhealthy", "canary")
        ]
        assert set(watched_alarms(env)) == set(alarms_by_name(web))
        alarm_ids = {logical_id for logical_id, _ in alarms_by_name(web).values()}
        assert alarm_ids <= direct_dependencies(web, group_of(web)[0])
        return
    deployment = service_of(web)[1]["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    watched = deployment["Alarms"]
    assert (watched["Enable"], watched["Rollback"]) == (True, True)
    assert watched["AlarmNames"] == [
        f"{prefix}{what}" for what in ("5xx-rate", "p99", "unhealthy-blue", "unhealthy-green")
    ] + [f"{prefix}canary"]
    # Exactly the web stack's alarms, under those literal names, created before the service:
    # ECS refuses a deployment alarm that does not exist.
    assert set(watched["AlarmNames"]) == set(alarms_by_name(web))
    alarm_ids = {logical_id for logical_id, _ in alarms_by_name(web).values()}
    assert alarm_ids <= direct_dependencies(web, service_of(web)[0])


def test_the_release_alarms_read_5xx_rate_p99_unhealthy_hosts_and_the_canary(
    env: SynthesizedEnv,
) -> None:
    web, config = env.web_json, env.config
    alarms = {
        name.rsplit("-release-", 1)[1]: alarm for name, (_, alarm) in alarms_by_name(web).items()
    }
    # Unhealthy hosts of each group a release runs in: blue and green on Fargate (the new
    # release runs in either of them), the one group on EC2.
    unhealthy_names = ("unhealthy-blue", "unhealthy-green") if on_fargate(env) else ("unhealthy",)
    assert set(alarms) == {"5xx-rate", "p99", *unhealthy_names, "canary"}
    alb_id, _ = only(web, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    balancer = get_att(alb_id, "LoadBalancerFullName")
    for alarm in alarms.values():
        assert alarm["TreatMissingData"] == "notBreaching"  # no traffic is no failure
        # ECS or the instance refresh reads them; the ops stack's alarms notify.
        assert "AlarmActions" not in alarm

    rate = alarms["5xx-rate"]
    (expression,) = [query for query in rate["Metrics"] if "Expression" in query]
    assert expression["Expression"] == "100 * FILL(errors, 0) / requests"
    by_id = {query["Id"]: query["MetricStat"] for query in rate["Metrics"] if "MetricStat" in query}
    assert {key: (stat["Metric"]["MetricName"], stat["Stat"]) for key, stat in by_id.items()} == {
        "errors": ("HTTPCode_Target_5XX_Count", "Sum"),
        "requests": ("RequestCount", "Sum"),
    }
    for stat in by_id.values():
        assert stat["Period"] == 60
        assert dimensions(stat["Metric"]) == {"LoadBalancer": balancer}
    assert rate["Threshold"] == config.alarms.web_target_5xx_rate_percent

    p99 = alarms["p99"]
    metric = ("TargetResponseTime", "p99", 60)
    assert (p99["MetricName"], p99["ExtendedStatistic"], p99["Period"]) == metric
    assert dimensions(p99) == {"LoadBalancer": balancer}
    assert p99["Threshold"] == config.alarms.web_p99_response_ms / 1000  # seconds
    for name in ("5xx-rate", "p99"):
        assert alarms[name]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"

    unhealthy = {
        dimensions(alarms[name])["TargetGroup"]["Fn::GetAtt"][0] for name in unhealthy_names
    }
    assert len(unhealthy) == len(unhealthy_names)
    assert unhealthy == release_groups(env) == set(resources(web, TARGET_GROUP))
    for name in unhealthy_names:
        assert alarms[name]["MetricName"] == "UnHealthyHostCount"
        assert dimensions(alarms[name])["LoadBalancer"] == balancer
        assert alarms[name]["Threshold"] == 1

    canary = alarms["canary"]
    assert (canary["Namespace"], canary["MetricName"]) == ("CloudWatchSynthetics", "SuccessPercent")
    # By name, a literal: the canary is built after the runtime, and the alarm must not wait.
    assert dimensions(canary) == {"CanaryName": canary_name(config)}
    _, health_canary = only(web, "AWS::Synthetics::Canary")
    assert health_canary["Properties"]["Name"] == canary_name(config)
    assert (canary["Threshold"], canary["ComparisonOperator"]) == (100, "LessThanThreshold")


# --- the load balancer resources ECS shifts ----------------------------------------------------


# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb-resources-for-blue-green.html:
# two target groups, target type IP, health checks; a role with the managed policy
# (AmazonECSInfrastructureRolePolicyForLoadBalancers.html).
def test_the_service_registers_with_blue_and_hands_green_and_both_rules_to_ecs(
    fargate_env: SynthesizedEnv,
) -> None:
    env = fargate_env
    web = env.web_json
    _, service = service_of(web)
    (balancer,) = service["LoadBalancers"]
    container = ("web", env.config.web.container_port)
    assert (balancer["ContainerName"], balancer["ContainerPort"]) == container
    primary, alternate = groups_of(web)
    assert primary != alternate
    groups = [web["Resources"][group]["Properties"] for group in (primary, alternate)]
    checks = [{k: v for k, v in group.items() if k.startswith("HealthCheck")} for group in groups]
    assert checks[0]["HealthCheckPath"] == env.config.web.health_path
    assert checks[0] == checks[1]
    for group in groups:
        assert (group["TargetType"], group["Port"]) == ("ip", env.config.web.container_port)
        assert group["Matcher"] == groups[0]["Matcher"]
    role_id = balancer["AdvancedConfiguration"]["RoleArn"]["Fn::GetAtt"][0]
    role = web["Resources"][role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "ecs.amazonaws.com"}
    (policy,) = role["ManagedPolicyArns"]
    assert json.dumps(policy).endswith(f':iam::aws:policy/{INFRASTRUCTURE_POLICY}"]]}}')
    assert "Policies" not in role
    assert not [
        policy
        for policy in resources(web, "AWS::IAM::Policy").values()
        if ref(role_id) in policy["Properties"]["Roles"]
    ]


# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/troubleshooting-blue-green.html:
# an ALB takes listener *rule* ARNs ("Must be RuleArn for ALB"), and production and test rules
# must differ. alb-resources-for-blue-green.html: no listener mixing forward and other actions.
def test_the_production_and_test_rules_forward_every_path_to_both_groups(
    fargate_env: SynthesizedEnv,
) -> None:
    env = fargate_env
    web, config = env.web_json, env.config
    production, test = rules_of(web)
    assert production != test
    primary, alternate = groups_of(web)
    listeners = []
    for rule_id in (production, test):
        rule = web["Resources"][rule_id]
        assert rule["Type"] == RULE
        props = rule["Properties"]
        (action,) = props["Actions"]
        assert action["Type"] == "forward"
        assert action["ForwardConfig"]["TargetGroups"] == [
            {"TargetGroupArn": ref(primary), "Weight": 100},
            {"TargetGroupArn": ref(alternate), "Weight": 0},
        ]
        assert props["Conditions"] == [
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}
        ]
        listeners.append(props["ListenerArn"]["Ref"])
    assert listeners[0] != listeners[1]
    ports = {web["Resources"][listener]["Properties"]["Port"] for listener in listeners}
    https = config.web.domain_name is not None
    assert ports == ({443, TEST_PORT_HTTPS} if https else {80, TEST_PORT_HTTP})
    for listener in listeners:
        actions = [
            *web["Resources"][listener]["Properties"]["DefaultActions"],
            *(
                action
                for rule in resources(web, RULE).values()
                if rule["Properties"]["ListenerArn"] == ref(listener)
                for action in rule["Properties"]["Actions"]
            ),
        ]
        assert {action["Type"] for action in actions} == {"forward"}


def test_on_ec2_the_group_registers_with_the_one_group_the_serving_listener_forwards_to(
    ec2_env: SynthesizedEnv,
) -> None:
    """No second group and no listener rule: a release replaces instances, it shifts nothing."""
    web, config = ec2_env.web_json, ec2_env.config.web
    (target_id,) = release_groups(ec2_env)
    assert set(resources(web, TARGET_GROUP)) == {target_id}
    target = web["Resources"][target_id]["Properties"]
    assert (target["TargetType"], target["Port"]) == ("instance", config.container_port)
    assert target["HealthCheckPath"] == config.health_path
    assert resources(web, RULE) == {}
    forwarding = [
        listener["Properties"]
        for listener in resources(web, LISTENER).values()
        if any(action["Type"] == "forward" for action in listener["Properties"]["DefaultActions"])
    ]
    (listener,) = forwarding
    assert listener["Port"] == (443 if config.domain_name else 80)
    assert listener["DefaultActions"] == [{"TargetGroupArn": ref(target_id), "Type": "forward"}]


def test_the_test_listener_is_admitted_from_the_production_cidrs_only(
    fargate_env: SynthesizedEnv,
) -> None:
    env = fargate_env
    web, config = env.web_json, env.config
    production, test = rules_of(web)
    listener = listener_of(web, test)
    https = config.web.domain_name is not None
    port = TEST_PORT_HTTPS if https else TEST_PORT_HTTP
    assert listener["Port"] == port
    assert listener["Protocol"] == ("HTTPS" if https else "HTTP")
    if https:  # the production certificate and TLS policy
        production_listener = listener_of(web, production)
        assert listener["Certificates"] == production_listener["Certificates"]
        assert listener["SslPolicy"] == production_listener["SslPolicy"]
    _, alb = only(web, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    (group,) = alb["Properties"]["SecurityGroups"]
    ingress = security_group_rules(web, group["Fn::GetAtt"][0], "ingress")
    allowed = set(config.web.allowed_ingress_cidrs)
    assert {rule["CidrIp"] for rule in ingress if rule["FromPort"] == port} == allowed
    assert all("SourceSecurityGroupId" not in rule for rule in ingress)


# --- update safety -----------------------------------------------------------------------------


# ECS leaves the weights it set on the rules (blue 0 / green 100 after a release), and
# "CloudFormation updates resources based on differences between what you submit and the stack's
# current template" (using-cfn-updating-stacks-update-behaviors.html): rules whose template never
# changes are never sent back to 100/0. So the rules, their listeners and the groups are the same
# whatever the strategy.
def test_the_rules_listeners_and_groups_never_change_with_the_strategy(
    synthesized: Synthesized, linear_dev: dict[str, Any]
) -> None:
    rolling = synthesized.envs["dev"].web_json
    for kind in (RULE, LISTENER, TARGET_GROUP, "AWS::IAM::Role"):
        assert resources(linear_dev, kind) == resources(rolling, kind), kind


# Neither DeploymentConfiguration nor LoadBalancers is a create-only property of
# AWS::ECS::Service (its registry schema, as cfn-lint ships it): changing the strategy updates
# the running service in place. The advanced configuration is there under rolling too, so a
# service moves from rolling to another strategy the way AWS documents
# (update-rolling-to-bluegreen.html): a rolling deployment with the advanced configuration first.
def test_changing_the_strategy_updates_the_same_service_in_place(
    synthesized: Synthesized, linear_dev: dict[str, Any]
) -> None:
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", SERVICE).schema
    replacing = {
        path.split("/")[2]
        for key in ("createOnlyProperties", "conditionalCreateOnlyProperties")
        for path in schema.get(key, [])
    }
    assert replacing
    assert not {"DeploymentConfiguration", "LoadBalancers", "DeploymentController"} & replacing
    rolling_id, rolling = service_of(synthesized.envs["dev"].web_json)
    linear_id, linear = service_of(linear_dev)
    assert rolling_id == linear_id
    changed = {key for key in rolling.keys() | linear.keys() if rolling.get(key) != linear.get(key)}
    assert changed == {"DeploymentConfiguration"}
    assert "AdvancedConfiguration" in rolling["LoadBalancers"][0]


# --- what others read --------------------------------------------------------------------------


def test_the_release_output_says_what_the_service_runs(env: SynthesizedEnv) -> None:
    web, release = env.web_json, env.config.web.release
    if not on_fargate(env):
        # Rolling only, no bake of the release's own: the refresh's alarms.
        assert release_of(web) == WebRelease(
            runtime="ec2",
            strategy="rolling",
            step_percent=0,
            step_bake_minutes=0,
            bake_minutes=0,
            alarms=tuple(watched_alarms(env)),
        )
        return
    deployment = service_of(web)[1]["DeploymentConfiguration"]
    shifts = release.strategy in {WebReleaseStrategy.CANARY, WebReleaseStrategy.LINEAR}
    rolls = release.strategy is WebReleaseStrategy.ROLLING
    assert release_of(web) == WebRelease(
        runtime="fargate",
        strategy=release.strategy.value,
        step_percent=release.step_percent if shifts else 0,
        step_bake_minutes=release.step_bake_minutes if shifts else 0,
        bake_minutes=0 if rolls else release.bake_minutes,
        alarms=tuple(deployment["Alarms"]["AlarmNames"]),
    )
    assert deployment.get("BakeTimeInMinutes", 0) == release_of(web).bake_minutes


def test_the_ops_stack_alarms_on_unhealthy_targets_of_every_release_group(
    env: SynthesizedEnv,
) -> None:
    web = env.web_json
    (alarm,) = [
        props
        for props in (alarm["Properties"] for alarm in resources(env.ops_json, ALARM).values())
        if any(metric["MetricName"] == "UnHealthyHostCount" for metric in metric_stats(props))
    ]
    groups = {
        imported(dimensions(metric)["TargetGroup"], web)["Fn::GetAtt"][0]
        for metric in metric_stats(alarm)
    }
    assert groups == release_groups(env)
    assert alarm["Threshold"] == env.config.alarms.unhealthy_targets


def test_app_runner_releases_rolling_and_nothing_rolls_it_back(
    variants: dict[str, Templates],
) -> None:
    web = variants["devar"].web
    release = release_of(web)
    assert (release.runtime, release.strategy, release.alarms) == ("app_runner", "rolling", ())
    assert (release.step_percent, release.step_bake_minutes, release.bake_minutes) == (0, 0, 0)
    assert resources(web, ALARM) == {}
    assert resources(web, SERVICE) == {}


def test_the_canary_starts_only_after_the_service_is_up(env: SynthesizedEnv) -> None:
    """A canary run before the first tasks are healthy would set off the release's canary alarm
    during the service's very first deployment, which would then fail (nothing to return to)."""
    web = env.web_json
    canary_id, _ = only(web, "AWS::Synthetics::Canary")
    service_id = service_id_of(env)  # the ECS service, or the EC2 runtime's group
    assert service_id in all_dependencies(web, canary_id)
    # ...and the service does not wait for the canary: its alarm reads the canary by name.
    assert canary_id not in all_dependencies(web, service_id)
