"""What an instance of the EC2 web runtime is: its role and its launch template (the AMI, the
type, IMDS, the root volume, the network interface and the boot script of ec2_boot.py)."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.web_runtime.ec2_boot import BootPlan, boot_commands, image_reference
from cdk_constructs.web_runtime.image import RepositoryImage
from cdk_constructs.web_runtime.interface import WebRuntimeProps

SSM_CORE = "AmazonSSMManagedInstanceCore"
ROOT_DEVICE = "/dev/xvda"
"""The root device of the AL2023 AMIs."""
ROOT_VOLUME_GIB = 20
"""Fargate's default ephemeral storage, so an image that fits there fits here (AL2023's AMI
root is 8 GiB, before Docker's images)."""
IMDS_HOP_LIMIT = 2
"""The container is one hop behind the instance (ec2_boot.py: AL2023's own default)."""


def instance_role(
    scope: Construct, props: WebRuntimeProps, log_group: logs.ILogGroup
) -> tuple[iam.Role, str]:
    """``InstanceRole``: Session Manager, the image pull, the log group, the secrets (read at
    boot, and by the app through IMDS), and completing its own group's launch hook; and the
    group's ARN that last grant names."""
    role = iam.Role(
        scope,
        "InstanceRole",
        assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
        description=f"{props.name}: the web instances and the app's code on them",
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(SSM_CORE)],
    )
    for secret in props.secrets:
        secret.grant_read(role)
    if isinstance(props.image, RepositoryImage):
        props.image.repository.grant_pull(role)
    log_group.grant_write(role)
    group_arn = Stack.of(scope).format_arn(
        service="autoscaling",
        resource="autoScalingGroup",
        resource_name=f"*:autoScalingGroupName/{props.name}",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    role.add_to_policy(
        iam.PolicyStatement(actions=["autoscaling:CompleteLifecycleAction"], resources=[group_arn])
    )
    return role, group_arn


def launch_template(
    scope: Construct,
    props: WebRuntimeProps,
    *,
    instance_type: str,
    role: iam.IRole,
    security_group: ec2.ISecurityGroup,
    log_group: logs.ILogGroup,
) -> ec2.LaunchTemplate:
    """``LaunchTemplate``: the AMI from SSM at deploy time, IMDSv2 only, an encrypted gp3 root,
    no key pair, no public IP, detailed monitoring (1-minute CPU for target tracking), the boot
    script."""
    uri, registry = image_reference(props.image)
    user_data = ec2.UserData.for_linux()
    plan = BootPlan(
        image=props.image,
        image_uri=uri,
        registry=registry,
        port=props.port,
        health_path=props.health_path,
        memory_mib=props.memory_mib,
        environment=props.environment,
        secrets=props.secrets,
        log_group_name=log_group.log_group_name,
        auto_scaling_group_name=props.name,
        region=Stack.of(scope).region,
    )
    user_data.add_commands(*boot_commands(plan))
    return ec2.LaunchTemplate(
        scope,
        "LaunchTemplate",
        instance_type=ec2.InstanceType(instance_type),
        # AWS's public parameter al2023-ami-kernel-default-arm64, AL2023's default kernel
        # (``MachineImage.latest_amazon_linux2023`` pins kernel 6.1 whatever it is given):
        # https://docs.aws.amazon.com/linux/al2023/ug/ec2.html. Not cached in context (this
        # class's default is to cache: a lookup at synth and a cdk.context.json entry,
        # https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_ec2.AmazonLinux2023ImageSsmParameter.html):
        # a template parameter CloudFormation resolves at each deploy.
        machine_image=ec2.AmazonLinux2023ImageSsmParameter(
            kernel=ec2.AmazonLinux2023Kernel.DEFAULT,
            cpu_type=ec2.AmazonLinuxCpuType.ARM_64,
            cached_in_context=False,
        ),
        role=role,
        security_group=security_group,
        user_data=user_data,
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
        http_endpoint=True,
        http_tokens=ec2.LaunchTemplateHttpTokens.REQUIRED,
        http_put_response_hop_limit=IMDS_HOP_LIMIT,
        instance_metadata_tags=False,
        detailed_monitoring=True,
        associate_public_ip_address=False,
    )
