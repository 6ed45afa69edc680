"""Helpers for CloudWatch Logs settings shared by every tier."""

from collections.abc import Sequence
from typing import Any, Protocol

import jsii
from aws_cdk import ArnFormat, CfnResource, IAspect, RemovalPolicy, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from cdk_constructs.nag import (
    DEPLOY_TIME_FUNCTION,
    LAMBDA_BASIC_EXECUTION,
    acknowledge,
    acknowledge_all,
    nag_text,
)
from cdk_constructs.options import LOG_RETENTION_DAYS
from cdk_constructs.tree_reads import resource_type

_RETENTION_BY_DAYS: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}
assert set(_RETENTION_BY_DAYS) == set(LOG_RETENTION_DAYS), "retention tables disagree"

FUNCTION_TYPE = "AWS::Lambda::Function"
AWS_CUSTOM_RESOURCE_FUNCTION_ID = "AWS679f53fac002430cb0da5b7982bd2287"
"""The construct id of CDK's singleton AwsCustomResource function in a stack."""


def retention_from_days(days: int) -> logs.RetentionDays:
    """The CDK enum member for a CloudWatch Logs retention given in days."""
    try:
        return _RETENTION_BY_DAYS[days]
    except KeyError:
        raise ValueError(f"{days} is not a CloudWatch Logs retention period") from None


def days_of(retention: logs.RetentionDays) -> int:
    """The number of days of a CDK retention member (its Python value is its name)."""
    for days, member in _RETENTION_BY_DAYS.items():
        if member == retention:
            return days
    raise ValueError(f"{retention} has no number of days (infinite retention is not allowed)")


LOGS_KEY_ACTIONS = (
    "kms:Encrypt*",
    "kms:Decrypt*",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:Describe*",
)
"""What CloudWatch Logs needs of a key that encrypts a log group (Encrypt log data in CloudWatch
Logs using AWS KMS, https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html)."""


def admit_log_groups(key: kms.IKey, *, name_patterns: Sequence[str]) -> None:
    """Let CloudWatch Logs of the key's region use ``key`` for the log groups whose names match
    ``name_patterns`` (``*`` wildcards) in the key's account, and no others: the encryption
    context CloudWatch Logs passes is the group's ARN."""
    stack = Stack.of(key)
    arns = [
        stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=pattern,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        for pattern in name_patterns
    ]
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=list(LOGS_KEY_ACTIONS),
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": arns}},
        )
    )


def log_group_arn(scope: Construct, log_group_name: str) -> str:
    """The ARN of a log group (and its streams) in the scope's stack."""
    return Stack.of(scope).format_arn(
        service="logs",
        resource="log-group",
        resource_name=f"{log_group_name}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class LogSettings(Protocol):
    """The part of a construct's props that says how long its logs are kept."""

    @property
    def log_retention(self) -> logs.RetentionDays: ...

    @property
    def removal_policy(self) -> RemovalPolicy: ...


def retained_log_group(
    scope: Construct, id_: str, *, settings: LogSettings, log_group_name: str | None = None
) -> logs.LogGroup:
    """A log group with the retention and removal policy of its construct's props, so that every
    log group of a construct follows the one setting."""
    return logs.LogGroup(
        scope,
        id_,
        log_group_name=log_group_name,
        retention=settings.log_retention,
        removal_policy=settings.removal_policy,
    )


@jsii.implements(IAspect)
class FunctionLogGroups:
    """Gives every Lambda function without an explicit log group one, with the retention of its
    environment: CDK's own functions (custom resource providers, AwsCustomResource, ...) would
    otherwise write to ``/aws/lambda/<name>``, created on first run and kept forever."""

    def __init__(self, *, retention: logs.RetentionDays, removal_policy: RemovalPolicy) -> None:
        self.retention = retention
        self.removal_policy = removal_policy

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, CfnResource):
            self.apply(node)

    def apply(self, resource: CfnResource) -> logs.CfnLogGroup | None:
        """What ``visit`` does to one L1 resource; returns the log group whose removal policy it
        set (CDK's own group of the function), if any, since that changes what a later reader
        of the group's policy sees."""
        if resource_type(resource) != FUNCTION_TYPE:
            return None
        if isinstance(resource, lambda_.CfnFunction):
            config = resource.logging_config
            if isinstance(config, lambda_.CfnFunction.LoggingConfigProperty) and config.log_group:
                return None
        scope = resource.node.scope
        assert isinstance(scope, Construct)
        managed = scope.node.try_find_child("LogGroup")
        if isinstance(managed, logs.LogGroup):
            # Made by CDK itself (@aws-cdk/aws-lambda:useCdkManagedLogGroup) with its own
            # retention and policy: the environment's apply instead.
            managed_group = managed.node.default_child
            assert isinstance(managed_group, logs.CfnLogGroup)
            managed_group.retention_in_days = days_of(self.retention)
            managed_group.apply_removal_policy(self.removal_policy)
            # CDK names it /aws/lambda/<function>, a name the environment's key cannot know in
            # advance: it is renamed like every group (EnvironmentPolicies) and the function
            # logs there by its logging config. The custom resources that invoke the function
            # still wait for the group, so no run ever precedes it (aws-cdk#667).
            managed_group.log_group_name = None
            resource.add_property_override("LoggingConfig.LogGroup", managed.log_group_name)
            for invoker in custom_resources_invoking(resource):
                invoker.node.add_dependency(managed_group)
            return managed_group
        log_group = logs.LogGroup(
            scope,
            f"{resource.node.id}LogGroup",
            retention=self.retention,
            removal_policy=self.removal_policy,
        )
        resource.add_property_override("LoggingConfig.LogGroup", log_group.log_group_name)
        return None


CUSTOM_RESOURCE_TYPES = ("AWS::CloudFormation::CustomResource",)
CUSTOM_RESOURCE_TYPE_PREFIX = "Custom::"


def custom_resources_invoking(function: CfnResource) -> list[CfnResource]:
    """The custom resources of the function's stack whose ``ServiceToken`` is that function."""
    stack = Stack.of(function)
    arn = {"Fn::GetAtt": [stack.get_logical_id(function), "Arn"]}
    found: list[CfnResource] = []
    for construct in stack.node.find_all():
        if not isinstance(construct, CfnResource):
            continue
        kind = resource_type(construct)
        if kind not in CUSTOM_RESOURCE_TYPES and not kind.startswith(CUSTOM_RESOURCE_TYPE_PREFIX):
            continue
        # CDK has no public reader of an L1 resource's properties.
        token = construct._cfn_properties.get("ServiceToken")
        if token is not None and stack.resolve(token) == arn:
            found.append(construct)
    return found


class ImplicitLogGroup(Construct):
    """Retention for a log group a service creates by itself under a name known only at deploy
    time (a canary's or App Runner's): created here if it does not exist yet, then given the
    retention; deleted with the stack unless retained. The function may touch that group only."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        log_group_name: str,
        name_pattern: str,
        retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        key: kms.IKey | None = None,
    ) -> None:
        """``name_pattern``: a literal pattern of ``log_group_name`` ending in ``*`` where the
        deploy-time id goes (e.g. ``/aws/lambda/cwsyn-web-health-*``); the policy names it.
        ``key``: a KMS key that admits the group (``admit_log_groups``), associated with it
        whether the group was made here or by the service before."""
        super().__init__(scope, id_)
        if Token.is_unresolved(name_pattern) or not name_pattern.endswith("*"):
            raise ValueError(f"name pattern {name_pattern!r}: a literal ending in '*'")
        self.log_group_name = log_group_name
        stack = Stack.of(self)
        resource = log_group_arn(self, name_pattern)
        policy = cr.AwsCustomResourcePolicy.from_statements(
            [
                iam.PolicyStatement(
                    actions=[
                        "logs:CreateLogGroup",
                        "logs:PutRetentionPolicy",
                        "logs:DeleteLogGroup",
                        *(["logs:AssociateKmsKey"] if key is not None else []),
                    ],
                    resources=[resource],
                )
            ]
        )
        delete = (
            cr.AwsSdkCall(
                service="CloudWatchLogs",
                action="deleteLogGroup",
                parameters={"logGroupName": log_group_name},
                ignore_error_codes_matching="ResourceNotFoundException",
            )
            if removal_policy == RemovalPolicy.DESTROY
            else None
        )
        create = cr.AwsCustomResource(
            self,
            "Create",
            on_create=cr.AwsSdkCall(
                service="CloudWatchLogs",
                action="createLogGroup",
                parameters={"logGroupName": log_group_name},
                physical_resource_id=cr.PhysicalResourceId.of(log_group_name),
                ignore_error_codes_matching="ResourceAlreadyExistsException",
            ),
            on_delete=delete,
            policy=policy,
            install_latest_aws_sdk=False,
        )

        def setting(id_: str, action: str, parameters: dict[str, Any]) -> cr.AwsCustomResource:
            """One call on the group once it exists, made again on each update."""
            call = cr.AwsSdkCall(
                service="CloudWatchLogs",
                action=action,
                parameters={"logGroupName": log_group_name, **parameters},
                physical_resource_id=cr.PhysicalResourceId.of(f"{log_group_name}-{id_.lower()}"),
            )
            custom_resource = cr.AwsCustomResource(
                self,
                id_,
                on_create=call,
                on_update=call,
                policy=policy,
                install_latest_aws_sdk=False,
            )
            custom_resource.node.add_dependency(create)
            return custom_resource

        self.retention = setting(
            "Retention", "putRetentionPolicy", {"retentionInDays": days_of(retention)}
        )
        self.encryption = (
            setting("Encryption", "associateKmsKey", {"kmsKeyId": key.key_arn})
            if key is not None
            else None
        )
        settings = [create, self.retention, *([self.encryption] if self.encryption else [])]
        for custom_resource in settings:
            acknowledge(
                custom_resource,
                "AwsSolutions-IAM5",
                "The group's name ends in an id the service picks at deploy time; the pattern "
                "matches this service's groups only.",
                applies_to=f"Resource::{nag_text(stack, resource)}",
            )
        acknowledge_aws_custom_resource_function(stack)


def acknowledge_aws_custom_resource_function(stack: Stack) -> None:
    """The nag findings of CDK's AwsCustomResource function (one per stack), with reasons."""
    function = stack.node.try_find_child(AWS_CUSTOM_RESOURCE_FUNCTION_ID)
    if function is None:
        return
    acknowledge_all(
        function,
        [
            (
                f"AwsSolutions-IAM4[{LAMBDA_BASIC_EXECUTION}]",
                "CDK's AwsCustomResource function role; it writes only its own logs.",
            ),
            ("Serverless-LambdaDLQ", "Invoked by CloudFormation, which keeps the event."),
            ("Serverless-LambdaDefaultMemorySize", "Sized by CDK for one SDK call."),
            ("Serverless-LambdaTracing", "One SDK call per deploy; nothing to trace."),
            *DEPLOY_TIME_FUNCTION,
        ],
    )
