"""The alerts topic, a regional web ACL and a health canary (with its failure alarm on the
topic) in one stack, synthesized once per test session with the quality gates on, for each
removal policy, and the fixtures that hand it out. Shared by the construct test modules."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import CfnParameter, Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from cdk_constructs.alerts import AlertsTopic
from cdk_constructs.health_canary import HealthCanary
from cdk_constructs.web_acl import RegionalWebAcl
from stacks.platform_app import add_quality_gates
from tests.synth import scratch_app

ENV = Environment(account="111111111111", region="us-east-1")
EMAIL = "ops@example.com"
ACL_NAME = "web-prod"
RATE_LIMIT = 500
ALB_ARN = (
    "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/app/web/0123456789abcdef"
)
CANARY_NAME = "web-prod-health"
INTERVAL_MINUTES = 5
RETENTION_DAYS = 14
LITERAL_URL = "https://www.example.com/healthz"


@dataclass(frozen=True)
class Synth:
    removal_policy: RemovalPolicy
    outdir: Path
    template: dict[str, Any]

    @property
    def template_file(self) -> Path:
        return self.outdir / "Web.template.json"


def _synth(outdir: Path, removal_policy: RemovalPolicy) -> Synth:
    app = scratch_app(outdir)
    stack = Stack(app, "Web", env=ENV)
    alerts = AlertsTopic(
        stack, "Alerts", topic_name="ops-alerts", email=EMAIL, removal_policy=removal_policy
    )
    acl = RegionalWebAcl(
        stack,
        "WebAcl",
        name=ACL_NAME,
        rate_limit_per_5_minutes=RATE_LIMIT,
        log_retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=removal_policy,
    )
    acl.associate("Alb", ALB_ARN)
    # Destroy: the URL is a deploy-time token, as an ALB's DNS name would be.
    url = (
        CfnParameter(stack, "HealthUrl", type="String").value_as_string
        if removal_policy == RemovalPolicy.DESTROY
        else LITERAL_URL
    )
    health = HealthCanary(
        stack,
        "Health",
        canary_name=CANARY_NAME,
        url=url,
        interval=Duration.minutes(INTERVAL_MINUTES),
        artifact_retention=Duration.days(RETENTION_DAYS),
        removal_policy=removal_policy,
        log_retention=logs.RetentionDays.TWO_WEEKS,
        artifacts_key=kms.Key(stack, "ArtifactsKey", enable_key_rotation=True),
    )
    health.failure_alarm(stack, "HealthAlarm", topic=alerts.topic)
    add_quality_gates(app)
    app.synth()  # raises on an unacknowledged cdk-nag error
    template: dict[str, Any] = json.loads((outdir / "Web.template.json").read_text())
    return Synth(removal_policy=removal_policy, outdir=outdir, template=template)


@cache
def construct_synths() -> dict[RemovalPolicy, Synth]:
    """The stack, synthesized with RemovalPolicy.DESTROY and with RETAIN."""
    return {
        policy: _synth(Path(tempfile.mkdtemp(prefix=f"web-{policy.value}-")), policy)
        for policy in (RemovalPolicy.DESTROY, RemovalPolicy.RETAIN)
    }


@pytest.fixture(scope="module")
def synths() -> dict[RemovalPolicy, Synth]:
    return construct_synths()


@pytest.fixture(params=[RemovalPolicy.DESTROY, RemovalPolicy.RETAIN], ids=["destroy", "retain"])
def synth(request: pytest.FixtureRequest, synths: dict[RemovalPolicy, Synth]) -> Synth:
    policy: RemovalPolicy = request.param
    return synths[policy]


@pytest.fixture
def template(synths: dict[RemovalPolicy, Synth]) -> dict[str, Any]:
    return synths[RemovalPolicy.DESTROY].template


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
