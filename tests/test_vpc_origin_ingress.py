"""The VPC origin's function: waits for the Express ALB, then admits CloudFront's group on it.

Against moto's EC2 and ELBv2 (never AWS) with a fake clock (never really sleeping). moto makes a
new ALB ``active`` on its first describe, so the waiting is tested with a fake ELBv2 client.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from tests.preflight_helpers import REGION, core_session
from tests.preflight_helpers import fake_aws as fake_aws  # autouse: moto, fake credentials
from vpc_origin_ingress import handler
from vpc_origin_ingress.handler import Answer, Status, Step

WAIT = 30.0
"""The tests' deadline, in fake seconds: three polls after the first."""


@dataclass
class FakeClock:
    """A monotonic clock that only ``sleep`` moves."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        assert len(self.slept) <= 100, "still polling long after the deadline"


@dataclass
class Clients:
    ec2: Any
    elbv2: Any


@dataclass
class World:
    """A VPC with an internal ALB behind one group, and CloudFront's group in the VPC."""

    ec2: Any
    elbv2: Any
    vpc_id: str
    subnets: list[str]
    alb_group: str
    service_group: str
    arn: str

    def load_balancer(self, name: str) -> tuple[str, str]:
        """Another ALB with its own group: (ARN, group id)."""
        group = self.ec2.create_security_group(
            GroupName=f"{name}-alb", Description="alb", VpcId=self.vpc_id
        )["GroupId"]
        (balancer,) = self.elbv2.create_load_balancer(
            Name=name, Subnets=self.subnets, SecurityGroups=[group], Scheme="internal"
        )["LoadBalancers"]
        return str(balancer["LoadBalancerArn"]), str(group)

    def ingress(self, group: str) -> list[dict[str, Any]]:
        """The group's ingress permissions, one per source (moto's describe_security_group_rules
        leaves out a group rule's description; describe_security_groups keeps it)."""
        (described,) = self.ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
        return [
            {
                "IpProtocol": permission["IpProtocol"],
                "FromPort": permission.get("FromPort"),
                "ToPort": permission.get("ToPort"),
                "Source": pair.get("GroupId") or [r["CidrIp"] for r in permission["IpRanges"]],
                "Description": pair.get("Description"),
            }
            for permission in described["IpPermissions"]
            for pair in permission["UserIdGroupPairs"] or [{}]
        ]


@pytest.fixture
def world() -> World:
    """moto's account (``fake_aws``: fake credentials and region, no profile), with an internal
    ALB, its group, and CloudFront's service group in the ALB's VPC."""
    # One cache of service models for every test; moto puts the original session back.
    boto3.DEFAULT_SESSION = boto3.Session(botocore_session=core_session())
    ec2, elbv2 = boto3.client("ec2"), boto3.client("elbv2")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate([f"{REGION}a", f"{REGION}b"])
    ]
    alb_group = ec2.create_security_group(GroupName="express-alb", Description="alb", VpcId=vpc_id)[
        "GroupId"
    ]
    (balancer,) = elbv2.create_load_balancer(
        Name="express", Subnets=subnets, SecurityGroups=[alb_group], Scheme="internal"
    )["LoadBalancers"]
    service_group = ec2.create_security_group(
        GroupName=handler.SERVICE_GROUP_NAME, Description="CloudFront", VpcId=vpc_id
    )["GroupId"]
    return World(ec2, elbv2, vpc_id, subnets, alb_group, service_group, balancer["LoadBalancerArn"])


def event(
    request_type: str,
    step: str,
    arn: str,
    vpc_id: str | None = None,
    physical_id: str | None = None,
) -> dict[str, Any]:
    properties = {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f"}
    properties |= {"Step": step, "LoadBalancerArn": arn, "Revision": "r1"}
    if vpc_id is not None:
        properties["VpcId"] = vpc_id
    body: dict[str, Any] = {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/signed",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/app-prod-web/1",
        "RequestId": "request-1",
        "LogicalResourceId": "AdmitVpcOrigin",
        "ResourceType": "Custom::VpcOriginIngress",
        "ResourceProperties": properties,
    }
    if request_type != "Create":
        body["PhysicalResourceId"] = physical_id or f"{step}:{arn}"
    return body


def admit(world: World, request_type: str = "Create") -> dict[str, Any]:
    return event(request_type, Step.ADMIT_VPC_ORIGIN, world.arn, world.vpc_id)


def run(request: dict[str, Any], clients: Any = None, clock: FakeClock | None = None) -> Answer:
    clock = clock or FakeClock()
    return handler.handle(
        request, clients=clients, sleep=clock.sleep, clock=clock, deadline_seconds=WAIT
    )


def cloudfront_rule(world: World) -> dict[str, Any]:
    """The rule the function adds, as ``World.ingress`` lists it."""
    return {
        "IpProtocol": "tcp",
        "FromPort": handler.HTTPS_PORT,
        "ToPort": handler.HTTPS_PORT,
        "Source": world.service_group,
        "Description": handler.RULE_DESCRIPTION,
    }


# load-balancer-ready


class FakeLoadBalancers:
    """An ELBv2 client whose one ALB goes through the given states, one per describe."""

    def __init__(self, *states: str) -> None:
        self.states = list(states)
        self.calls = 0

    def describe_load_balancers(self, LoadBalancerArns: list[str]) -> dict[str, Any]:  # noqa: N803
        state = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        return {
            "LoadBalancers": [
                {
                    "LoadBalancerArn": LoadBalancerArns[0],
                    "State": {"Code": state, "Reason": "no capacity"},
                    "SecurityGroups": ["sg-b", "sg-a"],
                }
            ]
        }


ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/express/1"


def test_ready_answers_the_active_load_balancers_groups(world: World) -> None:
    answer = run(event("Create", Step.LOAD_BALANCER_READY, world.arn))
    assert answer == Answer(
        Status.SUCCESS,
        f"load balancer {world.arn} is active",
        f"load-balancer-ready:{world.arn}",
        {
            "SecurityGroups": world.alb_group,
            "MetricDimension": world.arn.split(":loadbalancer/")[1],
        },
    )
    assert answer.data is not None
    assert answer.data["MetricDimension"].startswith("app/express/")


def test_ready_waits_for_a_provisioning_load_balancer() -> None:
    elbv2, clock = FakeLoadBalancers("provisioning", "provisioning", "active"), FakeClock()
    answer = run(event("Update", Step.LOAD_BALANCER_READY, ARN), Clients(None, elbv2), clock)
    assert answer.status is Status.SUCCESS
    assert answer.data == {"SecurityGroups": "sg-a,sg-b", "MetricDimension": "app/express/1"}
    assert elbv2.calls == 3
    assert clock.slept == [handler.POLL_SECONDS] * 2


def test_ready_fails_when_the_load_balancer_stays_provisioning() -> None:
    elbv2, clock = FakeLoadBalancers("provisioning"), FakeClock()
    answer = run(event("Create", Step.LOAD_BALANCER_READY, ARN), Clients(None, elbv2), clock)
    assert answer.status is Status.FAILED
    assert answer.reason == f"load balancer {ARN} is still provisioning after 30 s"
    assert answer.data is None
    assert sum(clock.slept) == WAIT
    assert elbv2.calls == 4


def test_ready_fails_at_once_on_a_failed_load_balancer() -> None:
    elbv2, clock = FakeLoadBalancers("failed"), FakeClock()
    answer = run(event("Create", Step.LOAD_BALANCER_READY, ARN), Clients(None, elbv2), clock)
    assert answer.status is Status.FAILED
    assert answer.reason == f"load balancer {ARN} is failed: no capacity"
    assert clock.slept == []


def test_ready_fails_on_a_missing_load_balancer(world: World) -> None:
    arn = world.arn.replace("express", "missing")
    answer = run(event("Create", Step.LOAD_BALANCER_READY, arn))
    assert answer.status is Status.FAILED
    assert answer.reason == f"load balancer {arn} not found"


def test_ready_delete_does_nothing() -> None:
    answer = run(event("Delete", Step.LOAD_BALANCER_READY, ARN), Clients(None, None))
    assert answer == Answer(Status.SUCCESS, "nothing to undo", f"load-balancer-ready:{ARN}")


# admit-vpc-origin


def test_admit_adds_one_https_rule_from_cloudfronts_group(world: World) -> None:
    answer = run(admit(world))
    assert answer.status is Status.SUCCESS, answer.reason
    assert answer.physical_id == f"admit-vpc-origin:{world.arn}"
    assert answer.data == {"SourceGroup": world.service_group, "SecurityGroups": world.alb_group}
    assert world.ingress(world.alb_group) == [cloudfront_rule(world)]


@pytest.mark.parametrize("again", ["Create", "Update"])
def test_admit_again_is_idempotent(world: World, again: str) -> None:
    assert run(admit(world)).status is Status.SUCCESS
    answer = run(admit(world, again))
    assert answer.status is Status.SUCCESS, answer.reason
    assert world.ingress(world.alb_group) == [cloudfront_rule(world)]


def test_admit_waits_for_cloudfronts_group(world: World) -> None:
    """The VPC origin's group can appear a little after the VPC origin reports created."""
    world.ec2.delete_security_group(GroupId=world.service_group)

    class LateGroup:
        def __init__(self) -> None:
            self.looks = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(world.ec2, name)

        def describe_security_groups(self, **kwargs: Any) -> Any:
            self.looks += 1
            if self.looks == 2:
                world.service_group = world.ec2.create_security_group(
                    GroupName=handler.SERVICE_GROUP_NAME, Description="CF", VpcId=world.vpc_id
                )["GroupId"]
            return world.ec2.describe_security_groups(**kwargs)

    clock = FakeClock()
    answer = run(admit(world), Clients(LateGroup(), world.elbv2), clock)
    assert answer.status is Status.SUCCESS, answer.reason
    assert clock.slept == [handler.POLL_SECONDS]
    assert world.ingress(world.alb_group) == [cloudfront_rule(world)]


def test_admit_fails_when_cloudfronts_group_never_appears(world: World) -> None:
    world.ec2.delete_security_group(GroupId=world.service_group)
    clock = FakeClock()
    answer = run(admit(world), clock=clock)
    assert answer.status is Status.FAILED
    assert answer.reason == (
        f"no CloudFront-VPCOrigins-Service-SG in {world.vpc_id} after 30 s: "
        "is the VPC origin deployed?"
    )
    assert sum(clock.slept) == WAIT
    assert world.ingress(world.alb_group) == []


def test_only_cloudfronts_group_in_the_load_balancers_vpc_counts(world: World) -> None:
    other_vpc = world.ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    world.ec2.create_security_group(
        GroupName=handler.SERVICE_GROUP_NAME, Description="CF", VpcId=other_vpc
    )
    answer = run(admit(world))
    assert answer.status is Status.SUCCESS, answer.reason
    assert answer.data is not None
    assert answer.data["SourceGroup"] == world.service_group
    assert world.ingress(world.alb_group) == [cloudfront_rule(world)]


def test_admit_fails_on_two_cloudfront_groups_in_the_vpc(world: World) -> None:
    """moto refuses a second group of that name in a VPC; EC2 might not, so a fake answers."""

    class TwoGroups:
        def describe_security_groups(self, **_: Any) -> Any:
            return {"SecurityGroups": [{"GroupId": "sg-2"}, {"GroupId": "sg-1"}]}

    answer = run(admit(world), Clients(TwoGroups(), world.elbv2))
    assert answer.status is Status.FAILED
    assert answer.reason == (
        f"2 groups named CloudFront-VPCOrigins-Service-SG in {world.vpc_id}, "
        "expected one: sg-1, sg-2"
    )


def test_admit_fails_on_a_missing_load_balancer(world: World) -> None:
    world.elbv2.delete_load_balancer(LoadBalancerArn=world.arn)
    answer = run(admit(world))
    assert answer.status is Status.FAILED
    assert answer.reason == f"load balancer {world.arn} not found"


def test_admit_delete_revokes_only_its_rule(world: World) -> None:
    world.ec2.authorize_security_group_ingress(
        GroupId=world.alb_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "IpRanges": [{"CidrIp": "10.0.0.0/16"}],
            }
        ],
    )
    assert run(admit(world)).status is Status.SUCCESS
    answer = run(admit(world, "Delete"))
    assert answer.status is Status.SUCCESS, answer.reason
    assert world.alb_group in answer.reason
    assert world.ingress(world.alb_group) == [
        {
            "IpProtocol": "tcp",
            "FromPort": 80,
            "ToPort": 80,
            "Source": ["10.0.0.0/16"],
            "Description": None,
        }
    ]


def test_admit_delete_without_the_rule_succeeds(world: World) -> None:
    answer = run(admit(world, "Delete"))
    assert answer.status is Status.SUCCESS
    assert "already gone (InvalidPermission.NotFound)" in answer.reason


def test_admit_delete_without_cloudfronts_group_succeeds_at_once(world: World) -> None:
    world.ec2.delete_security_group(GroupId=world.service_group)
    clock = FakeClock()
    answer = run(admit(world, "Delete"), clock=clock)
    assert answer.status is Status.SUCCESS
    assert clock.slept == []


def test_admit_delete_without_the_load_balancer_succeeds(world: World) -> None:
    world.elbv2.delete_load_balancer(LoadBalancerArn=world.arn)
    answer = run(admit(world, "Delete"))
    assert answer.status is Status.SUCCESS
    assert "is gone" in answer.reason


def test_admit_delete_fails_loudly_on_any_other_error(world: World) -> None:
    from botocore.exceptions import ClientError

    class Refusing:
        def __getattr__(self, name: str) -> Any:
            return getattr(world.ec2, name)

        def revoke_security_group_ingress(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": "UnauthorizedOperation"}}, "Revoke")

    answer = run(admit(world, "Delete"), Clients(Refusing(), world.elbv2))
    assert answer.status is Status.FAILED
    assert "UnauthorizedOperation" in answer.reason


def test_admit_delete_takes_an_unknown_permission_answer_as_gone(world: World) -> None:
    """EC2 can answer a rule it does not have with UnknownIpPermissions instead of an error."""

    class Unknown:
        def __getattr__(self, name: str) -> Any:
            return getattr(world.ec2, name)

        def revoke_security_group_ingress(self, **kwargs: Any) -> Any:
            return {"Return": False, "UnknownIpPermissions": kwargs["IpPermissions"]}

    answer = run(admit(world, "Delete"), Clients(Unknown(), world.elbv2))
    assert answer.status is Status.SUCCESS
    assert f"{world.alb_group}: already gone" in answer.reason


def test_a_new_load_balancer_is_a_replacement_whose_delete_revokes_the_old_rule(
    world: World,
) -> None:
    """A new ARN answers a new physical id; CloudFormation then deletes the old one with the old
    properties, which revokes the rule on the old ALB's group and leaves the new one's."""
    assert run(admit(world)).status is Status.SUCCESS
    new_arn, new_group = world.load_balancer("express-2")
    update = event("Update", Step.ADMIT_VPC_ORIGIN, new_arn, world.vpc_id)
    update["PhysicalResourceId"] = f"admit-vpc-origin:{world.arn}"
    answer = run(update)
    assert answer.status is Status.SUCCESS, answer.reason
    assert answer.physical_id == f"admit-vpc-origin:{new_arn}"
    assert run(admit(world, "Delete")).status is Status.SUCCESS
    assert world.ingress(world.alb_group) == []
    assert world.ingress(new_group) == [cloudfront_rule(world)]


# Unusable properties and failed creates


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"Step": "open-sesame", "LoadBalancerArn": ARN}, "unknown Step 'open-sesame'"),
        ({"LoadBalancerArn": ARN}, "missing property Step"),
        ({"Step": "admit-vpc-origin"}, "missing property LoadBalancerArn"),
        ({"Step": "admit-vpc-origin", "LoadBalancerArn": ARN}, "missing property VpcId"),
    ],
)
def test_unusable_properties_fail_the_create(properties: dict[str, str], reason: str) -> None:
    request = event("Create", Step.ADMIT_VPC_ORIGIN, ARN)
    request["ResourceProperties"] = properties
    answer = run(request, Clients(None, None))
    assert answer.status is Status.FAILED
    assert answer.reason.startswith(reason)
    assert "\n" not in answer.reason


@pytest.mark.parametrize(
    ("properties", "physical_id"),
    [
        ({"Step": "admit-vpc-origin"}, "invalid-properties:request-0"),
        ({}, "invalid-properties:request-0"),
        ({"Step": "admit-vpc-origin", "LoadBalancerArn": ARN, "VpcId": "vpc-1"}, "x"),
        ({"Step": "admit-vpc-origin", "LoadBalancerArn": ARN, "VpcId": "vpc-1"}, f"y:{ARN}"),
    ],
)
def test_the_delete_of_a_failed_create_succeeds_without_aws(
    properties: dict[str, str], physical_id: str
) -> None:
    request = event("Delete", Step.ADMIT_VPC_ORIGIN, ARN, physical_id=physical_id)
    request["ResourceProperties"] = properties
    answer = run(request, Clients(None, None))
    assert answer == Answer(Status.SUCCESS, answer.reason, physical_id)
    assert answer.reason.startswith("nothing to delete")


# on_event: what CloudFormation receives


@pytest.fixture
def responses(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The PUTs to the response URL, captured instead of sent."""
    sent: list[dict[str, Any]] = []

    class Response:
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *_: object) -> None:
            return None

    def urlopen(request: urllib.request.Request, timeout: float) -> Response:
        assert isinstance(request.data, bytes)
        assert request.get_method() == "PUT"
        assert request.full_url == event("Create", "", "")["ResponseURL"]
        sent.append(json.loads(request.data))
        return Response()

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return sent


def test_on_event_answers_success_with_data(world: World, responses: list[dict[str, Any]]) -> None:
    handler.on_event(admit(world), None)
    assert responses == [
        {
            "Status": "SUCCESS",
            "Reason": f"admitted TCP 443 from {world.service_group} on {world.alb_group}",
            "PhysicalResourceId": f"admit-vpc-origin:{world.arn}",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/app-prod-web/1",
            "RequestId": "request-1",
            "LogicalResourceId": "AdmitVpcOrigin",
            "Data": {"SourceGroup": world.service_group, "SecurityGroups": world.alb_group},
        }
    ]


def test_on_event_turns_an_exception_into_failed(
    monkeypatch: pytest.MonkeyPatch, responses: list[dict[str, Any]]
) -> None:
    def broken(_: Any) -> Answer:
        raise RuntimeError("boom\n" + "x" * 2000)

    monkeypatch.setattr(handler, "handle", broken)
    handler.on_event(event("Create", Step.ADMIT_VPC_ORIGIN, ARN, "vpc-1"), None)
    (body,) = responses
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("RuntimeError: boom x")
    assert len(body["Reason"]) == handler.MAX_REASON_CHARS
    assert body["PhysicalResourceId"] == f"admit-vpc-origin:{ARN}"
    assert "Data" not in body


def test_on_event_answers_an_unknown_step_without_a_traceback(
    responses: list[dict[str, Any]],
) -> None:
    handler.on_event(event("Create", "open-sesame", ARN), None)
    (body,) = responses
    assert body["Status"] == "FAILED"
    assert body["Reason"] == (
        "unknown Step 'open-sesame' (expected one of load-balancer-ready, admit-vpc-origin)"
    )
    assert body["PhysicalResourceId"] == "invalid-properties:request-1"


def test_on_event_deletes_a_failed_create_without_calling_aws(
    monkeypatch: pytest.MonkeyPatch, responses: list[dict[str, Any]]
) -> None:
    def no_aws(*_: Any, **__: Any) -> Any:
        raise AssertionError("no AWS call for the delete of a failed create")

    monkeypatch.setattr(boto3, "client", no_aws)
    request = event("Delete", Step.ADMIT_VPC_ORIGIN, ARN, "vpc-1", "invalid-properties:request-0")
    handler.on_event(request, None)
    (body,) = responses
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "invalid-properties:request-0"
