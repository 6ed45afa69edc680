"""A CloudWatch Synthetics canary that GETs a health URL on a schedule, alarming when it fails."""

from __future__ import annotations

import re
from typing import cast

from aws_cdk import ArnFormat, CfnElement, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_synthetics as synthetics
from constructs import Construct

from cdk_constructs.logging import ImplicitLogGroup
from cdk_constructs.nag import NIST, acknowledge, acknowledge_all, nag_text

RUNTIME = synthetics.Runtime.SYNTHETICS_NODEJS_PUPPETEER_13_0
"""Newest Node.js runtime of aws-cdk-lib 2.275 (Node.js 22); its Synthetics library has the
``executeHttpStep`` that records the request as a canary step."""
URL_VARIABLE = "HEALTH_URL"
"""The canary reads the URL from here: a deploy-time token never lands in the script."""
HANDLER = "index.handler"
"""What CDK requires of inline canary code."""
SCRIPT = """\
const synthetics = require('Synthetics');

exports.handler = async () => {
  const url = new URL(process.env.URL_VARIABLE);
  const request = {
    hostname: url.hostname,
    port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
    path: url.pathname + url.search,
    protocol: url.protocol,
    method: 'GET',
    headers: { 'User-Agent': synthetics.getCanaryUserAgentString() },
  };
  await synthetics.executeHttpStep('GET health', request, (response) =>
    new Promise((resolve, reject) => {
      response.resume();
      if (response.statusCode !== 200) {
        reject(new Error(`GET ${url.href} answered ${response.statusCode}, expected 200`));
        return;
      }
      response.on('end', resolve);
      response.on('error', reject);
    }));
};
""".replace("URL_VARIABLE", URL_VARIABLE)

SELECTOR_VARIABLE = "READY_SELECTOR"
RENDER_WAIT_MS = 30_000
"""How long the rendered check waits for the app's ready selector."""
RENDERED_SCRIPT = (
    """\
const synthetics = require('Synthetics');

exports.handler = async () => {
  const url = process.env.URL_VARIABLE;
  const selector = process.env.SELECTOR_VARIABLE;
  const page = await synthetics.getPage();
  await synthetics.executeStep('Open page', async () => {
    const response = await page.goto(url, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
    const status = response ? response.status() : 'nothing';
    if (status !== 200) {
      throw new Error(`GET ${url} answered ${status}, expected 200`);
    }
  });
  await synthetics.executeStep('Wait for the app', async () => {
    await page.waitForSelector(selector, { timeout: WAIT_MS });
  });
};
""".replace("URL_VARIABLE", URL_VARIABLE)
    .replace("SELECTOR_VARIABLE", SELECTOR_VARIABLE)
    .replace("WAIT_MS", str(RENDER_WAIT_MS))
)
"""Opens the page in the Synthetics browser and waits until the app has rendered (the selector
matches): a page that loads but whose script fails, or whose config is wrong, fails the run."""
RENDERED_TIMEOUT = Duration.minutes(2)
"""Browser start, the page and the 30 s wait; never beyond the interval (Synthetics' rule)."""

CANARY_NAME = re.compile(r"^[0-9a-z_-]{1,21}$")
"""Synthetics names the canary's function ``cwsyn-<name>-<36-char id>``; Lambda allows 64
characters, so at most 21 keep the function and its log group (which the role is scoped to)
predictable. The service itself accepts up to 255."""
INTERVALS_IN_MINUTES = range(1, 61)
"""What a Synthetics rate schedule accepts."""
RETENTION_IN_DAYS = range(1, 456)
"""What Synthetics accepts for keeping run data."""
TIMEOUT = Duration.minutes(1)
"""One GET; a health endpoint slower than this is down."""
SYNTHETICS_NAMESPACE = "CloudWatchSynthetics"
MINUTE_MS = 60_000
DAY_MS = 86_400_000
ALARM_EVALUATION_PERIODS = 3
ALARM_DATAPOINTS = 2
"""Two failed runs out of three: one network blip does not page anyone."""


def _check(canary_name: str, interval: Duration, artifact_retention: Duration) -> None:
    if not CANARY_NAME.fullmatch(canary_name):
        raise ValueError(
            f"canary name {canary_name!r} must be 1-21 characters of lowercase letters, digits, "
            "'_' or '-'"
        )
    minutes, rest = divmod(interval.to_milliseconds(), MINUTE_MS)
    if rest or minutes not in INTERVALS_IN_MINUTES:
        raise ValueError(
            f"canary interval must be whole minutes, 1 to 60 (got {interval.to_human_string()})"
        )
    days, rest = divmod(artifact_retention.to_milliseconds(), DAY_MS)
    if rest or days not in RETENTION_IN_DAYS:
        raise ValueError(
            "artifact retention must be whole days, 1 to 455 "
            f"(got {artifact_retention.to_human_string()})"
        )


class HealthCanary(Construct):
    """The canary and the bucket keeping its artifacts; ``failure_alarm`` alarms on its success
    rate wherever the alarms live (the ops stack, next to the alerts topic).

    The canary runs under its own role: write its artifacts under its prefix, its metrics to the
    Synthetics namespace and its own function's logs; nothing else.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        canary_name: str,
        url: str,
        interval: Duration,
        artifact_retention: Duration,
        removal_policy: RemovalPolicy,
        log_retention: logs.RetentionDays,
        artifacts_key: kms.IKey,
        log_key: kms.IKey | None = None,
        rendered_selector: str | None = None,
    ) -> None:
        """``artifacts_key`` encrypts the artifacts (SSE-KMS, with an S3 bucket key);
        ``log_key``, which must admit the function's log group, encrypts that group.
        ``rendered_selector`` (e.g. ``body[data-app-ready="true"]``): open ``url`` in the
        browser and wait for it; None: GET ``url`` and expect 200."""
        _check(canary_name, interval, artifact_retention)
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.canary_name = canary_name
        self.url = url
        self.interval = interval
        self.artifacts_prefix = f"canary/{canary_name}"

        self.artifacts_bucket = s3.Bucket(
            self,
            "Artifacts",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=artifacts_key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Versioned, so an overwrite or a delete keeps the run's evidence until it expires.
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    prefix=f"{self.artifacts_prefix}/",
                    expiration=artifact_retention,
                    noncurrent_version_expiration=artifact_retention,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
        )

        function_logs = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"/aws/lambda/cwsyn-{canary_name}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs the {canary_name} Synthetics canary",
            inline_policies={
                "canary": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(actions=["s3:ListAllMyBuckets"], resources=["*"]),
                        iam.PolicyStatement(
                            actions=["s3:GetBucketLocation"],
                            resources=[self.artifacts_bucket.bucket_arn],
                        ),
                        iam.PolicyStatement(
                            actions=["s3:PutObject"],
                            resources=[
                                self.artifacts_bucket.arn_for_objects(f"{self.artifacts_prefix}/*")
                            ],
                        ),
                        iam.PolicyStatement(
                            actions=["cloudwatch:PutMetricData"],
                            resources=["*"],
                            conditions={
                                "StringEquals": {"cloudwatch:namespace": SYNTHETICS_NAMESPACE}
                            },
                        ),
                        iam.PolicyStatement(
                            actions=[
                                "logs:CreateLogGroup",
                                "logs:CreateLogStream",
                                "logs:PutLogEvents",
                            ],
                            resources=[function_logs],
                        ),
                    ]
                )
            },
        )

        retention = Duration.days(artifact_retention.to_days())
        variables = {URL_VARIABLE: url}
        script, timeout = SCRIPT, TIMEOUT
        if rendered_selector is not None:
            variables[SELECTOR_VARIABLE] = rendered_selector
            script = RENDERED_SCRIPT
            timeout = Duration.minutes(min(RENDERED_TIMEOUT.to_minutes(), interval.to_minutes()))
        self.canary = synthetics.Canary(
            self,
            "Canary",
            canary_name=canary_name,
            runtime=RUNTIME,
            test=synthetics.Test.custom(handler=HANDLER, code=synthetics.Code.from_inline(script)),
            environment_variables=variables,
            schedule=synthetics.Schedule.rate(interval),
            timeout=timeout,
            role=self.role,
            artifacts_bucket_location=synthetics.ArtifactsBucketLocation(
                bucket=self.artifacts_bucket, prefix=self.artifacts_prefix
            ),
            artifact_s3_encryption_mode=synthetics.ArtifactsEncryptionMode.KMS,
            artifact_s3_kms_key=artifacts_key,
            success_retention_period=retention,
            failure_retention_period=retention,
            # Synthetics' function and layers are useless without the canary: delete with it.
            provisioned_resource_cleanup=True,
        )

        # Synthetics' function logs to /aws/lambda/cwsyn-<name>-<canary id>, created on its
        # first run with no expiry; the id is known only once the canary exists.
        self.log_group = ImplicitLogGroup(
            self,
            "LogGroup",
            log_group_name=f"/aws/lambda/cwsyn-{canary_name}-{self.canary.canary_id}",
            name_pattern=f"/aws/lambda/cwsyn-{canary_name}-*",
            retention=log_retention,
            removal_policy=removal_policy,
            key=log_key,
        )

        self._acknowledge_findings(stack, function_logs)

    def metric_success_percent(self, *, period: Duration) -> cloudwatch.Metric:
        """The share of runs that passed, per ``period``."""
        return self.canary.metric_success_percent(period=period)

    def failure_alarm(self, scope: Construct, id_: str, *, topic: sns.ITopic) -> cloudwatch.Alarm:
        """An alarm in ``scope`` when 2 of 3 runs fail, notifying ``topic`` (alarm and OK)."""
        alarm = cloudwatch.Alarm(
            scope,
            id_,
            alarm_description=(
                f"{self.url} failed the {self.canary_name} health check in 2 of 3 runs"
            ),
            metric=self.metric_success_percent(period=self.interval),
            threshold=100,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=ALARM_EVALUATION_PERIODS,
            datapoints_to_alarm=ALARM_DATAPOINTS,
            # A stopped canary or a late run is not an outage.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
        alarm.add_ok_action(cloudwatch_actions.SnsAction(topic))
        return alarm

    def _acknowledge_findings(self, stack: Stack, function_logs: str) -> None:
        self_logging = (
            "Only the canary writes here, through its own role, and its run reports, HAR files "
            "and logs expire; logging access to them would need another bucket for no audit "
            "value."
        )
        acknowledge_all(
            self.artifacts_bucket,
            [
                ("AwsSolutions-S1", self_logging),
                (f"{NIST}S3BucketLoggingEnabled", self_logging),
                (
                    f"{NIST}S3BucketReplicationEnabled",
                    "Run artifacts are diagnostics that expire with the canary's retention; a "
                    "copy in another region would restore nothing.",
                ),
            ],
        )
        bucket_id = stack.get_logical_id(cast(CfnElement, self.artifacts_bucket.node.default_child))
        acknowledge(
            self.role,
            "Serverless-LambdaStarPermissions",
            "Only the two actions without resource-level permissions use '*' "
            "(s3:ListAllMyBuckets; cloudwatch:PutMetricData, held to the Synthetics namespace); "
            "see the AwsSolutions-IAM5 acknowledgements.",
        )
        acknowledge_all(
            self.role,
            [
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "s3:ListAllMyBuckets (which the Synthetics runtime calls) and "
                    "cloudwatch:PutMetricData (limited to the CloudWatchSynthetics namespace by "
                    "condition) have no resource-level permissions.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{self.artifacts_prefix}/*]",
                    "The canary writes a new object per run (screenshots, HAR, logs) under its "
                    "own prefix of its own bucket; object keys are generated per run.",
                ),
                (
                    f"AwsSolutions-IAM5[Resource::{nag_text(stack, function_logs)}]",
                    "The log group of the function Synthetics creates for this canary: its name "
                    "ends in an id Synthetics generates.",
                ),
                *(
                    (
                        f"AwsSolutions-IAM5[Action::kms:{action}*]",
                        "CDK's Canary grants its role the artifact key's encrypt and decrypt "
                        "actions, on that one key, for the SSE-KMS artifact uploads.",
                    )
                    for action in ("GenerateDataKey", "ReEncrypt")
                ),
            ],
        )
