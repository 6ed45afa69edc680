"""Issue 15, point 3: no policy lets anyone but the key's own account root call
``kms:CreateGrant`` unless ``kms:GrantIsForAWSResource`` is true, i.e. an AWS service integrated
with KMS asks for the grant on the caller's behalf
(https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-is-for-aws-resource).

Every policy document of every shipped template is walked: key policies, IAM policies (inline,
attached, managed) and resource policies, including those CloudFormation takes as JSON text.
A wildcard action covering CreateGrant (``kms:*``, ``kms:Create*``, ``*``) or an allowing
``NotAction`` that does not exclude it counts as allowing it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.synth import TIERS, Synthesized

Statement = dict[str, Any]
CREATE_GRANT = "kms:creategrant"
GRANT_FOR_AWS_RESOURCE = "kms:grantisforawsresource"
PSEUDO = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def policy_statements(node: Any) -> Iterator[Statement]:
    """Every statement of every policy document under ``node``; a document given as JSON text
    (e.g. AWS::Logs::ResourcePolicy) is parsed first."""
    if isinstance(node, str) and '"Statement"' in node:
        try:
            node = json.loads(node)
        except ValueError:
            return
    if isinstance(node, dict):
        if "Statement" in node:
            yield from (s for s in as_list(node["Statement"]) if isinstance(s, dict))
        for key, value in node.items():
            if key != "Statement":
                yield from policy_statements(value)
    elif isinstance(node, list):
        for item in node:
            yield from policy_statements(item)


def action_matches(pattern: Any, action: str) -> bool:
    """IAM's matching: case-insensitive, ``*`` and ``?`` wildcards only. A computed action (an
    intrinsic function) is assumed to match: the check must not pass on what it cannot read."""
    if not isinstance(pattern, str):
        return True
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, action, flags=re.IGNORECASE) is not None


def allows_create_grant(statement: Statement) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    if "NotAction" in statement:
        return not any(action_matches(p, CREATE_GRANT) for p in as_list(statement["NotAction"]))
    return any(action_matches(p, CREATE_GRANT) for p in as_list(statement.get("Action")))


def grant_is_for_aws_resource(statement: Statement) -> bool:
    """The statement requires ``"Bool": {"kms:GrantIsForAWSResource": "true"}`` (not IfExists,
    which would pass when the key is absent)."""
    conditions = statement.get("Condition", {}).get("Bool", {})
    values = [v for k, v in conditions.items() if k.lower() == GRANT_FOR_AWS_RESOURCE]
    return len(values) == 1 and [str(v).lower() for v in as_list(values[0])] == ["true"]


def rendered(value: Any, account: str) -> str | None:
    """A string, or a join of strings and pseudo-parameter Refs, as deployed in ``account``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return account if value["Ref"] == "AWS::AccountId" else PSEUDO.get(value["Ref"])
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        texts = [rendered(part, account) for part in parts]
        return None if None in texts else separator.join(t for t in texts if t is not None)
    return None


def principal_is_account_root(statement: Statement, account: str) -> bool:
    """The principal is only ``account``'s root (the identity policies of that account decide)."""
    if "NotPrincipal" in statement or not isinstance(statement.get("Principal"), dict):
        return False
    principal: dict[str, Any] = statement["Principal"]
    if set(principal) != {"AWS"}:
        return False
    root = re.compile(rf"arn:aws(-[a-z-]+)?:iam::{re.escape(account)}:root|{re.escape(account)}")
    return all(
        (text := rendered(entry, account)) is not None and root.fullmatch(text) is not None
        for entry in as_list(principal["AWS"])
    )


def ungated_grants(template: dict[str, Any], account: str) -> list[str]:
    """``logical id (type): statement`` for every statement that allows CreateGrant without the
    condition to anyone but ``account``'s root."""
    return [
        f"{logical_id} ({resource['Type']}): {json.dumps(statement, sort_keys=True)}"
        for logical_id, resource in template.get("Resources", {}).items()
        for statement in policy_statements(resource.get("Properties", {}))
        if allows_create_grant(statement)
        and not grant_is_for_aws_resource(statement)
        and not principal_is_account_root(statement, account)
    ]


def shipped_templates(synthesized: Synthesized) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(name, account, template) of every environment stack and every GitHub OIDC stack."""
    for name, env in synthesized.envs.items():
        for tier in TIERS:
            yield f"{name}/{tier}", env.config.account, env.template(tier)
    for account, template in synthesized.oidc.items():
        yield f"github-oidc/{account}", account, template


def test_no_shipped_statement_allows_create_grant_outside_aws_resources(
    synthesized: Synthesized,
) -> None:
    found = [
        f"{name}: {finding}"
        for name, account, template in shipped_templates(synthesized)
        for finding in ungated_grants(template, account)
    ]
    assert found == []


def test_the_walker_reads_every_shipped_key_policy(synthesized: Synthesized) -> None:
    """Guards the test above against passing vacuously: each key's own root statement (kms:*)
    allows CreateGrant, is seen, and is exempt only because it names the account root."""
    keys = 0
    for _name, account, template in shipped_templates(synthesized):
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::KMS::Key":
                continue
            keys += 1
            grants = [s for s in policy_statements(resource) if allows_create_grant(s)]
            assert any(principal_is_account_root(s, account) for s in grants), logical_id
            assert not any(principal_is_account_root(s, "999999999999") for s in grants)
    assert keys >= 3 * len(synthesized.envs)  # database, flow-log and alerts keys


ROOT = "arn:aws:iam::111122223333:root"


def key_policy_template(statement: Statement) -> dict[str, Any]:
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    return {"Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": policy}}}}


CDK_ROOT_PARTS = ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]
"""How CDK writes an account root whose account is not known at synth time."""
GATED = {"Bool": {"kms:GrantIsForAWSResource": "true"}}


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:GetObject", "KMS:createGRANT"], "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:Create*", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:*Grant*", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:CreateGran?", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "NotAction": ["iam:*", "kms:Decrypt"], "Resource": "*"},
        {"Effect": "Allow", "Action": {"Fn::If": ["C", "kms:Decrypt", "kms:*"]}, "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"BoolIfExists": {"kms:GrantIsForAWSResource": "true"}},
        },
        {
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "false"}},
        },
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"},
        {
            "Effect": "Allow",
            "Principal": {"AWS": [ROOT, "arn:aws:iam::111122223333:role/app"]},
            "Action": "kms:CreateGrant",
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
            "Action": "kms:CreateGrant",
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Principal": {"Service": "logs.amazonaws.com"},
            "Action": "kms:CreateGrant",
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "NotPrincipal": {"AWS": ROOT},
            "Action": "kms:CreateGrant",
            "Resource": "*",
        },
    ],
)
def test_an_ungated_grant_is_found(statement: Statement) -> None:
    template = key_policy_template(statement)
    assert len(ungated_grants(template, "111122223333")) == 1


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": "*", "Condition": GATED},
        {
            "Effect": "Allow",
            "Action": ["kms:CreateGrant", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"Bool": {"kms:grantisforawsresource": True}},
        },
        {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*"},
        {
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::Join": ["", CDK_ROOT_PARTS]}},
            "Action": "kms:*",
            "Resource": "*",
        },
        {"Effect": "Deny", "Action": "kms:CreateGrant", "Resource": "*"},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"},
        {"Effect": "Allow", "NotAction": "kms:*", "Resource": "*"},
    ],
)
def test_a_gated_or_unrelated_statement_passes(statement: Statement) -> None:
    template = key_policy_template(statement)
    assert ungated_grants(template, "111122223333") == []


def test_every_kind_of_policy_document_is_walked() -> None:
    bad = {"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": "*"}
    document = {"Version": "2012-10-17", "Statement": [bad]}
    template = {
        "Resources": {
            "Inline": {
                "Type": "AWS::IAM::Role",
                "Properties": {"Policies": [{"PolicyName": "p", "PolicyDocument": document}]},
            },
            "Attached": {"Type": "AWS::IAM::Policy", "Properties": {"PolicyDocument": document}},
            "Managed": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": {"Statement": bad}},  # one statement, no list
            },
            "Secret": {
                "Type": "AWS::SecretsManager::ResourcePolicy",
                "Properties": {"ResourcePolicy": document},
            },
            "Logs": {
                "Type": "AWS::Logs::ResourcePolicy",
                "Properties": {"PolicyDocument": json.dumps(document)},  # JSON text
            },
        }
    }
    found = ungated_grants(template, "111122223333")
    assert [finding.split(" ", 1)[0] for finding in found] == [
        "Inline",
        "Attached",
        "Managed",
        "Secret",
        "Logs",
    ]
