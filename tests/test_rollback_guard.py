"""The guard's function: lifts deletion protection during a create rollback, never otherwise."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from cdk_constructs.options import ProtectedKind
from rollback_guard import handler


def event(
    request_type: str, kind: str = "rds-cluster", target: str = "app-prod-db"
) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/app-prod-data/1",
        "ResourceProperties": {"Kind": kind, "Target": target},
    }


@pytest.fixture
def lifted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Records the unprotect calls instead of making them."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(
        handler,
        "UNPROTECT",
        {
            kind: (lambda target, kind=kind: calls.append((kind, target)))
            for kind in handler.ProtectedKind
        },
    )
    return calls


def test_the_function_and_the_construct_name_the_same_kinds() -> None:
    assert {kind.value for kind in handler.ProtectedKind} == {kind.value for kind in ProtectedKind}


@pytest.mark.parametrize("kind", [kind.value for kind in ProtectedKind])
def test_a_create_rollback_lifts_the_protection(lifted: list[tuple[str, str]], kind: str) -> None:
    status, _ = handler.handle(event("Delete", kind, "x"), lambda _: "ROLLBACK_IN_PROGRESS")
    assert status == "SUCCESS"
    assert lifted == [(kind, "x")]


@pytest.mark.parametrize(
    "stack_status",
    ["DELETE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"],
)
def test_any_other_delete_keeps_the_protection(
    lifted: list[tuple[str, str]], stack_status: str
) -> None:
    status, reason = handler.handle(event("Delete"), lambda _: stack_status)
    assert status == "SUCCESS"
    assert lifted == []
    assert "stays protected" in reason


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_do_nothing(lifted: list[tuple[str, str]], request_type: str) -> None:
    def no_status(_: str) -> str:
        raise AssertionError("no stack lookup outside a delete")

    assert handler.handle(event(request_type), no_status)[0] == "SUCCESS"
    assert lifted == []


def failing(code: str) -> Any:
    def unprotect(_: str) -> None:
        raise ClientError({"Error": {"Code": code, "Message": code}}, "Modify")

    return unprotect


def test_a_resource_that_is_gone_needs_no_lifting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        handler.UNPROTECT, handler.ProtectedKind.RDS_CLUSTER, failing("DBClusterNotFoundFault")
    )
    status, _ = handler.handle(event("Delete"), lambda _: "ROLLBACK_IN_PROGRESS")
    assert status == "SUCCESS"


def test_a_refused_lift_is_reported_to_cloudformation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        handler.UNPROTECT, handler.ProtectedKind.RDS_CLUSTER, failing("AccessDenied")
    )
    status, reason = handler.handle(event("Delete"), lambda _: "ROLLBACK_IN_PROGRESS")
    assert status == "FAILED"
    assert "AccessDenied" in reason


def test_an_instance_guard_lifts_the_instances_deletion_protection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real call against moto's RDS: the instance engines' guard turns protection off."""
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        rds = boto3.client("rds")
        rds.create_db_instance(
            DBInstanceIdentifier="three-tier-classic-db",
            DBInstanceClass="db.t4g.micro",
            Engine="mysql",
            MasterUsername="admin",
            MasterUserPassword="not-a-real-password",
            AllocatedStorage=20,
            DeletionProtection=True,
        )
        handler.UNPROTECT[handler.ProtectedKind.RDS_INSTANCE]("three-tier-classic-db")
        (instance,) = rds.describe_db_instances(DBInstanceIdentifier="three-tier-classic-db")[
            "DBInstances"
        ]
        assert instance["DeletionProtection"] is False
