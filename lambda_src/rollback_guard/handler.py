"""Custom resource: lift a resource's deletion protection when its stack's first create rolls back.

CloudFormation cannot delete a resource whose deletion protection is on, so a failed first create
of a stack that holds one ends in ROLLBACK_FAILED instead of ROLLBACK_COMPLETE, and the retry
fails too. Each protected resource gets one of these custom resources, created right after it;
in a rollback CloudFormation deletes in reverse order, so this one is deleted first. When the
stack's status says the rollback undoes a *create* (``ROLLBACK_IN_PROGRESS``), it turns the
protection off; on every other delete (stack deletion, update rollback, cleanup) it does nothing,
so production data stays protected.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

import boto3
from botocore.exceptions import ClientError

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)

CREATE_ROLLBACK_STATUS = "ROLLBACK_IN_PROGRESS"
"""The stack status while CloudFormation undoes a failed stack creation (an update rollback is
``UPDATE_ROLLBACK_IN_PROGRESS``, a deletion ``DELETE_IN_PROGRESS``)."""
NOT_FOUND_CODES = frozenset(
    {
        "DBClusterNotFoundFault",
        "DBInstanceNotFoundFault",
        "LoadBalancerNotFound",
        "ResourceNotFoundException",
        "ValidationError",
    }
)
"""Nothing to unprotect: the resource was never created or is already gone."""


class ProtectedKind(StrEnum):
    """The deletion-protected resource types the platform creates."""

    RDS_CLUSTER = "rds-cluster"
    RDS_INSTANCE = "rds-instance"
    LOAD_BALANCER = "load-balancer"
    DYNAMODB_TABLE = "dynamodb-table"
    USER_POOL = "user-pool"


def _unprotect_cluster(identifier: str) -> None:
    boto3.client("rds").modify_db_cluster(
        DBClusterIdentifier=identifier, DeletionProtection=False, ApplyImmediately=True
    )


def _unprotect_instance(identifier: str) -> None:
    boto3.client("rds").modify_db_instance(
        DBInstanceIdentifier=identifier, DeletionProtection=False, ApplyImmediately=True
    )


def _unprotect_load_balancer(arn: str) -> None:
    boto3.client("elbv2").modify_load_balancer_attributes(
        LoadBalancerArn=arn,
        Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}],
    )


def _unprotect_table(name: str) -> None:
    boto3.client("dynamodb").update_table(TableName=name, DeletionProtectionEnabled=False)


def _unprotect_user_pool(pool_id: str) -> None:
    # UpdateUserPool resets what it is not given; the pool is being deleted, so that is moot.
    boto3.client("cognito-idp").update_user_pool(UserPoolId=pool_id, DeletionProtection="INACTIVE")


UNPROTECT: Mapping[ProtectedKind, Callable[[str], None]] = {
    ProtectedKind.RDS_CLUSTER: _unprotect_cluster,
    ProtectedKind.RDS_INSTANCE: _unprotect_instance,
    ProtectedKind.LOAD_BALANCER: _unprotect_load_balancer,
    ProtectedKind.DYNAMODB_TABLE: _unprotect_table,
    ProtectedKind.USER_POOL: _unprotect_user_pool,
}


def stack_status(stack_id: str) -> str:
    stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_id)["Stacks"]
    status: str = stacks[0]["StackStatus"]
    return status


def handle(
    event: Mapping[str, Any], status_of: Callable[[str], str] = stack_status
) -> tuple[str, str]:
    """What to answer CloudFormation: (SUCCESS or FAILED, reason)."""
    properties = event["ResourceProperties"]
    kind, target = ProtectedKind(properties["Kind"]), str(properties["Target"])
    if event["RequestType"] != "Delete":
        return "SUCCESS", f"guarding {kind} {target}"
    status = status_of(event["StackId"])
    if status != CREATE_ROLLBACK_STATUS:
        return "SUCCESS", f"stack is {status}: {kind} {target} stays protected"
    try:
        UNPROTECT[kind](target)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in NOT_FOUND_CODES:
            return "SUCCESS", f"{kind} {target} does not exist ({code})"
        return "FAILED", f"could not lift the deletion protection of {kind} {target}: {error}"
    return "SUCCESS", f"first create rolled back: lifted the deletion protection of {kind} {target}"


def on_event(event: Mapping[str, Any], _context: Any) -> None:
    """The Lambda entry point: always answers CloudFormation, never leaves it waiting."""
    try:
        status, reason = handle(event)
    except Exception as error:  # CloudFormation must get an answer, whatever went wrong
        status, reason = "FAILED", f"{type(error).__name__}: {error}"
    LOGGER.info(json.dumps({"status": status, "reason": reason}))
    properties = event.get("ResourceProperties", {})
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000],
            "PhysicalResourceId": f"{properties.get('Kind')}:{properties.get('Target')}",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (CloudFormation's pre-signed HTTPS URL)
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310
        pass
