"""The environment key: every log group of an environment is encrypted with it, and its policy
lets CloudWatch Logs use it for that environment's log groups only.

CloudWatch Logs passes the group's ARN as encryption context, so the key policy admits groups
by name ("Encrypt log data in CloudWatch Logs using AWS KMS",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html). A group
whose name no pattern admits fails to create (or to associate the key) at deploy time, which
synth cannot see: so each group's name, as deployed, is matched here against the patterns.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import replace
from typing import Any

from stacks.config import APP_CONFIG, EnvironmentConfig
from stacks.config.names import API_EXECUTION_LOG_GROUPS
from tests.synth import Synthesized, SynthesizedEnv, Tier, synth_variant_tiers
from tests.template_queries import get_att, imported, only, resources
from tests.test_data_helpers import data_env as data_env
from tests.test_log_retention import sdk_call

API_ID = "a1b2c3d4e5"
"""What API Gateway's id looks like: ten lowercase letters and digits."""
ACCOUNT_WIDE_GROUPS = ("/aws/apigateway/welcome",)
"""Not the environment's: shared by every API of the account (EXCEPTIONS.md)."""


def deployed_name(name: Any) -> str:
    """A log group name as it will exist: a reference inside it (the API's id) as a real id."""
    if isinstance(name, str):
        return name
    parts = name["Fn::Join"][1]
    assert all(isinstance(p, str) or p == {"Ref": p.get("Ref")} for p in parts), name
    return "".join(part if isinstance(part, str) else API_ID for part in parts)


def environment_key_arn(env: SynthesizedEnv) -> dict[str, Any]:
    key_id, _ = only(env.network_json, "AWS::KMS::Key")
    return get_att(key_id, "Arn")


def is_environment_key(value: Any, env: SynthesizedEnv) -> bool:
    if isinstance(value, dict) and "Fn::GetStackOutput" in value:
        value = imported(value, env.network_json)
    return bool(value == environment_key_arn(env))


def admitted_patterns(env: SynthesizedEnv) -> list[str]:
    """The log group ARNs (with wildcards) the key lets CloudWatch Logs use it for."""
    _, key = only(env.network_json, "AWS::KMS::Key")
    (statement,) = (
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": f"logs.{env.config.region}.amazonaws.com"}
    )
    assert statement["Resource"] == "*"
    assert set(statement["Condition"]) == {"ArnLike"}
    patterns: list[str] = statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    return patterns


def is_admitted(name: str, env: SynthesizedEnv, patterns: list[str]) -> bool:
    arn = f"arn:aws:logs:{env.config.region}:{env.config.account}:log-group:{name}"
    return any(fnmatch.fnmatchcase(arn, pattern) for pattern in patterns)


def declared_groups(env: SynthesizedEnv) -> dict[str, dict[str, Any]]:
    """Deployed name -> properties of every log group the environment's templates declare."""
    return {
        deployed_name(group["Properties"]["LogGroupName"]): group["Properties"]
        for tier in Tier
        for group in resources(env.template(tier), "AWS::Logs::LogGroup").values()
    }


def service_made_groups(env: SynthesizedEnv) -> dict[str, Any]:
    """Name -> the key associated by ImplicitLogGroup with each group a service makes itself
    (None where no key is associated)."""
    made: dict[str, Any] = {}
    keys: dict[str, Any] = {}
    for tier in Tier:
        for custom in resources(env.template(tier), "Custom::AWS").values():
            call = sdk_call(custom["Properties"]["Create"])
            name = call["parameters"]["logGroupName"]
            if call["action"] == "createLogGroup":
                made.setdefault(name, None)
            elif call["action"] == "associateKmsKey":
                keys[name] = custom["Properties"]["Create"]
    return {name: keys.get(name) for name in made}


def test_every_declared_log_group_has_a_name_the_key_admits_and_the_key(
    data_env: SynthesizedEnv,
) -> None:
    """Every environment, whatever its shape and engine (``/aws/rds/cluster/...`` for Aurora,
    ``/aws/rds/instance/...`` for a DB instance, ``/aws/rds/proxy/...``)."""
    env = data_env
    patterns = admitted_patterns(env)
    groups = declared_groups(env)
    declared = sum(len(resources(env.template(t), "AWS::Logs::LogGroup")) for t in Tier)
    assert len(groups) == declared >= 10  # names are unique: no two groups clash
    for name, properties in groups.items():
        assert is_admitted(name, env, patterns), name
        assert is_environment_key(properties.get("KmsKeyId"), env), name


def test_groups_services_make_get_the_key_by_association(env: SynthesizedEnv) -> None:
    """The canary's (and App Runner's) groups exist only once the service runs: the key is
    associated with them after their creation, whoever made them first."""
    patterns = admitted_patterns(env)
    made = service_made_groups(env)
    assert any(name.startswith("/aws/lambda/cwsyn-") for name in made)
    for name, association in made.items():
        if name.startswith(ACCOUNT_WIDE_GROUPS):
            assert association is None, name
            continue
        assert association is not None, name
        assert is_admitted(deployed_name(name), env, patterns), name
        text = json.dumps(association)
        network_output = env.network_json["Outputs"]
        assert any(output in text for output in network_output), name


def test_the_key_admits_no_group_of_another_environment(synthesized: Synthesized) -> None:
    """Environments may share an account: each key admits its own groups, and none of another
    environment's, except the execution logs of API Gateway (EXCEPTIONS.md)."""
    for env in synthesized.envs.values():
        patterns = admitted_patterns(env)
        assert all(":log-group:" in p and not p.endswith(":log-group:*") for p in patterns)
        for other in synthesized.envs.values():
            if other is env:
                continue
            for name in declared_groups(other):
                shared = fnmatch.fnmatchcase(name, API_EXECUTION_LOG_GROUPS)
                assert shared or not is_admitted(name, env, patterns), (env.config.name, name)


def test_the_rotation_function_is_named_so_its_log_group_is_known(env: SynthesizedEnv) -> None:
    applications = resources(env.data_json, "AWS::Serverless::Application")
    if not env.config.retain_data:
        assert applications == {}
        return
    (application,) = applications.values()
    name = application["Properties"]["Parameters"]["functionName"]
    assert name == f"{APP_CONFIG.app_name}-{env.config.name}-db-rotation"
    assert f"/aws/lambda/{name}" in declared_groups(env)


def test_the_canary_artifacts_and_the_web_secrets_use_the_key(env: SynthesizedEnv) -> None:
    buckets = [
        bucket["Properties"]
        for logical_id, bucket in resources(env.web_json, "AWS::S3::Bucket").items()
        if logical_id.startswith("CanaryArtifacts")
    ]
    (bucket,) = buckets
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert is_environment_key(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"], env)
    for template in (env.api_json, env.web_json):
        for secret in resources(template, "AWS::SecretsManager::Secret").values():
            assert is_environment_key(secret["Properties"]["KmsKeyId"], env)


def without_log_encryption(config: EnvironmentConfig) -> EnvironmentConfig:
    return replace(config, security=replace(config.security, encrypt_logs=False))


def test_encrypt_logs_off_leaves_only_the_flow_logs_on_the_key() -> None:
    """The knob saves the KMS requests of every group but the flow logs and the operators'
    session logs, which always use the key (ECS Exec and Session Manager encrypt only to a
    KMS-encrypted group); the data tier's other groups then have CloudWatch Logs' own
    encryption."""
    templates = synth_variant_tiers(
        without_log_encryption(APP_CONFIG.environment("dev")), Tier.DATA
    )
    (flow_logs,) = [
        group["Properties"]
        for group in resources(templates[Tier.NETWORK], "AWS::Logs::LogGroup").values()
        if group["Properties"]["LogGroupName"].endswith("/vpc-flow-logs")
    ]
    key_id, _ = only(templates[Tier.NETWORK], "AWS::KMS::Key")
    assert flow_logs["KmsKeyId"] == get_att(key_id, "Arn")
    data_groups = resources(templates[Tier.DATA], "AWS::Logs::LogGroup").values()
    (sessions,) = [
        group["Properties"]
        for group in data_groups
        if group["Properties"].get("LogGroupName", "").endswith("/operator-sessions")
    ]
    assert imported(sessions["KmsKeyId"], templates[Tier.NETWORK]) == get_att(key_id, "Arn")
    others = [group for group in data_groups if group["Properties"] is not sessions]
    assert others
    assert all("KmsKeyId" not in group["Properties"] for group in others)
