"""Safe releases of the API function: a published version per change, the ``live`` alias that API
Gateway invokes, and a CodeDeploy deployment group that moves the alias to a new version only
after a pre-traffic hook got a healthy ``GET /health`` from it, then step by step
(``api.release``) while release alarms are watched, and back when one goes off.

CloudFormation runs that deployment itself, through the alias's ``CodeDeployLambdaAliasUpdate``
update policy, whenever a stack update changes the alias's version; when the alias is created it
points at its version at once, with no deployment and no hook
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-updatepolicy.html).
A deployment that fails or is rolled back fails the stack update, which CloudFormation rolls back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from aws_cdk import CfnElement, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.nag import NIST, acknowledge, acknowledge_all
from cdk_constructs.options import ApiReleaseStrategy
from cdk_constructs.python_bundling import python_function_code
from release.contract import ApiRelease
from stacks.config.sections import AlarmThresholds, ApiReleaseConfig

ALIAS_NAME = "live"
PERIOD = Duration.minutes(1)
"""Release alarms judge each minute: a canary's first interval may be one minute."""
MAX_SHIFT_MINUTES = 2880
"""CodeDeploy's most minutes "between the first and last traffic shift during an AWS Lambda
canary or linear deployment" (https://docs.aws.amazon.com/codedeploy/latest/userguide/limits.html)."""
MAX_STEP_PERCENT = 99
"""CodeDeploy's largest share "shifted in one increment during an AWS Lambda deployment"."""
HOOK_RUNTIME = lambda_.Runtime.PYTHON_3_14
HOOK_ARCHITECTURE = lambda_.Architecture.ARM_64
HOOK_TIMEOUT = Duration.minutes(5)
"""Room for its attempts (see the handler) and well inside CodeDeploy's hour per hook."""
CODEDEPLOY_LAMBDA_POLICY = (
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited"
)


@dataclass(frozen=True)
class ApiReleaseProps:
    name: str
    """``<app>-<env>-api``: the CodeDeploy application's and deployment group's name (unique per
    account and region) and the start of the release alarms' names."""
    function: lambda_.Function
    function_timeout: Duration
    api_name: str
    """The REST API's name and stage: the dimensions of its 5XX metric (both literal, so the
    alarms exist before the API, which invokes the alias)."""
    api_stage: str
    release: ApiReleaseConfig
    thresholds: AlarmThresholds
    hook_package: Path
    bundle_cache_dir: Path
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy
    """Of the hook's log group."""


def linear_shift_minutes(percent: int, interval_minutes: int) -> int:
    """Minutes from a linear deployment's first traffic shift to its last: ``percent`` moves at
    once, then again every ``interval_minutes`` until all has moved."""
    return (math.ceil(100 / percent) - 1) * interval_minutes


def deployment_config(
    scope: Construct, release: ApiReleaseConfig
) -> codedeploy.ILambdaDeploymentConfig:
    """CodeDeploy's own all-at-once config, or a custom time-based one (named by CloudFormation:
    every change replaces it, and a fixed name would block the replacement). A linear release
    longer than CodeDeploy allows fails the synth, in one line."""
    if release.strategy is ApiReleaseStrategy.ALL_AT_ONCE:
        return codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE
    # The config keeps percent in 1..99 (MAX_STEP_PERCENT) and intervals to 60 minutes.
    percent, interval = release.percent, Duration.minutes(release.interval_minutes)
    routing: codedeploy.TrafficRouting
    if release.strategy is ApiReleaseStrategy.CANARY:
        routing = codedeploy.TimeBasedCanaryTrafficRouting(interval=interval, percentage=percent)
    else:
        minutes = linear_shift_minutes(percent, release.interval_minutes)
        if minutes > MAX_SHIFT_MINUTES:
            raise ValueError(
                f"api.release: linear {percent}% every {release.interval_minutes} min shifts for "
                f"{minutes} min; CodeDeploy allows {MAX_SHIFT_MINUTES}: raise percent or lower "
                "interval_minutes"
            )
        routing = codedeploy.TimeBasedLinearTrafficRouting(interval=interval, percentage=percent)
    return codedeploy.LambdaDeploymentConfig(scope, "DeploymentConfig", traffic_routing=routing)


class PreTrafficHook(Construct):
    """The function CodeDeploy calls before any traffic moves (``lambda_src/release_hook``).

    Its role may write its own log group, send traces, invoke the released function's versions
    (``<function ARN>:*``: the same statement every release, so no IAM change has to propagate
    while a deployment waits) and report to the deployment group (granted by CDK's ``pre_hook``).
    """

    def __init__(
        self, scope: Construct, id_: str, *, props: ApiReleaseProps, version: lambda_.IVersion
    ) -> None:
        super().__init__(scope, id_)
        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=props.log_retention, removal_policy=props.removal_policy
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Runs the items API's pre-traffic health check",
        )
        self.log_group.grant_write(self.role)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[f"{props.function.function_arn}:*"]
            )
        )
        package = props.hook_package
        self.function = lambda_.Function(
            self,
            "Function",
            description="Items API pre-traffic hook: GET /health of the new version",
            runtime=HOOK_RUNTIME,
            architecture=HOOK_ARCHITECTURE,
            code=python_function_code(
                package,
                runtime=HOOK_RUNTIME,
                architecture=HOOK_ARCHITECTURE,
                cache_dir=props.bundle_cache_dir,
            ),
            handler=f"{package.name}.handler.lambda_handler",
            role=self.role,
            environment={
                # Plain settings: a version ARN is no secret.
                "TARGET_VERSION_ARN": version.function_arn,
                "TARGET_TIMEOUT_SECONDS": str(int(props.function_timeout.to_seconds())),
            },
            timeout=HOOK_TIMEOUT,
            memory_size=256,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
        )
        self._acknowledge_findings(props)

    def _acknowledge_findings(self, props: ApiReleaseProps) -> None:
        outside_vpc = (
            "Calls only the Lambda and CodeDeploy APIs, never the database: the version it "
            "invokes runs in the VPC itself. Outside, it reaches nothing in the VPC; inside, it "
            "would need HTTPS egress to the internet through the NAT, or Lambda and CodeDeploy "
            "interface endpoints, for a few API calls per release (EXCEPTIONS.md)."
        )
        codedeploy_waits = (
            "Invoked by CodeDeploy during a release: every outcome, errors included, is "
            "reported to the deployment, and an unreported hook fails it within the hour."
        )
        acknowledge_all(
            self.function,
            [
                ("Serverless-LambdaDLQ", codedeploy_waits),
                (f"{NIST}LambdaDLQ", codedeploy_waits),
                (f"{NIST}LambdaInsideVPC", outside_vpc),
                (
                    f"{NIST}LambdaConcurrency",
                    "Runs once per release; a reservation would withhold account concurrency "
                    "for nothing.",
                ),
            ],
        )
        acknowledge_all(
            self.role,
            [
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "X-Ray's PutTraceSegments/PutTelemetryRecords support no resource-level "
                    "permissions.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{_nag_arn(props.function)}:*]",
                    "The versions of the API function only (Invoke of <function ARN>:<version>): "
                    "which version a release checks changes every release, this statement not.",
                ),
            ],
        )


class FunctionRelease(Construct):
    """The alias, its deployment group (config from ``api.release``, the release alarms, the
    pre-traffic hook, automatic rollback on failure and on alarm) and the alarms."""

    def __init__(self, scope: Construct, id_: str, *, props: ApiReleaseProps) -> None:
        super().__init__(scope, id_)
        self.props = props
        function = props.function
        self.version = function.current_version
        self.alias = lambda_.Alias(self, "Alias", alias_name=ALIAS_NAME, version=self.version)
        self.hook = PreTrafficHook(self, "PreTrafficHook", props=props, version=self.version)
        self.alarms = self._alarms()
        """Alarm name -> alarm: what the deployment group watches."""
        self.application = codedeploy.LambdaApplication(
            self, "Application", application_name=props.name
        )
        self.deployment_group = codedeploy.LambdaDeploymentGroup(
            self,
            "DeploymentGroup",
            application=self.application,
            deployment_group_name=props.name,
            alias=self.alias,
            deployment_config=deployment_config(self, props.release),
            alarms=list(self.alarms.values()),
            pre_hook=self.hook.function,
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, deployment_in_alarm=True, stopped_deployment=False
            ),
        )
        # The alias's update runs the deployment: the hook must already hold the new version's
        # ARN (and the group its config and alarms), or it would check the old version.
        self.alias.node.add_dependency(self.hook, self.deployment_group)
        self._acknowledge_findings()

    def contract(self) -> ApiRelease:
        """What the stack's ``Release`` output tells the release tooling (literal values)."""
        release = self.props.release
        gradual = release.strategy is not ApiReleaseStrategy.ALL_AT_ONCE
        return ApiRelease(
            strategy=release.strategy.value,
            percent=release.percent if gradual else 0,
            interval_minutes=release.interval_minutes if gradual else 0,
            alarms=tuple(self.alarms),
            application=self.props.name,
            deployment_group=self.props.name,
            alias=ALIAS_NAME,
        )

    def _alarms(self) -> dict[str, cloudwatch.Alarm]:
        """Per minute, missing data not breaching (no traffic is normal): the alias's errors,
        throttles and p99 duration, and the stage's 5XX rate.

        The 5XX alarm is a rate (the share of requests, ``5XXError``'s average), not a count:
        the one 5XX threshold the environment has is a rate, and a rate means the same at
        staging's traffic and at prod's. At a few requests a minute a single 5XX trips it,
        which during a release is a reason to roll back, not noise to ignore."""
        props, limits = self.props, self.props.thresholds
        alias = self.alias
        near_timeout = (
            props.function_timeout.to_milliseconds()
            * limits.lambda_duration_percent_of_timeout
            / 100
        )
        api_5xx = cloudwatch.Metric(
            namespace="AWS/ApiGateway",
            metric_name="5XXError",
            dimensions_map={"ApiName": props.api_name, "Stage": props.api_stage},
            statistic="Average",
            period=PERIOD,
        )
        sources = (
            ("Errors", "errors", alias.metric_errors(period=PERIOD, statistic="Sum"),
             limits.lambda_errors, "function errors (live alias)"),
            ("Throttles", "throttles", alias.metric_throttles(period=PERIOD, statistic="Sum"),
             limits.lambda_throttles, "throttled invocations (live alias)"),
            ("DurationP99", "duration-p99", alias.metric_duration(period=PERIOD, statistic="p99"),
             near_timeout, "p99 duration in ms (live alias)"),
            ("Api5xxRate", "5xx-rate", api_5xx, limits.api_5xx_rate_percent / 100,
             "API 5XX share of requests"),
        )  # fmt: skip
        alarms: dict[str, cloudwatch.Alarm] = {}
        for id_, suffix, metric, threshold, what in sources:
            name = f"{props.name}-release-{suffix}"
            alarms[name] = cloudwatch.Alarm(
                self,
                f"{id_}Alarm",
                alarm_name=name,
                metric=metric,
                threshold=threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=(
                    f"Rolls an API release back: {what} at or above {threshold:g} in a minute"
                ),
            )
        return alarms

    def _acknowledge_findings(self) -> None:
        for alarm in self.alarms.values():
            acknowledge(
                alarm,
                f"{NIST}CloudWatchAlarmAction",
                "Its action is CodeDeploy's: the deployment group polls it during a release and "
                "rolls back. The ops stack's alarms on the same metrics notify the alerts topic.",
            )
        role = self.deployment_group.role
        acknowledge_all(
            role,
            [
                (
                    f"AwsSolutions-IAM4[{CODEDEPLOY_LAMBDA_POLICY}]",
                    "AWS's managed policy for CodeDeploy's Lambda deployments (what CDK attaches): "
                    "alarms and aliases on *, S3 objects only under */CodeDeploy/* or tagged for "
                    "it, and it invokes only hooks named CodeDeployHook_*, which none here is; "
                    "AWS keeps it in step with what CodeDeploy needs.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{_nag_arn(self.hook.function)}:*]",
                    "CDK's grant of the pre-traffic hook to CodeDeploy: that one function, any "
                    "version.",
                ),
            ],
        )


def _nag_arn(function: lambda_.IFunction) -> str:
    """A function's ARN as cdk-nag prints it in a finding: ``<LogicalId.Arn>``."""
    resource = cast(CfnElement, function.node.default_child)
    return f"<{Stack.of(function).get_logical_id(resource)}.Arn>"
