"""Operator access through Systems Manager: no SSH, no key pair, no inbound port anywhere.

- **The forwarding target** (``OperatorAccess``, data stack): a ``t4g.nano`` in an app subnet
  whose security group admits nothing. ``make db-tunnel`` starts it, opens a Session Manager
  port forward through it (``AWS-StartPortForwardingSessionToRemoteHost``) to the database's
  client endpoint (the proxy where there is one) or its admin endpoint, and it stops itself once
  no session has run for ``idle_stop_minutes``. It reaches Systems Manager over HTTPS through
  the NAT (every app subnet has a default route out in every NAT mode), or through the ``ssm``,
  ``ssmmessages`` and ``ec2messages`` endpoints where config adds them.

  Why an instance and not a task reached through ECS Exec. Both need an inbound rule nowhere
  and both sit in the app subnets; the instance works with every web runtime as it is (App
  Runner, the static site and Express run no ECS task ECS Exec could enter), needs no ECS
  cluster, image, ``ecs:RunTask`` or ``iam:PassRole`` for the operators, and keeps one id, so
  one tag scopes who may start it. A task also cannot forward from the web containers: ECS Exec
  needs a writable root filesystem, which they do not have. Costs (us-east-1): the instance
  stopped bills its 8 GiB gp3 root volume, 0.64 USD a month, and 0.0042 USD an hour running; an
  on-demand ARM Fargate task of 0.25 vCPU and 0.5 GB bills nothing stopped and 0.0099 USD an
  hour running: the task is cheaper below about 110 hours of tunnels a month, the instance
  above. At an operator's few hours a month either costs well under a dollar.

- **Its idle stop**, on the instance itself: a systemd timer checks every minute whether a
  Session Manager session process (``ssm-session-worker``, one per session, port forwards too)
  runs, and shuts the instance down (``shutdown -h now``; ``InstanceInitiatedShutdownBehavior``
  is ``stop``) when none has for ``idle_stop_minutes``, 30 by default: longer than Session
  Manager's default idle session timeout (20 minutes), so a session closed for idleness is
  followed by a stop 10 minutes later; short enough that a forgotten start costs 0.2 cents.
  CloudFormation cannot create an instance stopped: after a deploy (re)creates it, it runs until
  its first idle period ends. The clock starts at boot (``/run`` is empty after one), so a fresh
  start always has the full period to open its session.

- **Shell sessions**: the session document ``<app>-<env>-shell`` (Standard_Stream, encrypted
  with the environment key, streamed to the session log group, idle timeout 20 minutes) opens a
  shell in the ``web`` container of the EC2 runtime's instances; on ECS, ECS Exec
  (``enable_container_shell``) logs to the same group with the same key.

- **Who may** (``OperatorPolicies``, ops stack): ``<app>-<env>-operators`` and, for the master
  secret, ``<app>-<env>-db-admins``; see their docstrings.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, cast, runtime_checkable

from aws_cdk import Acknowledgment, RemovalPolicy, Stack, Tags, Token, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct, Node

from cdk_constructs.data_engine.interface import DataEngine
from cdk_constructs.nag import NIST, acknowledge, acknowledge_all, nag_text
from cdk_constructs.options import OPERATOR_ACCESS_TAG
from cdk_constructs.vpc_function import closed_security_group
from cdk_constructs.web_runtime.ec2 import INSTANCE_TAG as EC2_INSTANCE_TAG
from cdk_constructs.web_runtime.ec2_boot import CONTAINER_NAME as EC2_CONTAINER

ACCESS_INSTANCE_TYPE = "t4g.nano"
"""The smallest Graviton instance: a port forward needs next to no CPU or memory."""
AL2023_ARM64_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
"""AWS's public parameter of the latest AL2023 arm64 AMI with AL2023's default kernel ("the SSM
parameter does not include it in the name (i.e. .../al2023-ami-kernel-default-x86_64)":
aws-cdk-lib's ``AmazonLinux2023Kernel.DEFAULT``, whose ``latest_amazon_linux2023`` 2.275 reads
the kernel-6.1 one whatever it is given). A template parameter, so CloudFormation reads it at
each deploy and a new AMI replaces the instance ("By default, the newest image is used on each
deployment. This will cause instances to be replaced whenever a new version is released":
https://docs.aws.amazon.com/cdk/api/v2/python/aws_cdk.aws_ec2/AmazonLinux2023ImageSsmParameterProps.html).
AL2023's AMIs ship the SSM Agent, as the EC2 web runtime relies on too."""
ROOT_DEVICE = "/dev/xvda"
"""Root device name of the Amazon Linux 2023 AMIs."""
ROOT_VOLUME_GIB = 8
"""The AL2023 AMI's own root volume size (the least the volume may be)."""
SSM_CORE_POLICY = "AmazonSSMManagedInstanceCore"
"""AWS's policy for a managed node's SSM Agent (Session Manager's ssmmessages, ec2messages and
``ssm:UpdateInstanceInformation``)."""
SESSION_WORKER = "ssm-session-worker"
"""The SSM Agent's process for one session, shell or port forward (amazon-ssm-agent's
``appconfig.DefaultSessionWorker``: ``/usr/bin/ssm-session-worker <session id>``)."""
PORT_FORWARD_DOCUMENT = "AWS-StartPortForwardingSessionToRemoteHost"
"""AWS's document for a port forward through a managed node to another host. Session Manager
does not log port forwards ("Logging is not available for Session Manager sessions that connect
through port forwarding or SSH": .../session-manager-getting-started-enable-ssh-connections.html),
and the SSM Agent does not KMS-encrypt Port sessions (amazon-ssm-agent,
agent/session/plugins/sessionplugin/sessionplugin.go, ``isEncryptionEnabled``: ``kmsKeyId != ""
&& pluginName != PluginNamePort``): the tunnel is TLS only, and the operators need no key for it."""
SHELL_IDLE_TIMEOUT_MINUTES = 20
"""Session Manager's own default ("By default, sessions time out after 20 minutes of inactivity",
1 to 60 allowed: https://docs.aws.amazon.com/systems-manager/latest/userguide/session-preferences-timeout.html),
and ECS Exec's fixed idle timeout ("20 minutes. This value cannot be changed":
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-exec.html)."""
SHELL_CONTAINER = "web"
"""The web container: the Fargate task's (``fargate_task.CONTAINER_NAME``) and the EC2 runtime's
Docker container (``ec2_boot.CONTAINER_NAME``)."""
HTTPS_PORT = 443
KMS_SESSION_ACTIONS = ("kms:GenerateDataKey",)
"""What the user who starts an encrypted session needs of its key (Session Manager: "Quickstart
end user policies"; ECS Exec: "IAM permissions required for encryption using your own KMS
key")."""
SSMMESSAGES_ACTIONS = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)
"""What the ECS Exec agent in a task needs (ECS: "IAM permissions required for ECS Exec"); no
resource-level permission exists for them."""
SESSION_LOG_ACTIONS = ("logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents")


def shell_document_name(name: str) -> str:
    """``<app>-<env>-shell``."""
    return f"{name}-shell"


def idle_stop_script(idle_minutes: int) -> str:
    """The idle check, as root, every minute: ``shutdown -h now`` once no ``ssm-session-worker``
    has run for ``idle_minutes``. ``/run`` is a tmpfs, so the stamp starts afresh at each boot."""
    return textwrap.dedent(
        f"""\
        #!/bin/bash
        # Stops this instance (its InstanceInitiatedShutdownBehavior is stop) once no Session
        # Manager session has run for {idle_minutes} minutes.
        set -euo pipefail
        stamp=/run/operator-access/last-session
        mkdir -p /run/operator-access
        # pgrep -f: the kernel's process name is cut to 15 characters; the command line is not.
        if pgrep -f '(^|/){SESSION_WORKER}( |$)' >/dev/null || [ ! -e "$stamp" ]; then
            touch "$stamp"
            exit 0
        fi
        if [ $(( $(date +%s) - $(stat -c %Y "$stamp") )) -ge {idle_minutes * 60} ]; then
            logger -t operator-access "no session for {idle_minutes} minutes: stopping"
            shutdown -h now
        fi
        """
    )


IDLE_STOP_SCRIPT_PATH = "/usr/local/sbin/operator-access-idle-stop"
IDLE_STOP_SERVICE = textwrap.dedent(
    f"""\
    [Unit]
    Description=Stop the access instance when no Session Manager session has run for a while

    [Service]
    Type=oneshot
    ExecStart={IDLE_STOP_SCRIPT_PATH}
    """
)
IDLE_STOP_TIMER = textwrap.dedent(
    """\
    [Unit]
    Description=Check every minute whether the access instance is idle

    [Timer]
    OnBootSec=1min
    OnUnitActiveSec=1min
    AccuracySec=10s

    [Install]
    WantedBy=timers.target
    """
)


def idle_stop_user_data(idle_minutes: int) -> list[str]:
    """The user data's commands (after CDK's ``#!/bin/bash``): the script, its service and its
    timer, enabled, so every boot runs it (cloud-init runs user data on the first boot only)."""
    files = {
        IDLE_STOP_SCRIPT_PATH: idle_stop_script(idle_minutes),
        "/etc/systemd/system/operator-access-idle-stop.service": IDLE_STOP_SERVICE,
        "/etc/systemd/system/operator-access-idle-stop.timer": IDLE_STOP_TIMER,
    }
    commands = ["set -euo pipefail"]
    for path, text in files.items():
        commands.append(f"cat > {path} <<'OPERATOR_ACCESS_EOF'\n{text}OPERATOR_ACCESS_EOF")
    commands += [
        f"chmod 0755 {IDLE_STOP_SCRIPT_PATH}",
        "systemctl daemon-reload",
        "systemctl enable --now operator-access-idle-stop.timer",
    ]
    return commands


@dataclass(frozen=True, kw_only=True)
class OperatorAccessProps:
    """What the access instance, the session log group and the shell document are built from."""

    name: str
    """``<app>-<env>``: the tag value, the document's and the log group's names."""
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    """The app subnets (a route out through the NAT)."""
    availability_zone: str
    """Where the instance runs: the writer's AZ (no cross-AZ hop to the database)."""
    database: DataEngine
    readonly_user: str
    """The database user the tunnel's IAM login is (``app_readonly``)."""
    key: kms.IKey
    """The environment's key: session data and the session log group."""
    log_group_name: str
    """``/<app>/<env>/operator-sessions``: under the prefix the environment key admits."""
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy
    idle_stop_minutes: int


class OperatorAccess(Construct):
    """The forwarding target (see the module docstring), the session log group and the shell
    document. The database admits the instance at its client endpoint and at its admin endpoint;
    the instance's group admits nothing and sends HTTPS (Systems Manager) and the database port
    to the database only."""

    def __init__(self, scope: Construct, id_: str, *, props: OperatorAccessProps) -> None:
        super().__init__(scope, id_)
        self.name = props.name
        self.key = props.key
        self.tag = (OPERATOR_ACCESS_TAG, props.name)
        """The instance's tag: what the operators policy starts sessions on and starts."""
        self.readonly_user = props.readonly_user
        self.log_group = logs.LogGroup(
            self,
            "SessionLogGroup",
            log_group_name=props.log_group_name,
            # ECS Exec and Session Manager's cloudWatchEncryptionEnabled both require a group
            # encrypted with a customer managed key, whatever security.encrypt_logs says.
            encryption_key=props.key,
            retention=props.log_retention,
            removal_policy=props.removal_policy,
        )
        self.shell_document = self._shell_document(props)
        self.security_group = closed_security_group(
            self,
            "SecurityGroup",
            vpc=props.vpc,
            description=f"{props.name} access instance: admits nothing; HTTPS and the database out",
        )
        # Session Manager's endpoints are public (through the NAT) unless the VPC has the ssm,
        # ssmmessages and ec2messages interface endpoints: only a CIDR rule covers both.
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(),
            ec2.Port.tcp(HTTPS_PORT),
            "HTTPS to Systems Manager (through the NAT or its endpoints)",
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description=f"{props.name} access instance: the SSM Agent only",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(SSM_CORE_POLICY)],
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM4",
            "AWS's policy for a managed node's SSM Agent, all this instance runs; AWS keeps it "
            "in step with the agent. It grants no data access (no S3, no secret, no database).",
            applies_to=f"Policy::arn:<AWS::Partition>:iam::aws:policy/{SSM_CORE_POLICY}",
        )
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(*idle_stop_user_data(props.idle_stop_minutes))
        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=props.vpc,
            vpc_subnets=props.subnets,
            availability_zone=props.availability_zone,
            instance_type=ec2.InstanceType(ACCESS_INSTANCE_TYPE),
            # The AL2023 arm64 AMI from AWS's public SSM parameter, read by CloudFormation at
            # deploy time (a template parameter), never looked up at synth.
            machine_image=ec2.MachineImage.from_ssm_parameter(
                AL2023_ARM64_PARAMETER, os=ec2.OperatingSystemType.LINUX
            ),
            role=self.role,
            security_group=self.security_group,
            # No public IP: the app subnets assign none (and an explicit False would move the
            # subnet into NetworkInterfaces, where the NIST pack's EC2InstancesInVPC looks not).
            http_tokens=ec2.HttpTokens.REQUIRED,
            block_devices=[
                ec2.BlockDevice(
                    device_name=ROOT_DEVICE,
                    volume=ec2.BlockDeviceVolume.ebs(
                        ROOT_VOLUME_GIB,
                        encrypted=True,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        delete_on_termination=True,
                    ),
                )
            ],
            instance_initiated_shutdown_behavior=ec2.InstanceInitiatedShutdownBehavior.STOP,
            # Standard credits: a runaway process is throttled, never billed as surplus credits.
            credit_specification=ec2.CpuCredits.STANDARD,
            ebs_optimized=True,
            user_data=user_data,
            # cloud-init runs user data once per instance: a changed idle period needs a new one.
            user_data_causes_replacement=True,
            propagate_tags_to_volume_on_creation=True,
            detailed_monitoring=False,
        )
        Tags.of(self.instance).add(*self.tag)
        # A CloudFormation Validate rule, which nag.py's rule ids do not name.
        Validations.of(self.instance).acknowledge(
            Acknowledgment(
                id="CloudFormation-Validate::W3010",
                reason="AZ names are explicit in the environment config by design (synth makes "
                "no lookups): the instance runs in the writer's AZ.",
            )
        )
        acknowledge_all(
            self.instance,
            [
                (
                    "AwsSolutions-EC28",
                    "The access instance is stopped but while an operator's tunnel runs; its "
                    "basic 5-minute metrics suffice, detailed ones would cost 2.10 USD a month.",
                ),
                (
                    "AwsSolutions-EC29",
                    "It holds no state: a deploy replaces it at will (new AMI, new idle "
                    "period); termination protection would only block that.",
                ),
                (
                    f"{NIST}EC2InstanceDetailedMonitoringEnabled",
                    "Stopped but while an operator's tunnel runs: basic monitoring suffices.",
                ),
            ],
        )
        client = f"{props.name} access instance: operators' tunnel"
        props.database.allow_client(self.instance, description=client)
        props.database.allow_admin_client(self.instance, description=f"{client} (admin)")
        # Lets the proxy, where there is one, log in as the read-only user (end-to-end IAM).
        props.database.connect_resource_arn(props.readonly_user, consumer=self)

    def _shell_document(self, props: OperatorAccessProps) -> ssm.CfnDocument:
        """``<app>-<env>-shell``: a Standard_Stream session, KMS-encrypted, logged, that opens a
        shell in the web container of the EC2 runtime's instance it is started on (there is none
        on this access instance, so there the session ends at once)."""
        content = {
            "schemaVersion": "1.0",
            "description": f"{props.name}: a shell in the web container, encrypted and logged",
            "sessionType": "Standard_Stream",
            "inputs": {
                "s3BucketName": "",
                "s3KeyPrefix": "",
                "s3EncryptionEnabled": True,
                "cloudWatchLogGroupName": self.log_group.log_group_name,
                "cloudWatchEncryptionEnabled": True,
                "cloudWatchStreamingEnabled": True,
                "kmsKeyId": props.key.key_arn,
                "runAsEnabled": False,
                "runAsDefaultUser": "",
                "idleSessionTimeout": str(SHELL_IDLE_TIMEOUT_MINUTES),
                "shellProfile": {
                    "windows": "",
                    "linux": f"exec sudo docker exec -it {EC2_CONTAINER} /bin/sh",
                },
            },
        }
        return ssm.CfnDocument(
            self,
            "ShellDocument",
            name=shell_document_name(props.name),
            document_type="Session",
            document_format="JSON",
            content=content,
            # A named document cannot be replaced in place: a change becomes its new default
            # version.
            update_method="NewVersion",
        )


def grant_session_logging(role: iam.IRole, *, key: kms.IKey, log_group: logs.ILogGroup) -> None:
    """What the agent of a session target (an ECS Exec task, an EC2 runtime instance) needs to
    decrypt the session's data and stream its log to ``log_group``, encrypted: ECS "IAM
    permissions required for Amazon CloudWatch Logs" and "for encryption using your own KMS key";
    Session Manager "Create a custom IAM instance profile" (the same actions)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn])
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["logs:DescribeLogGroups"], resources=["*"])
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(SESSION_LOG_ACTIONS), resources=[f"{log_group.log_group_arn}"]
        )
    )


def enable_container_shell(
    runtime: HasNode,
    *,
    key: kms.IKey,
    log_group: logs.ILogGroup,
    container: str = SHELL_CONTAINER,
) -> None:
    """ECS Exec into ``container`` of the ECS service under ``runtime`` (the Fargate runtime),
    as the ECS developer guide's "Using Amazon ECS Exec" asks:

    - the cluster's ``ExecuteCommandConfiguration``: the environment's key, logging OVERRIDE to
      ``log_group`` with CloudWatch encryption on (the group must be KMS-encrypted);
    - the service's ``EnableExecuteCommand`` (it reaches new tasks only: the change rolls them);
    - the task role: the agent's ``ssmmessages`` channels, ``kms:Decrypt``, the log group;
    - the container's root filesystem writable and an init process: "The SSM agent requires that
      the container file system is able to be written to ... making the root file system
      read-only using the readonlyRootFilesystem task definition parameter, or any other
      method, isn't supported", and ``initProcessEnabled`` reaps the agent's zombies.

    The commands run as root in the container (ECS: "The SSM agent and its child processes run
    as root even when you specify a user ID"), with the container's capabilities (none).
    Raises ValueError when ``runtime`` holds no ECS cluster, service or task definition (App
    Runner, the static site, Express: ``AWS::ECS::ExpressGatewayService`` has no
    EnableExecuteCommand).
    """
    cluster = _only(runtime, ecs.CfnCluster, "an ECS cluster")
    service = _only(runtime, ecs.CfnService, "an ECS service")
    task = _only(runtime, ecs.TaskDefinition, "an ECS task definition")
    cluster.configuration = ecs.CfnCluster.ClusterConfigurationProperty(
        execute_command_configuration=ecs.CfnCluster.ExecuteCommandConfigurationProperty(
            kms_key_id=key.key_arn,
            logging="OVERRIDE",
            log_configuration=ecs.CfnCluster.ExecuteCommandLogConfigurationProperty(
                cloud_watch_log_group_name=log_group.log_group_name,
                cloud_watch_encryption_enabled=True,
            ),
        )
    )
    service.enable_execute_command = True
    task_role = task.task_role
    task_role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(SSMMESSAGES_ACTIONS), resources=["*"])
    )
    grant_session_logging(task_role, key=key, log_group=log_group)
    acknowledge(
        task_role,
        "AwsSolutions-IAM5",
        "ECS Exec's agent opens its Session Manager channels with ssmmessages actions, which "
        "have no resource-level permissions; logs:DescribeLogGroups has none either.",
        applies_to="Resource::*",
    )
    task_definition = cast(ecs.CfnTaskDefinition, task.node.default_child)
    index = _container_index(task, container)
    task_definition.add_property_override(
        f"ContainerDefinitions.{index}.ReadonlyRootFilesystem", False
    )
    task_definition.add_property_override(
        f"ContainerDefinitions.{index}.LinuxParameters.InitProcessEnabled", True
    )


T = TypeVar("T")


class HasNode(Protocol):
    """A construct, as the web runtimes' interface types them (``WebRuntimeService``)."""

    @property
    def node(self) -> Node: ...


def _only(root: HasNode, kind: type[T], what: str) -> T:
    found = [node for node in root.node.find_all() if isinstance(node, kind)]
    if len(found) != 1:
        raise ValueError(f"{root.node.path} holds {len(found)} of {what}, not exactly one")
    return found[0]


def _container_index(task: ecs.TaskDefinition, name: str) -> int:
    """The position of container ``name`` in the task definition's ContainerDefinitions."""
    containers = [
        child for child in task.node.children if isinstance(child, ecs.ContainerDefinition)
    ]
    for index, container in enumerate(containers):
        if container.container_name == name:
            return index
    raise ValueError(f"{task.node.path} has no container {name!r}")


INSTANCE_SHELL_METADATA = "operator-access:instance-shell"
"""The node metadata ``enable_shell`` leaves on an EC2 runtime whose instances take shells."""


@runtime_checkable
class InstanceShellHost(Protocol):
    """A web runtime whose containers run on EC2 instances this app owns (the EC2 runtime): its
    instances take Session Manager shells. Named by what it has, not by its class."""

    @property
    def node(self) -> Node: ...
    @property
    def instance_role(self) -> iam.IRole: ...
    @property
    def auto_scaling_group_name(self) -> str: ...


def enable_shell(runtime: HasNode, *, key: kms.IKey, log_group: logs.ILogGroup) -> None:
    """Shells for the operators in the web runtime ``runtime``: Session Manager sessions with the
    ``<app>-<env>-shell`` document on the EC2 runtime's instances (``enable_instance_shell``),
    else ECS Exec into the web container of the ECS service under it
    (``enable_container_shell``)."""
    if isinstance(runtime, InstanceShellHost):
        enable_instance_shell(runtime, key=key, log_group=log_group)
    else:
        enable_container_shell(runtime, key=key, log_group=log_group)


def enable_instance_shell(
    runtime: InstanceShellHost, *, key: kms.IKey, log_group: logs.ILogGroup
) -> None:
    """Shell sessions on the EC2 runtime's instances: they already run the SSM Agent (its role
    holds AmazonSSMManagedInstanceCore) and carry the tag ``platform:web`` = the group's name,
    which the operators policy admits; here their role may also decrypt the session (the
    environment key) and stream its log to ``log_group``. The shell document then ``docker
    exec``s into the ``web`` container (whose read-only root needs no change for that)."""
    role = runtime.instance_role
    grant_session_logging(role, key=key, log_group=log_group)
    acknowledge(
        role,
        "AwsSolutions-IAM5",
        "logs:DescribeLogGroups, which Session Manager's agent calls before it streams a "
        "session's log, has no resource-level permissions.",
        applies_to="Resource::*",
    )
    runtime.node.add_metadata(INSTANCE_SHELL_METADATA, runtime.auto_scaling_group_name)


@dataclass(frozen=True)
class EcsShell:
    """ECS Exec into ``container`` of the tasks of cluster ``cluster_name``."""

    cluster_name: str
    container: str = SHELL_CONTAINER


@dataclass(frozen=True)
class InstanceShell:
    """Session Manager shells (the shell document) on instances tagged ``tag_key=tag_value``."""

    tag_key: str
    tag_value: str


ShellTarget = EcsShell | InstanceShell


def shell_target(runtime: HasNode) -> ShellTarget | None:
    """Where ``make shell`` can open a shell under ``runtime``, read off what it holds: an ECS
    service with ``EnableExecuteCommand`` (``enable_container_shell``), or the EC2 runtime's
    instances once ``enable_instance_shell`` ran. None: no shell (the operators policy then
    grants none)."""
    for entry in runtime.node.metadata:
        if entry.type == INSTANCE_SHELL_METADATA:
            return InstanceShell(EC2_INSTANCE_TAG, str(entry.data))
    for service in runtime.node.find_all():
        if not isinstance(service, ecs.CfnService):
            continue
        if Stack.of(service).resolve(service.enable_execute_command):
            cluster = _only(runtime, ecs.CfnCluster, "an ECS cluster")
            cluster_name = cluster.cluster_name
            if cluster_name is None or Token.is_unresolved(cluster_name):
                raise ValueError(f"{cluster.node.path}: ECS Exec needs a cluster of a fixed name")
            return EcsShell(cluster_name)
    return None


@dataclass(frozen=True, kw_only=True)
class OperatorPoliciesProps:
    name: str
    """``<app>-<env>``: the policies are ``<name>-operators`` and ``<name>-db-admins``."""
    access: OperatorAccess
    database: DataEngine
    stack_names: Sequence[str]
    """The environment's stacks, whose outputs the operators' commands read."""
    shell: ShellTarget | None


class OperatorPolicies(Construct):
    """Two managed policies per environment, for its operators' roles, users or groups to attach.

    ``<name>-operators`` allows exactly what ``make db-tunnel`` (read-only) and ``make shell``
    call: see ``operator_statements``. ``<name>-db-admins`` adds the master secret, for the
    admin tunnel (``make db-tunnel ... admin``): a separate policy, because the master user owns
    and can change everything, so it goes to fewer people, is attached on request, and is
    audited apart (CloudTrail's GetSecretValue on that secret); it is useless alone (it starts
    no tunnel) and the operators policy never reads a secret.

    Built where every ARN they name is seen without a cycle: the ops stack, last. The access
    instance is named by its tag, never by its id: a deploy of the data stack replaces it
    whenever AWS publishes a new AMI (CloudFormation reads the AMI's SSM parameter at each
    deploy), and a cross-stack reference to its id would go stale, since the ops stack's
    template does not change then and the CDK CLI skips it (README: cross-stack references).
    """

    def __init__(self, scope: Construct, id_: str, *, props: OperatorPoliciesProps) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        statements = operator_statements(self, props)
        self.operators = iam.ManagedPolicy(
            self,
            "Operators",
            managed_policy_name=f"{props.name}-operators",
            description=f"{props.name}: make db-tunnel (read-only) and make shell, nothing else",
            statements=statements,
        )
        secret = props.database.secret
        master = [
            iam.PolicyStatement(
                sid="MasterSecret",
                actions=["secretsmanager:GetSecretValue"],
                resources=[secret.secret_arn],
            )
        ]
        if secret.encryption_key is not None:
            master.append(
                iam.PolicyStatement(
                    sid="MasterSecretKey",
                    actions=["kms:Decrypt"],
                    resources=[secret.encryption_key.key_arn],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": f"secretsmanager.{stack.region}.amazonaws.com"
                        }
                    },
                )
            )
        self.db_admins = iam.ManagedPolicy(
            self,
            "DatabaseAdmins",
            managed_policy_name=f"{props.name}-db-admins",
            description=f"{props.name}: the database's master secret, for make db-tunnel admin",
            statements=master,
        )
        wildcards = (
            "Describe calls (ec2:DescribeInstances, ssm:DescribeInstanceInformation) and "
            "ecs:ListTasks take no resource-level permission (Service Authorization Reference); "
            "instances are admitted by their tag, sessions by the caller's own id, tasks by "
            "their cluster, stacks by their names (stack/<name>/<id>)."
        )
        wildcard_resources = {
            resource
            for statement in statements
            for resource in statement.resources
            if "*" in resource
        }
        for resource in sorted(wildcard_resources):
            acknowledge(
                self.operators,
                "AwsSolutions-IAM5",
                wildcards,
                applies_to=f"Resource::{nag_text(stack, resource)}",
            )


def operator_statements(
    scope: Construct, props: OperatorPoliciesProps
) -> list[iam.PolicyStatement]:
    """The operators' statements, each what one step of the commands calls:

    - ``TunnelTarget``/``TunnelDocument``: ``ssm:StartSession`` on instances tagged
      ``operator-access=<name>`` (the access instance) with AWS's port-forwarding document only
      (``ssm:SessionDocumentAccessCheck``: no default shell either);
    - ``WakeTunnelTarget``: ``ec2:StartInstances`` on that instance (it stops itself when idle);
    - ``FindTargets``: ``ec2:DescribeInstances`` and ``ssm:DescribeInstanceInformation`` (is it
      running, is its agent online), which admit no resource but ``*``;
    - ``OwnSessions``: ``ssm:TerminateSession``/``ssm:ResumeSession`` on sessions whose
      ``aws:ssmmessages:session-id`` tag is the caller's own ``aws:userid`` (federated and role
      sessions have no ``aws:username``);
    - ``ReadonlyLogin``: ``rds-db:connect`` as the read-only user at the clients' endpoint;
    - ``StackOutputs``: ``cloudformation:DescribeStacks`` on the environment's stacks;
    - a shell, where the web runtime has one: on ECS ``ecs:ExecuteCommand``/``ecs:DescribeTasks``
      on the cluster's tasks and ``ecs:ListTasks`` in that cluster; on EC2 ``ssm:StartSession`` on
      instances tagged ``operator-shell=<name>`` with the shell document; and
      ``kms:GenerateDataKey`` on the environment key, which encrypts those sessions (port
      forwards are not encrypted with it: the SSM Agent encrypts no Port session with KMS).
    """
    stack = Stack.of(scope)
    region_account = f"{stack.region}:{stack.account}"
    partition = stack.partition
    instances = f"arn:{partition}:ec2:{region_account}:instance/*"
    tag_key, tag_value = props.access.tag
    document_check = {"BoolIfExists": {"ssm:SessionDocumentAccessCheck": "true"}}
    statements = [
        iam.PolicyStatement(
            sid="TunnelTarget",
            actions=["ssm:StartSession"],
            resources=[instances],
            conditions={
                "StringEquals": {f"ssm:resourceTag/{tag_key}": tag_value},
                **document_check,
            },
        ),
        iam.PolicyStatement(
            sid="TunnelDocument",
            actions=["ssm:StartSession"],
            resources=[f"arn:{partition}:ssm:{stack.region}:*:document/{PORT_FORWARD_DOCUMENT}"],
        ),
        iam.PolicyStatement(
            sid="WakeTunnelTarget",
            actions=["ec2:StartInstances"],
            resources=[instances],
            conditions={"StringEquals": {f"aws:ResourceTag/{tag_key}": tag_value}},
        ),
        iam.PolicyStatement(
            sid="FindTargets",
            actions=["ec2:DescribeInstances", "ssm:DescribeInstanceInformation"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="OwnSessions",
            actions=["ssm:ResumeSession", "ssm:TerminateSession"],
            resources=[f"arn:{partition}:ssm:{region_account}:session/*"],
            conditions={
                "StringEquals": {"ssm:resourceTag/aws:ssmmessages:session-id": "${aws:userid}"}
            },
        ),
        iam.PolicyStatement(
            sid="ReadonlyLogin",
            actions=["rds-db:connect"],
            resources=[
                props.database.connect_resource_arn(props.access.readonly_user, consumer=scope)
            ],
        ),
        iam.PolicyStatement(
            sid="StackOutputs",
            actions=["cloudformation:DescribeStacks"],
            resources=[
                f"arn:{partition}:cloudformation:{region_account}:stack/{name}/*"
                for name in props.stack_names
            ],
        ),
    ]
    shell = props.shell
    if isinstance(shell, EcsShell):
        cluster = f"arn:{partition}:ecs:{region_account}:cluster/{shell.cluster_name}"
        tasks = f"arn:{partition}:ecs:{region_account}:task/{shell.cluster_name}/*"
        statements += [
            iam.PolicyStatement(
                sid="ContainerShell",
                actions=["ecs:ExecuteCommand"],
                resources=[cluster, tasks],
                conditions={"StringEquals": {"ecs:container-name": shell.container}},
            ),
            iam.PolicyStatement(
                sid="FindTasks",
                actions=["ecs:DescribeTasks"],
                resources=[tasks],
            ),
            iam.PolicyStatement(
                sid="ListTasks",
                actions=["ecs:ListTasks"],
                resources=["*"],
                conditions={"ArnEquals": {"ecs:cluster": cluster}},
            ),
        ]
    elif isinstance(shell, InstanceShell):
        statements += [
            iam.PolicyStatement(
                sid="ShellTargets",
                actions=["ssm:StartSession"],
                resources=[instances],
                conditions={
                    "StringEquals": {f"ssm:resourceTag/{shell.tag_key}": shell.tag_value},
                    **document_check,
                },
            ),
            iam.PolicyStatement(
                sid="ShellDocument",
                actions=["ssm:StartSession"],
                resources=[
                    f"arn:{partition}:ssm:{region_account}:document/"
                    f"{shell_document_name(props.name)}"
                ],
            ),
        ]
    if shell is not None:
        statements.append(
            iam.PolicyStatement(
                sid="ShellKey",
                actions=list(KMS_SESSION_ACTIONS),
                resources=[props.access.key.key_arn],
            )
        )
    return statements
