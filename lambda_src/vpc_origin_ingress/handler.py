"""Custom resource: put CloudFront's VPC origin in front of the ECS Express load balancer.

Express Mode creates its own internal ALB and that ALB's security groups; CloudFront reaches it
through a VPC origin, whose traffic comes from a group CloudFront itself creates in the VPC
(``CloudFront-VPCOrigins-Service-SG``) once the VPC origin exists. No CloudFormation attribute
gives that group's id, so one function does two steps, each its own custom resource:

* ``load-balancer-ready`` waits for the ALB to be ``active``: a VPC origin cannot be created on a
  load balancer that is still provisioning.
* ``admit-vpc-origin`` (created after the VPC origin) finds CloudFront's group and allows TCP 443
  from it on each of the ALB's groups; its delete revokes that rule, which would otherwise keep
  CloudFront from deleting its group when the VPC origin goes.

Both physical ids carry the ALB's ARN: when the ARN changes, the Update answers a new id, so
CloudFormation treats it as a replacement and later sends a Delete with the *old* properties,
which revokes the rule on the old load balancer's groups.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, NamedTuple, Protocol

import boto3
from botocore.exceptions import ClientError

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)

SERVICE_GROUP_NAME = "CloudFront-VPCOrigins-Service-SG"
"""The group CloudFront creates in the VPC when a VPC origin is created; its traffic comes from
it (AWS: "Security Group Configuration" of CloudFront's VPC origins)."""
HTTPS_PORT = 443
RULE_DESCRIPTION = "CloudFront VPC origin to the Express load balancer"
DEFAULT_WAIT_SECONDS = 600
"""The construct gives the function a 15-minute timeout: 10 minutes of waiting leave time to
answer CloudFormation."""
POLL_SECONDS = 10
ACTIVE_STATE = "active"
FAILED_STATE = "failed"
MAX_REASON_CHARS = 1000
"""CloudFormation shows the reason in the stack's events; a long one is cut."""

LOAD_BALANCER_MARK = ":loadbalancer/"
LOAD_BALANCER_GONE = "LoadBalancerNotFound"
DUPLICATE_RULE = "InvalidPermission.Duplicate"
NOTHING_TO_REVOKE = frozenset({"InvalidPermission.NotFound", "InvalidGroup.NotFound"})
"""Revoke errors that mean the rule is already gone: with it, or with one of its groups."""


class Step(StrEnum):
    """What a custom resource of this function does (its ``Step`` property)."""

    LOAD_BALANCER_READY = "load-balancer-ready"
    ADMIT_VPC_ORIGIN = "admit-vpc-origin"


class RequestType(StrEnum):
    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"


class Status(StrEnum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class Answer(NamedTuple):
    """What to tell CloudFormation."""

    status: Status
    reason: str
    physical_id: str
    data: Mapping[str, str] | None = None


class InvalidPropertiesError(ValueError):
    """The resource's properties name no step or lack one it needs."""


class Clients(Protocol):
    @property
    def ec2(self) -> Any: ...

    @property
    def elbv2(self) -> Any: ...


class AwsClients:
    """boto3 clients made on first use: one made at import would need a region there."""

    @cached_property
    def ec2(self) -> Any:
        return boto3.client("ec2")

    @cached_property
    def elbv2(self) -> Any:
        return boto3.client("elbv2")


@dataclass(frozen=True)
class Deadline:
    """When to stop polling, on a monotonic clock (tests give a fake clock and sleep)."""

    clock: Callable[[], float]
    sleep: Callable[[float], None]
    seconds: float
    at: float

    @classmethod
    def start(
        cls, clock: Callable[[], float], sleep: Callable[[float], None], seconds: float
    ) -> Deadline:
        return cls(clock, sleep, seconds, clock() + seconds)

    def passed(self) -> bool:
        return self.clock() >= self.at

    def pause(self) -> None:
        self.sleep(max(0.0, min(POLL_SECONDS, self.at - self.clock())))


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _required(properties: Mapping[str, Any], name: str) -> str:
    value = properties.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidPropertiesError(f"missing property {name}")
    return value


def _step(properties: Mapping[str, Any]) -> Step:
    value = _required(properties, "Step")
    try:
        return Step(value)
    except ValueError:
        expected = ", ".join(step.value for step in Step)
        message = f"unknown Step {value!r} (expected one of {expected})"
        raise InvalidPropertiesError(message) from None


def physical_id(step: Step, load_balancer_arn: str) -> str:
    return f"{step}:{load_balancer_arn}"


def physical_id_of(event: Mapping[str, Any]) -> str:
    """The id to answer with: a Delete keeps its own; a Create or Update names step and ARN (so a
    new ARN is a replacement); with unusable properties, the old id or one no step claims."""
    own = event.get("PhysicalResourceId")
    if event.get("RequestType") == RequestType.DELETE and own:
        return str(own)
    properties = event.get("ResourceProperties") or {}
    try:
        return physical_id(_step(properties), _required(properties, "LoadBalancerArn"))
    except InvalidPropertiesError:
        return str(own or f"invalid-properties:{event.get('RequestId')}")


def _load_balancer(elbv2: Any, arn: str) -> Mapping[str, Any] | None:
    """The ALB's description, None when there is no such load balancer."""
    try:
        response = elbv2.describe_load_balancers(LoadBalancerArns=[arn])
    except ClientError as error:
        if _code(error) == LOAD_BALANCER_GONE:
            return None
        raise
    balancer: Mapping[str, Any] = response["LoadBalancers"][0]
    return balancer


def _groups_of(balancer: Mapping[str, Any]) -> list[str]:
    return sorted(str(group) for group in balancer.get("SecurityGroups", []))


def _service_groups(ec2: Any, vpc_id: str) -> list[str]:
    """CloudFront's groups in the VPC (one once a VPC origin exists there, none before)."""
    response = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": [SERVICE_GROUP_NAME]},
        ]
    )
    return sorted(str(group["GroupId"]) for group in response["SecurityGroups"])


def _permission(source_group: str) -> list[dict[str, Any]]:
    return [
        {
            "IpProtocol": "tcp",
            "FromPort": HTTPS_PORT,
            "ToPort": HTTPS_PORT,
            "UserIdGroupPairs": [{"GroupId": source_group, "Description": RULE_DESCRIPTION}],
        }
    ]


def await_active(elbv2: Any, arn: str, deadline: Deadline) -> tuple[Status, str, list[str]]:
    """Polls the ALB until it is active: (status, reason, its security groups)."""
    while True:
        balancer = _load_balancer(elbv2, arn)
        if balancer is None:
            return Status.FAILED, f"load balancer {arn} not found", []
        state = balancer.get("State", {})
        code = str(state.get("Code", ""))
        if code == ACTIVE_STATE:
            return Status.SUCCESS, f"load balancer {arn} is active", _groups_of(balancer)
        if code == FAILED_STATE:
            why = f": {state['Reason']}" if state.get("Reason") else ""
            return Status.FAILED, f"load balancer {arn} is {code}{why}", []
        if deadline.passed():
            return (
                Status.FAILED,
                f"load balancer {arn} is still {code or 'unknown'} after {deadline.seconds:g} s",
                [],
            )
        deadline.pause()


def metric_dimension(arn: str) -> str:
    """The ALB's ``LoadBalancer`` metric dimension, ``app/<name>/<id>``: "the final portion of
    the load balancer ARN" (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html).
    Answered here so that the alarms in another stack read a plain attribute."""
    return arn.split(LOAD_BALANCER_MARK, 1)[-1]


def _ready(
    request: RequestType, arn: str, clients: Clients, deadline: Deadline, own_id: str
) -> Answer:
    if request is RequestType.DELETE:
        return Answer(Status.SUCCESS, "nothing to undo", own_id)
    status, reason, groups = await_active(clients.elbv2, arn, deadline)
    if status is not Status.SUCCESS:
        return Answer(status, reason, own_id)
    data = {"SecurityGroups": ",".join(groups), "MetricDimension": metric_dimension(arn)}
    return Answer(status, reason, own_id, data)


def _await_service_group(ec2: Any, vpc_id: str, deadline: Deadline) -> list[str]:
    while not (found := _service_groups(ec2, vpc_id)) and not deadline.passed():
        deadline.pause()
    return found


def _admit(arn: str, vpc_id: str, clients: Clients, deadline: Deadline, own_id: str) -> Answer:
    balancer = _load_balancer(clients.elbv2, arn)
    if balancer is None:
        return Answer(Status.FAILED, f"load balancer {arn} not found", own_id)
    groups = _groups_of(balancer)
    if not groups:
        return Answer(Status.FAILED, f"load balancer {arn} has no security groups", own_id)
    sources = _await_service_group(clients.ec2, vpc_id, deadline)
    if not sources:
        return Answer(
            Status.FAILED,
            f"no {SERVICE_GROUP_NAME} in {vpc_id} after {deadline.seconds:g} s: "
            "is the VPC origin deployed?",
            own_id,
        )
    if len(sources) > 1:
        return Answer(
            Status.FAILED,
            f"{len(sources)} groups named {SERVICE_GROUP_NAME} in {vpc_id}, "
            f"expected one: {', '.join(sources)}",
            own_id,
        )
    (source,) = sources
    for group in groups:
        try:
            clients.ec2.authorize_security_group_ingress(
                GroupId=group, IpPermissions=_permission(source)
            )
        except ClientError as error:
            if _code(error) != DUPLICATE_RULE:  # a duplicate: the rule is there already
                raise
    return Answer(
        Status.SUCCESS,
        f"admitted TCP {HTTPS_PORT} from {source} on {', '.join(groups)}",
        own_id,
        {"SourceGroup": source, "SecurityGroups": ",".join(groups)},
    )


def _revocations(ec2: Any, groups: list[str], sources: list[str]) -> Iterator[str]:
    """Revokes the rule from each group, saying what happened to each; a rule already gone is
    fine, any other error raises (one left behind would block CloudFront deleting its group)."""
    for group in groups:
        for source in sources:
            try:
                response = ec2.revoke_security_group_ingress(
                    GroupId=group, IpPermissions=_permission(source)
                )
            except ClientError as error:
                if _code(error) not in NOTHING_TO_REVOKE:
                    raise
                yield f"{group}: already gone ({_code(error)})"
                continue
            # EC2 answers a rule it does not have with UnknownIpPermissions, not always an error.
            gone = "already gone" if response.get("UnknownIpPermissions") else "revoked"
            yield f"{group}: {gone}"


def _release(arn: str, vpc_id: str, clients: Clients, own_id: str) -> Answer:
    balancer = _load_balancer(clients.elbv2, arn)
    if balancer is None:
        return Answer(Status.SUCCESS, f"load balancer {arn} is gone: no rule to revoke", own_id)
    sources = _service_groups(clients.ec2, vpc_id)  # no waiting: a group gone holds no rule
    if not sources:
        return Answer(Status.SUCCESS, f"no {SERVICE_GROUP_NAME} in {vpc_id}: no rule", own_id)
    groups = _groups_of(balancer)
    try:
        done = list(_revocations(clients.ec2, groups, sources))
    except ClientError as error:
        return Answer(
            Status.FAILED,
            f"could not revoke TCP {HTTPS_PORT} from {', '.join(sources)} on {arn}'s groups "
            f"(CloudFront cannot delete its group while the rule stays): {error}",
            own_id,
        )
    return Answer(
        Status.SUCCESS, f"TCP {HTTPS_PORT} from {', '.join(sources)}: {'; '.join(done)}", own_id
    )


def handle(
    event: Mapping[str, Any],
    *,
    clients: Clients | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    deadline_seconds: float = DEFAULT_WAIT_SECONDS,
) -> Answer:
    """What to answer CloudFormation, without the HTTP call (testable without a network)."""
    request = RequestType(event["RequestType"])
    own_id = physical_id_of(event)
    properties = event.get("ResourceProperties") or {}
    try:
        step = _step(properties)
        arn = _required(properties, "LoadBalancerArn")
        vpc_id = _required(properties, "VpcId") if step is Step.ADMIT_VPC_ORIGIN else ""
    except InvalidPropertiesError as error:
        if request is RequestType.DELETE:  # its create failed the same way: nothing was made
            return Answer(Status.SUCCESS, f"nothing to delete: {error}", own_id)
        return Answer(Status.FAILED, str(error), own_id)
    if request is RequestType.DELETE and not own_id.startswith(f"{step}:"):
        # A Delete for a create that failed before it had an id of this step.
        return Answer(Status.SUCCESS, f"nothing to delete: {own_id} was never created", own_id)
    aws = clients or AwsClients()
    deadline = Deadline.start(clock, sleep, deadline_seconds)
    if step is Step.LOAD_BALANCER_READY:
        return _ready(request, arn, aws, deadline, own_id)
    if request is RequestType.DELETE:
        return _release(arn, vpc_id, aws, own_id)
    return _admit(arn, vpc_id, aws, deadline, own_id)


def response_body(event: Mapping[str, Any], answer: Answer) -> bytes:
    body: dict[str, Any] = {
        "Status": answer.status,
        "Reason": " ".join(answer.reason.split())[:MAX_REASON_CHARS],
        "PhysicalResourceId": answer.physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
    }
    if answer.data is not None:
        body["Data"] = dict(answer.data)
    return json.dumps(body).encode()


def on_event(event: Mapping[str, Any], _context: Any) -> None:
    """The Lambda entry point: always answers CloudFormation, never leaves it waiting."""
    try:
        answer = handle(event)
    except Exception as error:  # CloudFormation must get an answer, whatever went wrong
        answer = Answer(Status.FAILED, f"{type(error).__name__}: {error}", physical_id_of(event))
    LOGGER.info(
        json.dumps(
            {
                "request": event.get("RequestType"),
                "physical_id": answer.physical_id,
                "status": answer.status,
                "reason": answer.reason,
            }
        )
    )
    body = response_body(event, answer)
    request = urllib.request.Request(  # noqa: S310 (CloudFormation's pre-signed HTTPS URL)
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310
        pass
