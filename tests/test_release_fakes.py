"""The fake AWS account the release tests share (``test_release_verify.py``,
``test_release_rollback.py``): no test here, only fixtures and helpers.

moto answers CloudFormation, Lambda, SSM and CodeDeploy (whose deployments it never moves past
``Created``: a test sets the status in moto's backend, or a Stubber answers); botocore's Stubber
answers ECS service deployments and CloudWatch alarm history, which moto lacks."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto.codedeploy.models import codedeploy_backends

from release.__main__ import main
from release.aws import Clients, Clock
from release.contract import (
    FUNCTION_NAME_OUTPUT,
    FUNCTION_VERSION_OUTPUT,
    RELEASE_OUTPUT,
    SERVICE_ID_OUTPUT,
    ApiRelease,
    WebRelease,
)
from release.record import parameter_name, read_record
from release.verify import Tools
from stacks.config import APP_CONFIG, AppConfig, stack_name
from tests.preflight_helpers import ACCOUNT, REGION, core_session
from tests.preflight_helpers import fake_aws as fake_aws  # moto answers every call

CONFIG: AppConfig = replace(
    APP_CONFIG,
    environments=tuple(replace(env, account=ACCOUNT) for env in APP_CONFIG.environments),
)
"""The shipped environments in moto's account."""
ENV = CONFIG.environment("prod")
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
OLD_IMAGE = f"{REGISTRY}/three-tier/prod/web:aaa111"
NEW_IMAGE = f"{REGISTRY}/three-tier/prod/web:bbb222"
CLUSTER = "three-tier-prod-web"
SERVICE_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/three-tier-prod-web-Service-X1"
DEPLOYMENT_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/{CLUSTER}/svc/d-1"
OLD_REVISION = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/{CLUSTER}/svc/41"
NEW_REVISION = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/{CLUSTER}/svc/42"
FAMILY = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/threetierprodwebTask"
WEB_5XX = "three-tier-prod-web-release-5xx-rate"
WEB_P99 = "three-tier-prod-web-release-p99"
API_ERRORS = "three-tier-prod-api-release-errors"
WEB_RELEASE = WebRelease(
    runtime="fargate",
    strategy="blue_green",
    step_percent=0,
    step_bake_minutes=0,
    bake_minutes=15,
    alarms=(WEB_5XX, WEB_P99),
)
API_RELEASE = ApiRelease(
    strategy="canary",
    percent=10,
    interval_minutes=10,
    alarms=(API_ERRORS,),
    application="three-tier-prod-api-Release-A1",
    deployment_group="three-tier-prod-api-Live-G1",
    alias="live",
)
FUNCTION = "three-tier-prod-api-ApiFunction-F1"
HOOK = "three-tier-prod-api-PreTraffic-H1"


class FakeClock(Clock):
    """Starts now (moto stamps its resources with the real time); sleeping moves it on."""

    def __init__(self) -> None:
        self.moment = datetime.now(UTC)
        self.slept: list[float] = []
        self.on_sleep: Callable[[], None] = lambda: None
        """What happens in AWS while the tooling sleeps (a deployment ends, ...)."""
        super().__init__(now=lambda: self.moment, sleep=self._sleep, poll_seconds=15.0)

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.moment += timedelta(seconds=seconds)
        self.on_sleep()


class Recorder:
    """A boto3 client that notes the IAM action (``ecs:ListServiceDeployments``) of each call."""

    def __init__(self, client: Any, calls: set[str]) -> None:
        self.client = client
        self.calls = calls

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        operation = self.client.meta.method_to_api_mapping.get(name)
        if operation is None:
            return attribute
        prefix = self.client.meta.service_model.service_name

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.add(f"{prefix}:{operation}")
            return attribute(*args, **kwargs)

        return call


class ReleaseAccount:
    """The moto account with an environment's web and API stacks; Stubbers for ECS and
    CloudWatch (and CodeDeploy where moto cannot give the status)."""

    def __init__(self, summary: Path) -> None:
        self.session = boto3.Session(botocore_session=core_session(), region_name=REGION)
        self.clock = FakeClock()
        self.summary = summary
        self.stubbers: dict[str, Stubber] = {}
        self.calls: set[str] = set()
        """``service:Operation`` of every call the tooling made (its IAM actions)."""
        self.clients: dict[str, Any] = {
            name: self.session.client(name)
            for name in ("cloudformation", "lambda", "ssm", "codedeploy")
        }
        self.stub("ecs")
        self.stub("cloudwatch")
        self.role = self.session.client("iam").create_role(
            RoleName="release-test", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]

    def stub(self, service: str) -> Stubber:
        """A Stubber answering ``service`` from now on, in the order responses are added."""
        client = self.session.client(service)  # type: ignore[call-overload]
        self.clients[service] = client
        self.stubbers[service] = Stubber(client)
        self.stubbers[service].activate()
        return self.stubbers[service]

    def tools(self) -> Tools:
        """The tooling's clients, each noting the IAM action of every call in ``calls``."""
        clients = {name: Recorder(client, self.calls) for name, client in self.clients.items()}
        return Tools(
            Clients(
                cloudformation=clients["cloudformation"],
                ecs=clients["ecs"],
                codedeploy=clients["codedeploy"],
                lambda_=clients["lambda"],
                cloudwatch=clients["cloudwatch"],
                ssm=clients["ssm"],
            ),
            self.clock,
            self.summary,
        )

    def run(
        self,
        capsys: pytest.CaptureFixture[str],
        *argv: str,
        config: AppConfig = CONFIG,
        runner: Callable[[Sequence[str]], int] | None = None,
    ) -> tuple[int, str, str]:
        code = main(list(argv), config, lambda _env: self.tools(), runner=runner or _no_runner)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    def done(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()

    # --- stacks -------------------------------------------------------------------------------

    def stack(self, tier: str, outputs: dict[str, str]) -> None:
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
        self.clients["cloudformation"].create_stack(
            StackName=stack_name(CONFIG, ENV, tier), TemplateBody=json.dumps(template)
        )

    def web_stack(self, release: WebRelease = WEB_RELEASE) -> None:
        self.stack("web", {RELEASE_OUTPUT: release.to_json(), SERVICE_ID_OUTPUT: SERVICE_ARN})

    def api_stack(self, version: str, release: ApiRelease = API_RELEASE) -> None:
        self.stack(
            "api",
            {
                RELEASE_OUTPUT: release.to_json(),
                FUNCTION_NAME_OUTPUT: FUNCTION,
                FUNCTION_VERSION_OUTPUT: version,
            },
        )

    # --- the API function and its deployment group (moto) ------------------------------------

    def function(self, versions: int, alias_on: str) -> None:
        """The API function with ``versions`` published versions, alias ``live`` on one."""
        lambda_ = self.clients["lambda"]
        lambda_.create_function(
            FunctionName=FUNCTION,
            Runtime="python3.12",
            Role=self.role,
            Handler="handler.handler",
            Code={"ZipFile": handler_zip(0)},
        )
        for number in range(1, versions + 1):
            # moto publishes a new version only for new code.
            lambda_.update_function_code(FunctionName=FUNCTION, ZipFile=handler_zip(number))
            lambda_.publish_version(FunctionName=FUNCTION)
        lambda_.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=alias_on)

    def move_alias(self, version: str) -> None:
        self.clients["lambda"].update_alias(
            FunctionName=FUNCTION, Name="live", FunctionVersion=version
        )

    def group(self) -> None:
        codedeploy = self.clients["codedeploy"]
        codedeploy.create_application(
            applicationName=API_RELEASE.application, computePlatform="Lambda"
        )
        codedeploy.create_deployment_group(
            applicationName=API_RELEASE.application,
            deploymentGroupName=API_RELEASE.deployment_group,
            serviceRoleArn=self.role,
            deploymentConfigName="CodeDeployDefault.LambdaCanary10Percent10Minutes",
            deploymentStyle={
                "deploymentType": "BLUE_GREEN",
                "deploymentOption": "WITH_TRAFFIC_CONTROL",
            },
        )

    def deployment(self, current: str, target: str, status: str, *, hook: bool = True) -> str:
        """A deployment of the group (as CloudFormation makes one), in ``status``."""
        content = appspec(current, target, hook=hook)
        identifier: str = self.clients["codedeploy"].create_deployment(
            applicationName=API_RELEASE.application,
            deploymentGroupName=API_RELEASE.deployment_group,
            revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": content}},
        )["deploymentId"]
        set_status(identifier, status)
        return identifier

    def api_unchanged(self, version: str = "2") -> None:
        """An API stack whose alias is on its version, with no deployment since."""
        self.api_stack(version)
        self.function(versions=2, alias_on=version)
        self.group()

    # --- ECS (Stubber) -----------------------------------------------------------------------

    def web_unchanged(self) -> None:
        self.web_stack()
        self.no_service_deployment()

    def no_service_deployment(self) -> None:
        self.stubbers["ecs"].add_response(
            "list_service_deployments",
            {"serviceDeployments": []},
            {"cluster": CLUSTER, "service": SERVICE_ARN},
        )

    def service_deployment(self, status: str, **details: Any) -> dict[str, Any]:
        started = self.clock.moment + timedelta(seconds=5)
        finished = started + timedelta(minutes=17)
        return {
            "serviceDeploymentArn": DEPLOYMENT_ARN,
            "serviceArn": SERVICE_ARN,
            "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
            "createdAt": started,
            "startedAt": started,
            **({"finishedAt": finished} if status not in IN_FLIGHT else {}),
            "status": status,
            "targetServiceRevision": {"arn": NEW_REVISION},
            "sourceServiceRevisions": [{"arn": OLD_REVISION}],
            "alarms": {"status": "MONITORING_COMPLETE", "alarmNames": list(WEB_RELEASE.alarms)},
            **details,
        }

    def ecs_deployment(
        self, *statuses: str, images: tuple[str, str] = (OLD_IMAGE, NEW_IMAGE), **details: Any
    ) -> dict[str, Any]:
        """The service's newest deployment from ``images[0]`` to ``images[1]``, described once
        per status (verify polls)."""
        first = self.service_deployment(statuses[0], **details)
        stubber = self.stubbers["ecs"]
        brief = {
            key: first[key] for key in ("serviceDeploymentArn", "serviceArn", "createdAt", "status")
        }
        stubber.add_response(
            "list_service_deployments",
            {"serviceDeployments": [brief, {**brief, "serviceDeploymentArn": "old", **OLDER}]},
            {"cluster": CLUSTER, "service": SERVICE_ARN},
        )
        for status in statuses:
            stubber.add_response(
                "describe_service_deployments",
                {"serviceDeployments": [self.service_deployment(status, **details)]},
                {"serviceDeploymentArns": [DEPLOYMENT_ARN]},
            )
        stubber.add_response(
            "describe_service_revisions",
            {
                "serviceRevisions": [
                    revision(NEW_REVISION, 42, images[1]),
                    revision(OLD_REVISION, 41, images[0]),
                ]
            },
            {"serviceRevisionArns": [NEW_REVISION, OLD_REVISION]},
        )
        return first

    def alarm_history(self, name: str, went_off_at: datetime | None) -> None:
        items = []
        if went_off_at is not None:
            data = {"oldState": {"stateValue": "OK"}, "newState": {"stateValue": "ALARM"}}
            items.append(
                {
                    "AlarmName": name,
                    "Timestamp": went_off_at,
                    "HistoryItemType": "StateUpdate",
                    "HistorySummary": "Alarm updated from OK to ALARM",
                    "HistoryData": json.dumps(data),
                }
            )
        self.stubbers["cloudwatch"].add_response(
            "describe_alarm_history",
            {"AlarmHistoryItems": items},
            {
                "AlarmName": name,
                "HistoryItemType": "StateUpdate",
                "StartDate": ANY,
                "EndDate": ANY,
                "ScanBy": "TimestampAscending",
                "MaxRecords": 100,
            },
        )


IN_FLIGHT = ("PENDING", "IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_REQUESTED")
OLDER = {"createdAt": datetime(2020, 1, 1, tzinfo=UTC), "status": "SUCCESSFUL"}
"""A deployment from before the stack update: never this deploy's."""


def handler_zip(number: int) -> bytes:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", f"def handler(event, context):\n    return {number}\n")
    return code.getvalue()


def revision(arn: str, number: int, image: str) -> dict[str, Any]:
    return {
        "serviceRevisionArn": arn,
        "taskDefinition": f"{FAMILY}:{number}",
        "containerImages": [
            {"containerName": "log-router", "image": "public.ecr.aws/x/fluent-bit:1"},
            {"containerName": "web", "image": image},
        ],
    }


def appspec(current: str, target: str, *, hook: bool = True) -> str:
    """An AppSpec as CloudFormation's CodeDeployLambdaAliasUpdate writes one."""
    spec: dict[str, Any] = {
        "version": 0.0,
        "Resources": [
            {
                "ApiFunctionAlias": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": FUNCTION,
                        "Alias": "live",
                        "CurrentVersion": current,
                        "TargetVersion": target,
                    },
                }
            }
        ],
    }
    if hook:
        spec["Hooks"] = [{"BeforeAllowTraffic": HOOK}]
    return json.dumps(spec)


def set_status(identifier: str, status: str) -> None:
    """moto creates every deployment ``Created`` and never moves it on."""
    codedeploy_backends[ACCOUNT][REGION].deployments[identifier].status = status


def _no_runner(argv: Any) -> int:
    raise AssertionError(f"verify and explain run no command: {argv}")


def at(hour: int, minute: int, second: int) -> datetime:
    return datetime.now(UTC).replace(hour=hour, minute=minute, second=second, microsecond=0)


@pytest.fixture(name="account")
def account_fixture(tmp_path: Path) -> Iterator[ReleaseAccount]:
    account = ReleaseAccount(tmp_path / "summary.md")
    yield account
    account.done()


def record_of(account: ReleaseAccount, tier: str) -> dict[str, Any] | None:
    found = read_record(account.clients["ssm"], parameter_name("three-tier", "prod", tier))
    return None if found is None else found.__dict__
