"""Operator access through Systems Manager (cdk_constructs/operator_access.py): the forwarding
target in the data stack, the shells, and the operators' policies in the ops stack, on dev's
stacks up to OPS and on two variants of it: a proxy and a container shell (Fargate), and the EC2
runtime with its instance shells.

AWS rules relied on (each also cited where the code relies on it):
- Session Manager: a session document named in StartSession is checked against the caller's
  policy; ``ssm:SessionDocumentAccessCheck`` makes the default shell document checked too; tag
  conditions ``ssm:resourceTag/<key>`` on instances; ``kms:GenerateDataKey`` for the user of a
  KMS-encrypted session, ``kms:Decrypt`` for its target
  (https://docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-restrict-access-quickstart.html,
  .../getting-started-restrict-access-examples.html: ``aws:ssmmessages:session-id`` =
  ``${aws:userid}`` for sessions of federated and role callers).
- ECS Exec (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-exec.html): the
  task role's ssmmessages actions on ``*``, ``kms:Decrypt`` on the key, the logs actions on the
  group; the caller's ``kms:GenerateDataKey``; ``ecs:ExecuteCommand`` and ``ecs:DescribeTasks``
  on ``task/<cluster>/*``; no read-only root filesystem.
- ``ec2:DescribeInstances`` and ``ssm:DescribeInstanceInformation`` take no resource-level
  permission (Service Authorization Reference), so ``*``.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cdk_constructs.data_engine.choices import EngineFamily
from cdk_constructs.operator_access import (
    PORT_FORWARD_DOCUMENT,
    SHELL_CONTAINER,
    enable_shell,
    idle_stop_script,
    idle_stop_user_data,
    shell_document_name,
    shell_target,
)
from cdk_constructs.options import OPERATOR_ACCESS_TAG, WebRuntime
from cdk_constructs.web_runtime.ec2 import INSTANCE_TAG as EC2_INSTANCE_TAG
from cdk_constructs.web_runtime.ec2_boot import CONTAINER_NAME as EC2_CONTAINER
from cdk_constructs.web_runtime.fargate_task import CONTAINER_NAME as FARGATE_CONTAINER
from operator_access import contract
from stacks import platform_stage
from stacks.config import APP_CONFIG, ConfigError, EnvironmentConfig
from stacks.data_stack import READONLY_DB_USER
from stacks.platform_stage import PlatformStage
from stacks.web_stack import WebStack
from tests.synth import CfnTemplate, Synthesized, Tier, synth_variant_tiers
from tests.template_queries import get_att, imported, only, ref, resources, security_group_rules

DEV = APP_CONFIG.environment("dev")
PREFIX = f"{APP_CONFIG.app_name}-{DEV.name}"
ACCOUNT, REGION = DEV.account, DEV.region
INSTANCES = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*"
AL2023_ARM64 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
SSH = 22
Templates = dict[Tier, CfnTemplate]


def shell_wanted(env: EnvironmentConfig) -> bool:
    """What the web stack's wiring asks of config (the lead's edit of stacks/web_stack.py)."""
    access = env.operator_access
    return access.enabled and (access.container_shell or env.web.runtime is WebRuntime.EC2)


class WiredWebStack(WebStack):
    """The web stack with the shell wiring applied, as stacks/web_stack.py applies it (a no-op
    where that file already did)."""

    def __init__(self, stage: PlatformStage, **kwargs: Any) -> None:
        super().__init__(stage, **kwargs)
        access = stage.data.operator_access
        wired = shell_target(self.runtime) is not None
        if access is not None and shell_wanted(stage.env_config) and not wired:
            enable_shell(self.runtime, key=kwargs["key"], log_group=access.log_group)


def synth(env: EnvironmentConfig, *, nag: bool = False) -> Templates:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(platform_stage, "WebStack", WiredWebStack)
        return synth_variant_tiers(env, Tier.OPS, nag=nag)


@pytest.fixture(scope="module")
def dev() -> Templates:
    """dev as shipped: Fargate without a container shell, no proxy."""
    return synth(DEV)


@pytest.fixture(scope="module")
def proxied() -> Templates:
    """dev with RDS Proxy and ECS Exec into the web container, checked by cdk-nag."""
    env = replace(
        DEV,
        database=replace(DEV.database, proxy=True, min_capacity=0.5),
        operator_access=replace(DEV.operator_access, container_shell=True),
    )
    return synth(env, nag=True)


@pytest.fixture(scope="module")
def on_ec2() -> Templates:
    """dev on the EC2 runtime, whose instances take shells, checked by cdk-nag."""
    return synth(replace(DEV, web=replace(DEV.web, runtime=WebRuntime.EC2, spot=False)), nag=True)


def access_instance(data: CfnTemplate) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, instance)
        for logical_id, instance in resources(data, "AWS::EC2::Instance").items()
        if {"Key": OPERATOR_ACCESS_TAG, "Value": PREFIX} in instance["Properties"]["Tags"]
    ]
    return found


def access_group(data: CfnTemplate) -> str:
    _, instance = access_instance(data)
    (group,) = instance["Properties"]["SecurityGroupIds"]
    logical_id: str = group["Fn::GetAtt"][0]
    return logical_id


def operators(ops: CfnTemplate, name: str = "operators") -> list[dict[str, Any]]:
    (policy,) = [
        policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in resources(ops, "AWS::IAM::ManagedPolicy").values()
        if policy["Properties"]["ManagedPolicyName"] == f"{PREFIX}-{name}"
    ]
    statements: list[dict[str, Any]] = policy
    return statements


def by_sid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {statement["Sid"]: statement for statement in statements}
    assert len(found) == len(statements)
    return found


# --- the forwarding target -----------------------------------------------------------------------


def test_the_access_instance_is_a_stopped_when_idle_graviton_without_key_or_address(
    dev: Templates,
) -> None:
    data, network = dev[Tier.DATA], dev[Tier.NETWORK]
    _, instance = access_instance(data)
    props = instance["Properties"]
    assert props["InstanceType"] == "t4g.nano"
    assert props["MetadataOptions"] == {"HttpTokens": "required"}
    assert props["BlockDeviceMappings"] == [
        {
            "DeviceName": "/dev/xvda",
            "Ebs": {
                "DeleteOnTermination": True,
                "Encrypted": True,
                "VolumeSize": 8,
                "VolumeType": "gp3",
            },
        }
    ]
    assert props["InstanceInitiatedShutdownBehavior"] == "stop"
    assert props["CreditSpecification"] == {"CPUCredits": "standard"}
    assert "KeyName" not in props
    assert "NetworkInterfaces" not in props  # no AssociatePublicIpAddress: the subnet decides
    # The AMI: AWS's public parameter, read by CloudFormation at deploy time, not at synth.
    parameter = data["Parameters"][props["ImageId"]["Ref"]]
    assert parameter == {
        "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
        "Default": AL2023_ARM64,
    }
    # In an app subnet (private, no public IPs), in the writer's AZ.
    subnet = imported(props["SubnetId"], network)
    subnet_id = subnet["Ref"]
    subnet_props = network["Resources"][subnet_id]["Properties"]
    assert {"Key": "aws-cdk:subnet-name", "Value": "app"} in subnet_props["Tags"]
    assert subnet_props["MapPublicIpOnLaunch"] is False
    assert (
        props["AvailabilityZone"] == DEV.availability_zones[0] == subnet_props["AvailabilityZone"]
    )


def test_the_access_instance_role_holds_the_ssm_core_policy_only(dev: Templates) -> None:
    data = dev[Tier.DATA]
    _, instance = access_instance(data)
    profile = data["Resources"][instance["Properties"]["IamInstanceProfile"]["Ref"]]
    (role_ref,) = profile["Properties"]["Roles"]
    role_id = role_ref["Ref"]
    role = data["Resources"][role_id]["Properties"]
    assert role["ManagedPolicyArns"] == [
        {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":iam::aws:policy/AmazonSSMManagedInstanceCore",
                ],
            ]
        }
    ]
    assert "Policies" not in role
    assert not [
        policy
        for policy in resources(data, "AWS::IAM::Policy").values()
        if ref(role_id) in policy["Properties"].get("Roles", [])
    ]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
        }
    ]


def test_the_access_instance_admits_nothing_and_sends_https_and_the_database_port(
    dev: Templates,
) -> None:
    data = dev[Tier.DATA]
    group = access_group(data)
    assert security_group_rules(data, group, "ingress") == []
    egress = security_group_rules(data, group, "egress")
    assert sorted((rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) for rule in egress) == [
        ("tcp", 443, 443),
        ("tcp", 5432, 5432),
    ]
    (https,) = [rule for rule in egress if rule["FromPort"] == 443]
    assert https["CidrIp"] == "0.0.0.0/0"  # Systems Manager's public endpoints, through the NAT
    (database,) = [rule for rule in egress if rule["FromPort"] == 5432]
    (db_group,) = [
        logical_id
        for logical_id in resources(data, "AWS::EC2::SecurityGroup")
        if logical_id.startswith("DatabaseSecurityGroup")
    ]
    assert database["DestinationSecurityGroupId"] == get_att(db_group, "GroupId")


def test_the_database_admits_the_access_instance_on_its_port(dev: Templates) -> None:
    """Without a proxy the client endpoint is the database itself: one rule serves both paths."""
    data = dev[Tier.DATA]
    group = access_group(data)
    (db_group,) = [
        logical_id
        for logical_id in resources(data, "AWS::EC2::SecurityGroup")
        if logical_id.startswith("DatabaseSecurityGroup")
    ]
    admitted = [
        rule
        for rule in security_group_rules(data, db_group, "ingress")
        if rule.get("SourceSecurityGroupId") == get_att(group, "GroupId")
    ]
    assert [(rule["FromPort"], rule["ToPort"]) for rule in admitted] == [(5432, 5432)]


def test_with_a_proxy_the_tunnel_reaches_the_proxy_and_the_writer(proxied: Templates) -> None:
    """The read-only login goes through the proxy (the client endpoint), the admin's straight
    to the writer; the proxy may log in as app_readonly (end-to-end IAM)."""
    data = proxied[Tier.DATA]
    group = get_att(access_group(data), "GroupId")
    groups = resources(data, "AWS::EC2::SecurityGroup")
    (proxy_group,) = [g for g in groups if g.startswith("DatabaseProxySecurityGroup")]
    (db_group,) = [g for g in groups if g.startswith("DatabaseSecurityGroup")]
    for target in (proxy_group, db_group):
        admitted = [
            (rule["FromPort"], rule["ToPort"])
            for rule in security_group_rules(data, target, "ingress")
            if rule.get("SourceSecurityGroupId") == group
        ]
        assert admitted == [(5432, 5432)], target
    proxy_logins = json.dumps(
        [
            statement
            for policy in resources(data, "AWS::IAM::Policy").values()
            if any("DatabaseProxyRole" in role["Ref"] for role in policy["Properties"]["Roles"])
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]
    )
    assert f"/{READONLY_DB_USER}" in proxy_logins


def test_no_security_group_anywhere_admits_ssh(dev: Templates, on_ec2: Templates) -> None:
    """No rule admits port 22, but the NAT instance's (dev's nat_mode): it forwards the VPC's
    traffic to any port, so it admits every protocol from the VPC's CIDR, and a security group
    has no deny. It has no key pair; nothing outside the VPC reaches it."""
    for templates in (dev, on_ec2):
        for tier, template in templates.items():
            for group in resources(template, "AWS::EC2::SecurityGroup"):
                for rule in security_group_rules(template, group, "ingress"):
                    protocol = str(rule["IpProtocol"])
                    covers = protocol == "-1" or (
                        protocol in ("tcp", "6")
                        and int(rule.get("FromPort", 0)) <= SSH <= int(rule.get("ToPort", 65535))
                    )
                    nat_forwarding = (
                        tier is Tier.NETWORK
                        and group.startswith("NetworkVpcNatSecurityGroup")
                        and protocol == "-1"
                        and rule.get("CidrIp") == DEV.network.vpc_cidr
                    )
                    assert not covers or nat_forwarding, (tier, group, rule)


def test_the_instance_stops_itself_when_idle(dev: Templates) -> None:
    _, instance = access_instance(dev[Tier.DATA])
    user_data = instance["Properties"]["UserData"]["Fn::Base64"]
    assert user_data == "#!/bin/bash\n" + "\n".join(idle_stop_user_data(30))
    assert "systemctl enable --now operator-access-idle-stop.timer" in user_data
    assert "-ge 1800 ]" in user_data


# The idle check itself, run by bash with pgrep, shutdown and logger replaced.


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {
        "pgrep": 'exec test -e "$SANDBOX/session"',
        "shutdown": 'echo "$@" >> "$SANDBOX/shutdown"',
        "logger": "true",
    }.items():
        program = bin_dir / name
        program.write_text(f"#!/bin/bash\n{body}\n")
        program.chmod(0o755)
    script = idle_stop_script(30).replace("/run/operator-access", str(tmp_path / "run"))
    (tmp_path / "idle-stop").write_text(script)
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SANDBOX": str(tmp_path),
    }
    return tmp_path, environment


def run_check(tmp_path: Path, environment: dict[str, str]) -> None:
    subprocess.run(["bash", str(tmp_path / "idle-stop")], env=environment, check=True)


def stamp_age(tmp_path: Path, minutes: int) -> None:
    stamp = tmp_path / "run" / "last-session"
    moment = stamp.stat().st_mtime - minutes * 60
    os.utime(stamp, (moment, moment))


def test_the_idle_check_stops_only_after_the_idle_period_without_a_session(
    sandbox: tuple[Path, dict[str, str]],
) -> None:
    tmp_path, environment = sandbox
    run_check(tmp_path, environment)  # just booted: the period starts
    assert (tmp_path / "run" / "last-session").exists()
    stamp_age(tmp_path, 29)
    run_check(tmp_path, environment)
    assert not (tmp_path / "shutdown").exists()
    (tmp_path / "session").touch()  # a session runs: the period starts again
    stamp_age(tmp_path, 29)
    run_check(tmp_path, environment)
    stamp_age(tmp_path, 29)
    run_check(tmp_path, environment)
    assert not (tmp_path / "shutdown").exists()
    (tmp_path / "session").unlink()
    stamp_age(tmp_path, 30)
    run_check(tmp_path, environment)
    assert (tmp_path / "shutdown").read_text() == "-h now\n"


# --- the session log group, the shell document ---------------------------------------------------


def test_sessions_are_logged_to_a_group_encrypted_with_the_environment_key(dev: Templates) -> None:
    data, network = dev[Tier.DATA], dev[Tier.NETWORK]
    (group,) = [
        group["Properties"]
        for group in resources(data, "AWS::Logs::LogGroup").values()
        if group["Properties"].get("LogGroupName")
        == f"/{APP_CONFIG.app_name}/dev/operator-sessions"
    ]
    (key_id,) = resources(network, "AWS::KMS::Key")
    assert imported(group["KmsKeyId"], network) == get_att(key_id, "Arn")
    assert group["RetentionInDays"] == DEV.log_retention_days


def test_the_shell_document_encrypts_logs_and_times_out(dev: Templates) -> None:
    data, network = dev[Tier.DATA], dev[Tier.NETWORK]
    _, document = only(data, "AWS::SSM::Document")
    props = document["Properties"]
    assert (props["Name"], props["DocumentType"], props["UpdateMethod"]) == (
        f"{PREFIX}-shell",
        "Session",
        "NewVersion",
    )
    content = props["Content"]
    assert content["sessionType"] == "Standard_Stream"
    inputs = content["inputs"]
    (key_id,) = resources(network, "AWS::KMS::Key")
    assert imported(inputs.pop("kmsKeyId"), network) == get_att(key_id, "Arn")
    (group_id,) = [
        logical_id
        for logical_id in resources(data, "AWS::Logs::LogGroup")
        if logical_id.startswith("OperatorAccessSessionLogGroup")
    ]
    assert inputs == {
        "s3BucketName": "",
        "s3KeyPrefix": "",
        "s3EncryptionEnabled": True,
        "cloudWatchLogGroupName": ref(group_id),
        "cloudWatchEncryptionEnabled": True,
        "cloudWatchStreamingEnabled": True,
        "runAsEnabled": False,
        "runAsDefaultUser": "",
        "idleSessionTimeout": "20",
        "shellProfile": {"windows": "", "linux": "exec sudo docker exec -it web /bin/sh"},
    }


def test_the_data_stack_outputs_what_the_tunnel_reads(dev: Templates) -> None:
    outputs = dev[Tier.DATA]["Outputs"]
    instance_id, _ = access_instance(dev[Tier.DATA])
    assert outputs["AccessInstanceId"]["Value"] == ref(instance_id)
    assert outputs["DatabasePort"]["Value"] == "5432"
    assert outputs["DatabaseEngineFamily"]["Value"] == "postgresql"
    assert outputs["DatabaseName"]["Value"] == "app"
    assert outputs["DatabaseReadonlyUser"]["Value"] == READONLY_DB_USER
    (cluster,) = resources(dev[Tier.DATA], "AWS::RDS::DBCluster")
    assert outputs["DatabaseAdminEndpoint"]["Value"] == get_att(cluster, "Endpoint.Address")


# --- the operators' policies ---------------------------------------------------------------------


def tunnel_statements(data: CfnTemplate, connect: Any) -> list[dict[str, Any]]:
    """What every environment's operators policy starts with."""
    stacks = [f"{PREFIX}-{tier}" for tier in ("network", "data", "api", "web", "ops")]
    return [
        {
            "Sid": "TunnelTarget",
            "Effect": "Allow",
            "Action": "ssm:StartSession",
            "Resource": INSTANCES,
            "Condition": {
                "StringEquals": {f"ssm:resourceTag/{OPERATOR_ACCESS_TAG}": PREFIX},
                "BoolIfExists": {"ssm:SessionDocumentAccessCheck": "true"},
            },
        },
        {
            "Sid": "TunnelDocument",
            "Effect": "Allow",
            "Action": "ssm:StartSession",
            "Resource": f"arn:aws:ssm:{REGION}:*:document/{PORT_FORWARD_DOCUMENT}",
        },
        {
            "Sid": "WakeTunnelTarget",
            "Effect": "Allow",
            "Action": "ec2:StartInstances",
            "Resource": INSTANCES,
            "Condition": {"StringEquals": {f"aws:ResourceTag/{OPERATOR_ACCESS_TAG}": PREFIX}},
        },
        {
            "Sid": "FindTargets",
            "Effect": "Allow",
            "Action": ["ec2:DescribeInstances", "ssm:DescribeInstanceInformation"],
            "Resource": "*",
        },
        {
            "Sid": "OwnSessions",
            "Effect": "Allow",
            "Action": ["ssm:ResumeSession", "ssm:TerminateSession"],
            "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:session/*",
            "Condition": {
                "StringEquals": {"ssm:resourceTag/aws:ssmmessages:session-id": "${aws:userid}"}
            },
        },
        {
            "Sid": "ReadonlyLogin",
            "Effect": "Allow",
            "Action": "rds-db:connect",
            "Resource": connect,
        },
        {
            "Sid": "StackOutputs",
            "Effect": "Allow",
            "Action": "cloudformation:DescribeStacks",
            "Resource": sorted(
                f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/*" for name in stacks
            ),
        },
    ]


def connect_arn(resource_id: Any) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [f"arn:aws:rds-db:{REGION}:{ACCOUNT}:dbuser:", resource_id, f"/{READONLY_DB_USER}"],
        ]
    }


def test_the_operators_policy_allows_exactly_the_tunnel_without_a_shell(dev: Templates) -> None:
    """dev as shipped has no container shell: the tunnel's statements and nothing else."""
    data, ops = dev[Tier.DATA], dev[Tier.OPS]
    statements = operators(ops)
    (cluster,) = resources(data, "AWS::RDS::DBCluster")
    connect = by_sid(statements)["ReadonlyLogin"]["Resource"]
    resource_id = connect["Fn::Join"][1][1]
    assert imported(resource_id, data) == get_att(cluster, "DBClusterResourceId")
    assert statements == tunnel_statements(data, connect_arn(resource_id))
    outputs = ops["Outputs"]
    (policy_id,) = [
        logical_id
        for logical_id, policy in resources(ops, "AWS::IAM::ManagedPolicy").items()
        if policy["Properties"]["ManagedPolicyName"] == f"{PREFIX}-operators"
    ]
    assert outputs["OperatorsPolicyArn"]["Value"] == ref(policy_id)


def test_the_db_admins_policy_reads_the_master_secret_only(dev: Templates) -> None:
    data, ops = dev[Tier.DATA], dev[Tier.OPS]
    statements = operators(ops, "db-admins")
    secret, key = (
        by_sid(statements)[sid]["Resource"] for sid in ("MasterSecret", "MasterSecretKey")
    )
    (attachment,) = resources(data, "AWS::SecretsManager::SecretTargetAttachment")
    (key_id,) = [k for k in resources(data, "AWS::KMS::Key") if k.startswith("DatabaseKey")]
    assert imported(secret, data) == ref(attachment)  # its Ref is the secret's ARN
    assert imported(key, data) == get_att(key_id, "Arn")
    assert statements == [
        {
            "Sid": "MasterSecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": secret,
        },
        {
            "Sid": "MasterSecretKey",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": key,
            "Condition": {
                "StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
            },
        },
    ]
    assert "DatabaseAdminsPolicyArn" in ops["Outputs"]


def test_with_a_container_shell_the_operators_may_exec_into_the_web_container(
    proxied: Templates,
) -> None:
    data, network, ops = proxied[Tier.DATA], proxied[Tier.NETWORK], proxied[Tier.OPS]
    statements = operators(ops)
    connect = by_sid(statements)["ReadonlyLogin"]["Resource"]
    resource_id = connect["Fn::Join"][1][1]
    # The proxy's id, as IAM names it, read whole from the data stack's output named after it.
    (proxy,) = resources(data, "AWS::RDS::DBProxy")
    assert resource_id["Fn::GetStackOutput"]["OutputName"] == f"{proxy}ResourceId"
    (key_id,) = resources(network, "AWS::KMS::Key")
    cluster = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{PREFIX}-web"
    tasks = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{PREFIX}-web/*"
    shell = statements[len(tunnel_statements(data, connect)) :]
    key = shell[-1]["Resource"]
    assert imported(key, network) == get_att(key_id, "Arn")
    assert statements[: -len(shell)] == tunnel_statements(data, connect)
    assert shell == [
        {
            "Sid": "ContainerShell",
            "Effect": "Allow",
            "Action": "ecs:ExecuteCommand",
            "Resource": [cluster, tasks],
            "Condition": {"StringEquals": {"ecs:container-name": "web"}},
        },
        {"Sid": "FindTasks", "Effect": "Allow", "Action": "ecs:DescribeTasks", "Resource": tasks},
        {
            "Sid": "ListTasks",
            "Effect": "Allow",
            "Action": "ecs:ListTasks",
            "Resource": "*",
            "Condition": {"ArnEquals": {"ecs:cluster": cluster}},
        },
        {"Sid": "ShellKey", "Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": key},
    ]


def test_ecs_exec_is_on_encrypted_and_logged_and_the_container_is_writable(
    proxied: Templates,
) -> None:
    data, network, web = proxied[Tier.DATA], proxied[Tier.NETWORK], proxied[Tier.WEB]
    (key_id,) = resources(network, "AWS::KMS::Key")
    _, cluster = only(web, "AWS::ECS::Cluster")
    config = cluster["Properties"]["Configuration"]["ExecuteCommandConfiguration"]
    assert imported(config.pop("KmsKeyId"), network) == get_att(key_id, "Arn")
    group_name = imported(config["LogConfiguration"].pop("CloudWatchLogGroupName"), data)
    assert data["Resources"][group_name["Ref"]]["Properties"]["LogGroupName"].endswith(
        "/operator-sessions"
    )
    assert config == {
        "Logging": "OVERRIDE",
        "LogConfiguration": {"CloudWatchEncryptionEnabled": True},
    }
    _, service = only(web, "AWS::ECS::Service")
    assert service["Properties"]["EnableExecuteCommand"] is True
    _, task = only(web, "AWS::ECS::TaskDefinition")
    (container,) = [c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == "web"]
    assert container["ReadonlyRootFilesystem"] is False  # ECS Exec's agent writes to it
    assert container["LinuxParameters"]["InitProcessEnabled"] is True
    task_role = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in resources(web, "AWS::IAM::Policy").values()
        if ref(task_role) in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {
        action
        for statement in statements
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert {
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "kms:Decrypt",
        "logs:DescribeLogGroups",
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    } <= actions


def test_on_ec2_the_operators_may_open_the_shell_document_on_the_web_instances(
    on_ec2: Templates,
) -> None:
    data, network, ops = on_ec2[Tier.DATA], on_ec2[Tier.NETWORK], on_ec2[Tier.OPS]
    statements = operators(ops)
    connect = by_sid(statements)["ReadonlyLogin"]["Resource"]
    shell = statements[len(tunnel_statements(data, connect)) :]
    key = shell[-1]["Resource"]
    (key_id,) = resources(network, "AWS::KMS::Key")
    assert imported(key, network) == get_att(key_id, "Arn")
    assert shell == [
        {
            "Sid": "ShellTargets",
            "Effect": "Allow",
            "Action": "ssm:StartSession",
            "Resource": INSTANCES,
            "Condition": {
                "StringEquals": {"ssm:resourceTag/platform:web": f"{PREFIX}-web"},
                "BoolIfExists": {"ssm:SessionDocumentAccessCheck": "true"},
            },
        },
        {
            "Sid": "ShellDocument",
            "Effect": "Allow",
            "Action": "ssm:StartSession",
            "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:document/{PREFIX}-shell",
        },
        {"Sid": "ShellKey", "Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": key},
    ]
    web = on_ec2[Tier.WEB]
    _, group = only(web, "AWS::AutoScaling::AutoScalingGroup")
    assert {"Key": "platform:web", "PropagateAtLaunch": True, "Value": f"{PREFIX}-web"} in group[
        "Properties"
    ]["Tags"]


# --- config --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"container_shell": True, "enabled": False}, r"operator_access\.container_shell"),
        ({"idle_stop_minutes": 5}, r"operator_access\.idle_stop_minutes"),
    ],
)
def test_operator_access_config_is_checked(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        replace(DEV, operator_access=replace(DEV.operator_access, **changes))


def test_a_container_shell_is_refused_off_fargate() -> None:
    with pytest.raises(ConfigError, match=r"operator_access\.container_shell"):
        replace(
            DEV,
            web=replace(DEV.web, runtime=WebRuntime.EC2, spot=False),
            operator_access=replace(DEV.operator_access, container_shell=True),
        )


# --- the commands' contract (operator_access/contract.py, which imports no CDK) -----------------

CONTRACT_OUTPUT_TIERS: dict[str, Tier] = {
    **dict.fromkeys(contract.DATA_OUTPUTS, Tier.DATA),
    contract.OPERATORS_POLICY_OUTPUT: Tier.OPS,
    contract.DB_ADMINS_POLICY_OUTPUT: Tier.OPS,
    contract.SERVICE_OUTPUT: Tier.WEB,
}
"""Each output the contract names, and the stack its commands (or the permission sets) read it
from."""


def contract_outputs() -> set[str]:
    """Every output name ``operator_access/contract.py`` declares (its ``*_OUTPUT`` constants)."""
    return {
        value
        for name, value in vars(contract).items()
        if name.endswith("_OUTPUT") and isinstance(value, str)
    }


def test_the_contract_s_instance_tag_is_the_ec2_runtime_s() -> None:
    assert contract.INSTANCE_TAG == EC2_INSTANCE_TAG


def test_the_contract_names_the_stacks_container_and_documents_the_stacks_build() -> None:
    assert [Tier(contract.DATA_TIER), Tier(contract.WEB_TIER)] == [Tier.DATA, Tier.WEB]
    assert contract.WEB_CONTAINER == FARGATE_CONTAINER == EC2_CONTAINER == SHELL_CONTAINER
    assert contract.PORT_FORWARD_DOCUMENT == PORT_FORWARD_DOCUMENT
    assert contract.shell_document(APP_CONFIG, DEV) == shell_document_name(PREFIX)
    assert set(contract.FAMILIES) == {family.value for family in EngineFamily}


def test_every_output_of_the_contract_is_in_dev_s_synthesized_stacks(
    synthesized: Synthesized,
) -> None:
    """dev as ``make synth`` builds it: each output the commands read is where they read it."""
    assert contract_outputs() == set(CONTRACT_OUTPUT_TIERS)  # a new output needs its tier here
    dev = synthesized.envs[DEV.name]
    missing = {
        name: tier.value
        for name, tier in CONTRACT_OUTPUT_TIERS.items()
        if name not in dev.template(tier).get("Outputs", {})
    }
    assert missing == {}
