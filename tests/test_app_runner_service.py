"""The App Runner service construct (tests/app_runner_cases.py), synthesized with the quality
gates on: its source, deployments, secrets and roles; relations, not ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdk_constructs.web_runtime.app_runner import XRAY_WRITE_ACTIONS
from cdk_constructs.web_runtime.image import PLACEHOLDER_IMAGE
from stacks.platform_app import unacknowledged_findings
from tests.app_runner_cases import (
    ECR_PULL,
    SECRET_READ,
    START_COMMAND,
    Case,
    actions_of,
    image_configuration,
    image_source,
    resources_of,
    role_of,
    service_of,
)
from tests.app_runner_cases import case as case  # fixtures
from tests.app_runner_cases import cases as cases
from tests.synth import cfn_lint
from tests.template_queries import get_att, only, policy_statements_of_role, ref, resources


@pytest.fixture
def public(cases: tuple[Path, dict[str, Case]]) -> Case:
    return cases[1]["Placeholder"]


@pytest.fixture
def private(cases: tuple[Path, dict[str, Case]]) -> Case:
    return cases[1]["Private"]


# --- quality gates --------------------------------------------------------------------------------


def test_no_unacknowledged_finding_and_no_lint(
    cases: tuple[Path, dict[str, Case]],
) -> None:
    outdir, _ = cases
    assert unacknowledged_findings(outdir) == []
    assert cfn_lint(sorted(outdir.glob("*.template.json")), ["us-east-1"]) == ""


# --- source and deployments -----------------------------------------------------------------------


def test_automatic_deployments_are_off(case: Case) -> None:
    assert service_of(case)["SourceConfiguration"]["AutoDeploymentsEnabled"] is False


def test_placeholder_runs_from_ecr_public_with_its_start_command_and_no_access_role(
    public: Case,
) -> None:
    source, repository = image_source(public)
    assert repository["ImageRepositoryType"] == "ECR_PUBLIC"
    assert repository["ImageIdentifier"] == PLACEHOLDER_IMAGE
    assert repository["ImageConfiguration"]["StartCommand"] == START_COMMAND
    assert "AuthenticationConfiguration" not in source
    assert public.service.access_role is None
    roles = resources(public.template, "AWS::IAM::Role").values()
    assert all(
        role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        != {"Service": "build.apprunner.amazonaws.com"}
        for role in roles
    )


def test_private_image_is_pulled_by_an_access_role_limited_to_its_repository(
    private: Case,
) -> None:
    source, repository = image_source(private)
    assert repository["ImageRepositoryType"] == "ECR"
    assert "StartCommand" not in repository["ImageConfiguration"]
    role_id = role_of(private, "build.apprunner.amazonaws.com")
    assert source["AuthenticationConfiguration"] == {"AccessRoleArn": get_att(role_id, "Arn")}
    assert private.service.access_role is not None
    assert "ManagedPolicyArns" not in private.template["Resources"][role_id]["Properties"]
    repositories = resources(private.template, "AWS::ECR::Repository")
    (image_repository_id,) = [
        logical_id
        for logical_id in repositories
        if json.dumps(ref(logical_id)) in json.dumps(repository["ImageIdentifier"])
    ]
    granted: dict[str, set[str]] = {}
    for statement in policy_statements_of_role(private.template, role_id):
        assert statement["Effect"] == "Allow"
        assert "Condition" not in statement
        for resource in resources_of(statement):
            granted.setdefault(json.dumps(resource), set()).update(actions_of(statement))
    assert granted == {
        json.dumps(get_att(image_repository_id, "Arn")): ECR_PULL,
        json.dumps("*"): {"ecr:GetAuthorizationToken"},
    }


# --- secrets and the instance role ----------------------------------------------------------------


def test_secrets_are_runtime_secrets_by_full_arn_never_plain_variables(private: Case) -> None:
    config = image_configuration(private)
    secrets = {item["Name"]: item["Value"] for item in config["RuntimeEnvironmentSecrets"]}
    secret_ids = resources(private.template, "AWS::SecretsManager::Secret")
    app_secret_id = next(i for i in secret_ids if i.startswith("AppSecret"))
    client_secret_id = next(i for i in secret_ids if i.startswith("ClientSecret"))
    assert secrets == {
        "APP_SECRETS": ref(app_secret_id),
        "API_CLIENT_SECRET": {"Fn::Join": ["", [ref(client_secret_id), ":client_secret::"]]},
    }
    plain = {item["Name"]: item["Value"] for item in config["RuntimeEnvironmentVariables"]}
    assert plain == {"LOG_LEVEL": "info"}  # PORT is App Runner's own; no secret in sight
    assert "SecretsManager" not in json.dumps(plain)
    assert "resolve:secretsmanager" not in json.dumps(service_of(private))


def test_instance_role_reads_exactly_the_service_secrets_and_decrypts_via_secrets_manager(
    private: Case,
) -> None:
    config = image_configuration(private)
    secret_refs = {
        json.dumps(ref(logical_id))
        for logical_id in resources(private.template, "AWS::SecretsManager::Secret")
        if json.dumps(ref(logical_id)) in json.dumps(config["RuntimeEnvironmentSecrets"])
    }
    assert len(secret_refs) == 2
    role_id = role_of(private, "tasks.apprunner.amazonaws.com")
    role = private.template["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role
    assert service_of(private)["InstanceConfiguration"]["InstanceRoleArn"] == get_att(
        role_id, "Arn"
    )
    granted: dict[str, set[str]] = {}
    for statement in policy_statements_of_role(private.template, role_id):
        assert statement["Effect"] == "Allow"
        for resource in resources_of(statement):
            granted.setdefault(json.dumps(resource), set()).update(actions_of(statement))
    assert granted == {**dict.fromkeys(secret_refs, SECRET_READ), '"*"': set(XRAY_WRITE_ACTIONS)}
    # The client secret's key lets the role decrypt, only through Secrets Manager.
    role_arn = get_att(role_id, "Arn")
    key_grants = [
        (key_id, statement)
        for key_id, key in resources(private.template, "AWS::KMS::Key").items()
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"AWS": role_arn}
    ]
    ((key_id, statement),) = key_grants
    client_secret = next(
        secret
        for secret in resources(private.template, "AWS::SecretsManager::Secret").values()
        if secret["Properties"].get("KmsKeyId")
    )
    assert client_secret["Properties"]["KmsKeyId"] == get_att(key_id, "Arn")
    assert actions_of(statement) == {"kms:Decrypt"}
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
    }


def test_placeholder_instance_role_may_only_write_traces(public: Case) -> None:
    role_id = role_of(public, "tasks.apprunner.amazonaws.com")
    assert "ManagedPolicyArns" not in public.template["Resources"][role_id]["Properties"]
    (statement,) = policy_statements_of_role(public.template, role_id)
    assert (actions_of(statement), statement["Resource"]) == (set(XRAY_WRITE_ACTIONS), "*")
    assert "RuntimeEnvironmentSecrets" not in image_configuration(public)


def test_service_waits_for_the_policies_of_its_roles(private: Case) -> None:
    service_id, service = only(private.template, "AWS::AppRunner::Service")
    policies = {
        policy_id
        for policy_id, policy in resources(private.template, "AWS::IAM::Policy").items()
        for role in policy["Properties"]["Roles"]
        if role
        in (
            ref(role_of(private, "tasks.apprunner.amazonaws.com")),
            ref(role_of(private, "build.apprunner.amazonaws.com")),
        )
    }
    assert len(policies) == 2
    assert policies <= set(service["DependsOn"]), service_id
