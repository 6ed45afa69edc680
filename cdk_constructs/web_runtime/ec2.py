"""The public web service on an EC2 Auto Scaling group of Graviton instances (Amazon Linux 2023,
Docker) behind the platform's internet-facing ALB (``web.runtime = ec2``).

Each instance runs the one web container the Fargate runtime runs, unchanged: the same image
(linux/arm64), variables and secrets, the same health path, logs to a log group of the runtime's
(ec2_boot.py). The container's CPU and memory in config pick the instance type
(``options.EC2_INSTANCE_TYPES``): no second sizing knob, and switching runtimes keeps the sizes'
meaning; its memory stays a hard limit, its CPU is the instance's to burst into (target tracking
scales on the instances' CPU, which a capped container would never drive).

**Releases: CloudFormation's ``AutoScalingInstanceRefresh`` update policy** (CDK 2.275's
``UpdatePolicy.instance_refresh``). A new image or any other change of the launch template is a
new launch template version, which the stack update hands to the group; the policy makes
CloudFormation run an instance refresh for it, within the stack update, and fail the update if
the refresh fails, which rolls the stack back (and the group with it, by another refresh):
https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_autoscaling.UpdatePolicy.html,
https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.CfnAutoScalingInstanceRefresh.html,
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-updatepolicy.html#cfn-attributes-updatepolicy-instancerefresh.
Preferred over ``AutoScalingRollingUpdate`` (cfn-signal batches, which watch no alarm) and over
a refresh started by the deploy workflow or a custom resource (the stack would report success
before the refresh ends, and an Auto Scaling auto rollback would leave the template naming the
version it left). The refresh:

- launches before it terminates (minimum healthy 100%, maximum 200%), so the old instances
  serve until the new ones are in service, healthy and warmed up
  (https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html);
- watches the release alarms (target 5XX rate, p99, unhealthy targets, the canary; up to 10 are
  allowed) and fails as soon as one is in ALARM; its instance warm-up (``REFRESH_WARMUP``) is
  longer than an alarm needs to go off (two bad one-minute points), so a bad release is caught
  while the old instances still stand; then it bakes (``REFRESH_BAKE``) with them watched
  (https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-rollback.html: alarms
  and rollback);
- is the ``rolling`` strategy only (``release_strategies``): no traffic shifting between two
  target groups.

A new instance stays out of service (and out of the target group) under a launch lifecycle hook
until its container answers its health path (cfn-signal is not used by a refresh), so a normal
release never shows an unhealthy target. The AMI is AWS's public SSM parameter for AL2023 arm64,
resolved by CloudFormation at each deploy (a template parameter, no context lookup at synth): a
newer AMI is a new launch template version, rolled out like an image.

Shell access (operators): instances carry the tag ``INSTANCE_TAG`` = the group's name besides
Auto Scaling's own ``aws:autoscaling:groupName``; the role holds AmazonSSMManagedInstanceCore;
no key pair, no port 22 anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, cast

from aws_cdk import Duration, Tags
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_constructs.github_deploy_role import DeployPermission
from cdk_constructs.logging import retained_log_group
from cdk_constructs.options import EC2_INSTANCE_TYPES, WebReleaseStrategy, WebRuntime
from cdk_constructs.retry_safety import ProtectedResource
from cdk_constructs.web_acl import RegionalWebAcl
from cdk_constructs.web_runtime.alb import (
    ALARM_EVALUATION_PERIODS,
    ALARM_PERIOD,
    PublicDomain,
    access_log_bucket,
    alb_security_group,
    elb_metric,
    internet_facing_alb,
    listener_ports,
    production_listener,
    protected_balancer,
    public_domain,
    release_alarms,
    web_5xx,
)
from cdk_constructs.web_runtime.ec2_boot import READY_HOOK
from cdk_constructs.web_runtime.ec2_instance import instance_role, launch_template
from cdk_constructs.web_runtime.ec2_nag import acknowledge_instances
from cdk_constructs.web_runtime.fargate_release import DEREGISTRATION_DELAY, health_check
from cdk_constructs.web_runtime.fargate_task import CPU_TARGET_PERCENT
from cdk_constructs.web_runtime.image import RepositoryImage
from cdk_constructs.web_runtime.interface import (
    ROLLING_ONLY,
    WebAlarm,
    WebAlarmThresholds,
    WebRuntimeProps,
    WebSettings,
    https_out_security_group,
    refuse_strategy,
)
from cdk_constructs.web_runtime.rollout import Rollout
from release.contract import WebRelease

INSTANCE_TAG = "platform:web"
"""Tag key on every instance (and the group), its value the group's name (``<app>-<env>-web``):
what an operators' policy scopes ``ssm:StartSession`` to (``ssm:resourceTag/platform:web``)."""
HEALTH_CHECK_GRACE = Duration.minutes(3)
"""The ALB's verdict counts for the group once an instance has been in service this long."""
SCALING_WARMUP = Duration.minutes(2)
"""``DefaultInstanceWarmup``: how long a new instance's metrics stay out of target tracking."""
REFRESH_WARMUP = Duration.minutes(5)
"""A replaced batch stands this long, in service, before the refresh goes on (and terminates
the old instances): registration, the ALB's healthy threshold and two bad alarm points fit."""
REFRESH_BAKE = Duration.minutes(ALARM_EVALUATION_PERIODS * ALARM_PERIOD.to_minutes())
"""After the last batch, the refresh watches the alarms one evaluation window longer."""
READY_TIMEOUT = Duration.minutes(15)
"""The hook's heartbeat: boot, Docker, pull and the 5-minute health wait fit; past it the
instance goes in service anyway (CONTINUE) and the ALB judges it."""


@dataclass(frozen=True, kw_only=True)
class Ec2Options:
    """What only the EC2 runtime takes (besides ``WebRuntimeProps``)."""

    allowed_ingress_cidrs: Sequence[str]
    domain: PublicDomain | None = None


class Ec2WebService(Construct):
    """Instances in the app subnets, reachable only from the ALB on the container port; the ALB
    reachable only from the allowed CIDRs (80, and 443 with a domain, which 80 redirects to)."""

    rollout: ClassVar[Rollout] = Rollout.CLOUDFORMATION
    release_strategies: ClassVar[frozenset[WebReleaseStrategy]] = ROLLING_ONLY

    def __init__(
        self, scope: Construct, id_: str, *, props: WebRuntimeProps, options: Ec2Options
    ) -> None:
        super().__init__(scope, id_)
        self.instance_type = _validate(props)
        """The T4g type the container's CPU and memory pick (``EC2_INSTANCE_TYPES``)."""
        self.auto_scaling_group_name: str = props.name
        """The group's name (literal): ``make shell`` and the operators' policy find it so."""
        self.instance_tag: tuple[str, str] = (INSTANCE_TAG, props.name)
        """The tag (key, value) every instance carries."""
        self.min_instances = props.min_instances
        self.access_logs = access_log_bucket(self, props)
        self.alb_security_group = alb_security_group(
            self,
            vpc=props.vpc,
            cidrs=options.allowed_ingress_cidrs,
            ports=listener_ports(options.domain),
        )
        self.instance_security_group = https_out_security_group(
            self,
            "InstanceSecurityGroup",
            vpc=props.vpc,
            description="Web instances: the container port from the ALB; HTTPS out",
        )
        self.alb_security_group.connections.allow_to(
            self.instance_security_group, ec2.Port.tcp(props.port), "ALB to the web instances"
        )
        self.load_balancer = internet_facing_alb(
            self, props, security_group=self.alb_security_group, access_logs=self.access_logs
        )
        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            f"Targets{props.port}",  # the port is fixed at creation (fargate.py)
            vpc=props.vpc,
            port=props.port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.INSTANCE,
            health_check=health_check(props),
            deregistration_delay=DEREGISTRATION_DELAY,
        )
        production = production_listener(
            self, self.load_balancer, self.target_group, options.domain
        )
        self.certificate, self.alias = production.certificate, production.alias
        self.url: str = production.url
        """The public URL (https with a domain, else http on the ALB's DNS name)."""
        self.log_group = retained_log_group(self, "LogGroup", settings=props)
        """The container's logs (Docker's awslogs driver), one stream per instance."""
        self.instance_role, group_arn = instance_role(self, props, self.log_group)
        self.runtime_role: iam.IRole = self.instance_role
        """The instance role: the container's SDK reaches it through IMDS (the app's grants)."""
        self.launch_template = launch_template(
            self,
            props,
            instance_type=self.instance_type,
            role=self.instance_role,
            security_group=self.instance_security_group,
            log_group=self.log_group,
        )
        self.alarms = release_alarms(
            self,
            props,
            balancer_full_name=self.load_balancer.load_balancer_full_name,
            groups=(("", self.target_group),),
            reader="CloudFormation's instance refresh",
        )
        self.auto_scaling_group = self._group(props)
        self.service_id: str = self.auto_scaling_group.auto_scaling_group_name
        """The Auto Scaling group's name."""
        self.deletion_protected: Sequence[ProtectedResource] = protected_balancer(
            self.load_balancer, props
        )
        """The ALB, where it is deletion-protected."""
        acknowledge_instances(
            self,
            group_arn=group_arn,
            private_image=isinstance(props.image, RepositoryImage),
        )

    @classmethod
    def build(
        cls, scope: Construct, id_: str, *, props: WebRuntimeProps, settings: WebSettings
    ) -> Ec2WebService:
        """The service from config: ingress CIDRs and the domain (no Spot: config refuses it)."""
        if settings.spot:
            raise ValueError("the EC2 runtime runs on-demand instances only: web.spot=False")
        options = Ec2Options(
            allowed_ingress_cidrs=settings.allowed_ingress_cidrs,
            domain=public_domain(scope, settings),
        )
        return cls(scope, id_, props=props, options=options)

    @classmethod
    def deploy_permissions(
        cls, *, service_name: str, partition: str, region: str, account: str
    ) -> tuple[DeployPermission, ...]:
        """None: CloudFormation (through the CDK bootstrap roles) runs the instance refresh."""
        return ()

    @property
    def release(self) -> WebRelease:
        """Rolling, with the alarms the instance refresh watches."""
        return WebRelease(
            runtime=WebRuntime.EC2.value,
            strategy=WebReleaseStrategy.ROLLING.value,
            step_percent=0,
            step_bake_minutes=0,
            bake_minutes=0,
            alarms=tuple(self.alarms),
        )

    def associate_web_acl(self, web_acl: RegionalWebAcl) -> None:
        """The web ACL filters what reaches the ALB."""
        web_acl.associate("Association", self.load_balancer.load_balancer_arn)

    def alarm_sources(
        self, thresholds: WebAlarmThresholds, *, period: Duration
    ) -> Sequence[WebAlarm]:
        """ALB and target 5XX, unhealthy targets, healthy targets below the group's minimum,
        and the targets' p99 response time."""
        full_name = self.load_balancer.load_balancer_full_name
        unhealthy = elb_metric(
            full_name, "UnHealthyHostCount", "Maximum", period, self.target_group
        )
        healthy = elb_metric(full_name, "HealthyHostCount", "Minimum", period, self.target_group)
        minimum = self.min_instances
        missing = cloudwatch.MathExpression(
            expression=f"{minimum} - FILL(healthy, 0)",
            using_metrics={"healthy": healthy},
            label="Healthy targets missing",
            period=period,
        )
        p99 = elb_metric(full_name, "TargetResponseTime", "p99", period)
        return (
            WebAlarm(
                "Web5xx",
                web_5xx(self.load_balancer, period),
                thresholds.web_5xx,
                "ALB 5XX",
                "ALB 5XX",
            ),
            WebAlarm(
                "UnhealthyTargets",
                unhealthy,
                thresholds.unhealthy_targets,
                "unhealthy targets",
                "Unhealthy targets",
            ),
            WebAlarm(
                "HealthyTargetsBelowMinimum",
                missing,
                1,
                f"healthy targets < {minimum} (the group's minimum)",
                "Healthy targets missing",
            ),
            WebAlarm(
                "TargetResponseP99",
                p99,
                thresholds.web_p99_response_ms / 1000,
                "target response time p99 (s)",
                "Target response time p99",
            ),
        )

    def _group(self, props: WebRuntimeProps) -> autoscaling.AutoScalingGroup:
        """The group over the app subnets, its instance refresh, readiness hook, target group,
        CPU target tracking and tags."""
        refresh_alarms = [
            cloudwatch.Alarm.from_alarm_name(self, f"Watched{index}", name)
            for index, name in enumerate(self.alarms)
        ]
        group = autoscaling.AutoScalingGroup(
            self,
            "Instances",
            vpc=props.vpc,
            vpc_subnets=props.app_subnets,
            launch_template=self.launch_template,
            auto_scaling_group_name=props.name,
            min_capacity=props.min_instances,
            max_capacity=props.max_instances,
            health_checks=autoscaling.HealthChecks.with_additional_checks(
                additional_types=[autoscaling.AdditionalHealthCheckType.ELB],
                grace_period=HEALTH_CHECK_GRACE,
            ),
            default_instance_warmup=SCALING_WARMUP,
            update_policy=autoscaling.UpdatePolicy.instance_refresh(
                strategy=autoscaling.InstanceRefreshStrategy.ROLLING,
                min_healthy_percentage=100,
                max_healthy_percentage=200,
                instance_warmup=REFRESH_WARMUP,
                bake_time=REFRESH_BAKE,
                skip_matching=True,
                alarms=refresh_alarms or None,
            ),
        )
        # The refresh names the alarms: they exist before the group does.
        for alarm in self.alarms.values():
            group.node.add_dependency(alarm)
        cfn_group = cast(autoscaling.CfnAutoScalingGroup, group.node.default_child)
        # In the group itself, not a separate AWS::AutoScaling::LifecycleHook: its first
        # instances are held too.
        cfn_group.lifecycle_hook_specification_list = [
            autoscaling.CfnAutoScalingGroup.LifecycleHookSpecificationProperty(
                lifecycle_hook_name=READY_HOOK,
                lifecycle_transition="autoscaling:EC2_INSTANCE_LAUNCHING",
                heartbeat_timeout=int(READY_TIMEOUT.to_seconds()),
                default_result="CONTINUE",
            )
        ]
        group.attach_to_application_target_group(self.target_group)
        if props.max_instances > props.min_instances:  # else nothing to scale (cfn-lint E3712)
            group.scale_on_cpu_utilization("Cpu", target_utilization_percent=CPU_TARGET_PERCENT)
        Tags.of(group).add(INSTANCE_TAG, props.name, apply_to_launched_instances=True)
        return group


def _validate(props: WebRuntimeProps) -> str:
    """The instance type; one line for what config refuses first (direct construction)."""
    refuse_strategy(WebRuntime.EC2, Ec2WebService.release_strategies, props.release)
    instance_type = EC2_INSTANCE_TYPES.get((props.cpu, props.memory_mib))
    if instance_type is None:
        raise ValueError(
            f"the EC2 runtime offers no instance for cpu {props.cpu} with memory "
            f"{props.memory_mib} MiB (offered: {sorted(EC2_INSTANCE_TYPES)})"
        )
    if not 1 <= props.min_instances <= props.max_instances:
        raise ValueError(
            f"instances: need 1 <= min ({props.min_instances}) <= max ({props.max_instances})"
        )
    return instance_type
