"""Safe releases on the Fargate runtime: ECS's own deployment strategies (rolling, canary, linear,
blue/green) on the runtime's ALB, rolled back by the release alarms. The AWS rules this relies on
are listed below the imports, each pinned by a test in tests/test_web_release.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_constructs.nag import acknowledge
from cdk_constructs.options import WebReleaseStrategy, WebRuntime
from cdk_constructs.web_runtime.alb import elb_metric, release_alarms
from cdk_constructs.web_runtime.interface import WebRuntimeProps
from release.contract import WebRelease

# What ECS needs and how CloudFormation treats it:
#
# - Two target groups of target type IP with the same health check, and for an ALB a listener
#   *rule* (not a listener) for production and another for test traffic, each forwarding to both
#   groups by weight; ECS moves the weights and needs a role with
#   AmazonECSInfrastructureRolePolicyForLoadBalancers to do so.
#   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb-resources-for-blue-green.html
#   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/troubleshooting-blue-green.html
#   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/AmazonECSInfrastructureRolePolicyForLoadBalancers.html
#   The page limits ALB listeners whose rules mix forward and non-forward actions (redirect,
#   fixed response): the production and test listeners hold forward actions only; the port-80
#   redirect of a domain is a listener of its own, never named to ECS.
# - ECS leaves the weights it set (blue 0 / green 100 after a release) on the rules, and
#   CloudFormation updates only resources whose template changed, so the rules' properties are
#   the same in every template (same groups, weights 100/0, priority, path) and never change
#   with the strategy: a later deploy never touches them and so never sends traffic back to the
#   group ECS drained.
#   https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html
# - Strategy and load balancers are updated in place (neither is a create-only property of
#   AWS::ECS::Service), and rolling services move to blue/green once a rolling deployment has
#   applied the advanced configuration. So every strategy, rolling included, carries the same
#   alternate group, rules and role: an environment can go from rolling to canary (or back) by
#   changing the strategy alone, after one rolling deploy of this template.
#   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/update-rolling-to-bluegreen.html
# - The alarms: ECS watches them during the traffic shift and the bake (BakeTimeInMinutes, after
#   all traffic moved, the old revision standing by), and after a rolling update for a bake it
#   derives from the alarms; either way an alarm in ALARM fails the deployment and, with
#   rollback, returns the last completed one. The circuit breaker works beside them for rolling
#   and blue/green types alike.
#   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-deployment-how-it-works.html
#   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-alarm-failure.html
#   https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-failure-detection.html

TEST_PORT_HTTPS = 8443
"""The test listener with a domain: HTTPS with the production certificate, so a test request
meets the same TLS termination as production."""
TEST_PORT_HTTP = 8080
"""The test listener without a domain: plain HTTP, like production there."""
RULE_PRIORITY = 1
ALL_PATHS = "/*"
PRIMARY_WEIGHT, ALTERNATE_WEIGHT = 100, 0
"""What the templates say, forever: ECS owns the live weights."""
INFRASTRUCTURE_POLICY = "AmazonECSInfrastructureRolePolicyForLoadBalancers"
TRAFFIC_SHIFTS = {WebReleaseStrategy.CANARY, WebReleaseStrategy.LINEAR}
ECS_STRATEGIES = {
    WebReleaseStrategy.ROLLING: ecs.DeploymentStrategy.ROLLING,
    WebReleaseStrategy.CANARY: ecs.DeploymentStrategy.CANARY,
    WebReleaseStrategy.LINEAR: ecs.DeploymentStrategy.LINEAR,
    WebReleaseStrategy.BLUE_GREEN: ecs.DeploymentStrategy.BLUE_GREEN,
}
DEREGISTRATION_DELAY = Duration.seconds(30)
HEALTH_CHECK_INTERVAL = Duration.seconds(15)


def release_test_port(*, https: bool) -> int:
    """The test listener's port (admitted from the production CIDRs only)."""
    return TEST_PORT_HTTPS if https else TEST_PORT_HTTP


@dataclass(frozen=True)
class ReleaseListener:
    """A listener of the runtime's ALB that ECS shifts traffic on."""

    listener: elbv2.ApplicationListener
    rule: elbv2.ApplicationListenerRule


class FargateRelease(Construct):
    """The alternate (green) target group, the production and test rules, the role ECS moves
    their weights with, and the release alarms, created before the service that names them."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        props: WebRuntimeProps,
        load_balancer: elbv2.ApplicationLoadBalancer,
        primary: elbv2.ApplicationTargetGroup,
        production_listener: elbv2.ApplicationListener,
        certificate: acm.ICertificate | None,
    ) -> None:
        super().__init__(scope, id_)
        self._plan = props.release
        self._balancer_full_name = load_balancer.load_balancer_full_name
        self.primary = primary
        self.alternate = elbv2.ApplicationTargetGroup(
            self,
            # The port is part of the id, as for the primary group (fargate.py).
            f"AlternateTargets{props.port}",
            vpc=props.vpc,
            port=props.port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            health_check=health_check(props),
            deregistration_delay=DEREGISTRATION_DELAY,
        )
        self.production = ReleaseListener(
            production_listener, self._rule("Production", production_listener)
        )
        https = certificate is not None
        test = elbv2.ApplicationListener(
            self,
            "TestListener",
            load_balancer=load_balancer,
            port=release_test_port(https=https),
            protocol=elbv2.ApplicationProtocol.HTTPS if https else elbv2.ApplicationProtocol.HTTP,
            open=False,
            certificates=[elbv2.ListenerCertificate.from_certificate_manager(certificate)]
            if certificate is not None
            else None,
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS if https else None,
            default_action=elbv2.ListenerAction.forward([primary]),
        )
        self.test = ReleaseListener(test, self._rule("Test", test))
        self.role = iam.Role(
            self,
            "LoadBalancerRole",
            assumed_by=iam.ServicePrincipal("ecs.amazonaws.com"),
            description=f"{props.name}: ECS moves release traffic between the target groups",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(INFRASTRUCTURE_POLICY)
            ],
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM4",
            "AWS's policy for the ECS infrastructure role for load balancers: describe, register "
            "and deregister targets, modify listeners and rules; AWS keeps it in step with what "
            "ECS deployments call.",
            applies_to=f"Policy::arn:<AWS::Partition>:iam::aws:policy/{INFRASTRUCTURE_POLICY}",
        )
        self.alarms = self._alarms(props)

    @property
    def alarm_names(self) -> tuple[str, ...]:
        """The literal names (an alarm's ``alarm_name`` is a token)."""
        return tuple(self.alarms)

    def service_options(self) -> dict[str, Any]:
        """The strategy, its times and the rollback alarms, as ``FargateService`` takes them."""
        options: dict[str, Any] = {}
        if self.alarms:
            options["deployment_alarms"] = ecs.DeploymentAlarmConfig(
                alarm_names=list(self.alarm_names), behavior=ecs.AlarmBehavior.ROLLBACK_ON_ALARM
            )
        strategy = self.strategy
        options["deployment_strategy"] = ECS_STRATEGIES[strategy]
        if strategy is WebReleaseStrategy.ROLLING or self._plan is None:
            return options
        settings = self._plan.settings
        options["bake_time"] = Duration.minutes(settings.bake_minutes)
        if strategy in TRAFFIC_SHIFTS:
            shift = ecs.TrafficShiftConfig(
                step_percent=settings.step_percent,
                step_bake_time=Duration.minutes(settings.step_bake_minutes),
            )
            key = (
                "canary_configuration"
                if strategy is WebReleaseStrategy.CANARY
                else "linear_configuration"
            )
            options[key] = shift
        return options

    def attach(self, service: ecs.FargateService, *, container_name: str, port: int) -> None:
        """Registers the service with the primary group, the alternate one in reserve; the
        service waits for its alarms (ECS refuses alarm names that do not exist)."""
        for alarm in self.alarms.values():
            service.node.add_dependency(alarm)
        alternate = ecs.AlternateTarget(
            "AlternateTarget",
            alternate_target_group=self.alternate,
            production_listener=ecs.ListenerRuleConfiguration.application_listener_rule(
                self.production.rule
            ),
            test_listener=ecs.ListenerRuleConfiguration.application_listener_rule(self.test.rule),
            role=self.role,
        )
        service.load_balancer_target(
            container_name=container_name, container_port=port, alternate_target=alternate
        ).attach_to_application_target_group(self.primary)

    def unhealthy_targets(self, period: Duration) -> cloudwatch.MathExpression:
        """Unhealthy targets of both groups, for the ops stack's alarm and graph (after a
        blue/green release the alternate group serves)."""
        return cloudwatch.MathExpression(
            expression="FILL(primary, 0) + FILL(alternate, 0)",
            using_metrics={
                "primary": self._elb("UnHealthyHostCount", "Maximum", period, self.primary),
                "alternate": self._elb("UnHealthyHostCount", "Maximum", period, self.alternate),
            },
            label="Unhealthy targets",
            period=period,
        )

    @property
    def strategy(self) -> WebReleaseStrategy:
        return WebReleaseStrategy.ROLLING if self._plan is None else self._plan.settings.strategy

    def release(self, runtime: WebRuntime) -> WebRelease:
        """What the ``Release`` output says: zeros where the strategy has no such time."""
        step_percent, step_bake, bake = 0.0, 0, 0
        if self._plan is not None and self.strategy is not WebReleaseStrategy.ROLLING:
            settings = self._plan.settings
            bake = settings.bake_minutes
            if self.strategy in TRAFFIC_SHIFTS:
                step_percent, step_bake = settings.step_percent, settings.step_bake_minutes
        return WebRelease(
            runtime=runtime.value,
            strategy=self.strategy.value,
            step_percent=step_percent,
            step_bake_minutes=step_bake,
            bake_minutes=bake,
            alarms=self.alarm_names,
        )

    def _rule(self, id_: str, listener: elbv2.ApplicationListener) -> elbv2.ApplicationListenerRule:
        """Every path, forwarded by weight to both groups: the same properties in every template."""
        return elbv2.ApplicationListenerRule(
            self,
            f"{id_}Rule",
            listener=listener,
            priority=RULE_PRIORITY,
            conditions=[elbv2.ListenerCondition.path_patterns([ALL_PATHS])],
            action=elbv2.ListenerAction.weighted_forward(
                [
                    elbv2.WeightedTargetGroup(target_group=self.primary, weight=PRIMARY_WEIGHT),
                    elbv2.WeightedTargetGroup(target_group=self.alternate, weight=ALTERNATE_WEIGHT),
                ]
            ),
        )

    def _alarms(self, props: WebRuntimeProps) -> dict[str, cloudwatch.Alarm]:
        """The release alarms (``alb.release_alarms``), with the unhealthy hosts of each group."""
        return release_alarms(
            self,
            props,
            balancer_full_name=self._balancer_full_name,
            groups=(("blue", self.primary), ("green", self.alternate)),
            reader="ECS",
        )

    def _elb(
        self,
        metric: str,
        statistic: str,
        period: Duration,
        group: elbv2.ApplicationTargetGroup | None = None,
    ) -> cloudwatch.Metric:
        return elb_metric(self._balancer_full_name, metric, statistic, period, group)


def health_check(props: WebRuntimeProps) -> elbv2.HealthCheck:
    """Both target groups check the same way (the new revision passes what the old one did)."""
    return elbv2.HealthCheck(
        path=props.health_path, healthy_http_codes="200", interval=HEALTH_CHECK_INTERVAL
    )
