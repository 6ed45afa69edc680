"""Rules that compute: EC2 instances (type, public IPv4, disks), alone or an Auto Scaling group's
minimum, Fargate tasks (ECS and ECS Express services, and Express's own ALB), App Runner."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from cdk_constructs.options import OPERATOR_ACCESS_TAG, CpuArchitecture
from cost.lines import HOURS_PER_MONTH, Findings, LineKind, Period, plain_number, to_cents
from cost.prices import PriceId
from cost.shapes import TRUE
from cost.templates import Resource, Stack, literal_decimal, references

EC2_DETAILED_MONITORING_METRICS = Decimal(7)
"""EC2 detailed monitoring bills its seven one-minute instance metrics as custom metrics."""

DEFAULT_ROOT_VOLUME_GB = Decimal(8)
"""Root volume of the Amazon Linux 2023 AMIs, assumed when the template gives no VolumeSize."""

APP_RUNNER_DEFAULT_MEMORY = "2 GB"
APP_RUNNER_DEFAULT_MIN_SIZE = 1
"""App Runner's default auto scaling configuration keeps one provisioned instance."""

SPOT_NOTE = "Spot prices vary (typically 50-70% below on-demand); the documented 70% is used"


class _PublicAddress(StrEnum):
    AUTO_ASSIGNED = "auto-assigned"
    ELASTIC_IP = "elastic-ip"
    NONE = "none"
    UNKNOWN = "unknown"
    """Its subnet is not in the template (imported): whether it maps public IPs is unknown."""


def _instance_public_address(instance: Resource, stack: Stack) -> _PublicAddress:
    """Whether an instance gets a public IPv4 of its own (an Elastic IP is priced on the EIP)."""
    for eip in stack.of_type("AWS::EC2::EIP", "AWS::EC2::EIPAssociation"):
        if stack.target_of(eip.properties.get("InstanceId")) is instance:
            return _PublicAddress.ELASTIC_IP
    interfaces = [
        i for i in instance.properties.get("NetworkInterfaces") or [] if isinstance(i, dict)
    ]
    for interface in interfaces:
        if "AssociatePublicIpAddress" in interface:
            associate = interface["AssociatePublicIpAddress"] in TRUE
            return _PublicAddress.AUTO_ASSIGNED if associate else _PublicAddress.NONE
    subnet_id = instance.properties.get("SubnetId") or next(
        (i["SubnetId"] for i in interfaces if "SubnetId" in i), None
    )
    subnet = stack.target_of(subnet_id)
    if subnet is None:
        return _PublicAddress.UNKNOWN
    if subnet.properties.get("MapPublicIpOnLaunch") in TRUE:
        return _PublicAddress.AUTO_ASSIGNED
    return _PublicAddress.NONE


_EBS_PRICES = {"gp3": PriceId.EBS_GP3_GB_MONTH, "gp2": PriceId.EBS_GP2_GB_MONTH}


def _instance_hours(
    resource: Resource,
    found: Findings,
    instance_type: Any,
    count: int,
    description: str,
    details: Sequence[str] = (),
    note: str | None = None,
) -> bool:
    """``count`` on-demand instances of ``instance_type``; False (refused) without a price."""
    price = (
        found.prices.ec2_instance_hour.get(instance_type)
        if isinstance(instance_type, str)
        else None
    )
    if not isinstance(instance_type, str) or price is None:
        found.cannot_price(resource, f"no price for instance type {instance_type!r}")
        return False
    found.add(
        LineKind.EC2_INSTANCE,
        f"{description} {instance_type}",
        count,
        "instance",
        price,
        Period.HOUR,
        details=details,
        note=note,
    )
    return True


def _detailed_monitoring(found: Findings, count: int) -> None:
    found.add(
        LineKind.EC2_DETAILED_MONITORING,
        "EC2 detailed monitoring",
        count * EC2_DETAILED_MONITORING_METRICS,
        "metric",
        PriceId.EC2_DETAILED_MONITORING_METRIC_MONTH,
        Period.MONTH,
    )


def on_demand_instance(resource: Resource) -> bool:
    """An instance that runs only while it is used: the operators' access instance (tagged
    ``OPERATOR_ACCESS_TAG``), which ``make db-tunnel`` starts and which stops itself when idle."""
    tags = resource.properties.get("Tags") or []
    return any(isinstance(tag, dict) and tag.get("Key") == OPERATOR_ACCESS_TAG for tag in tags)


def ec2_instance(resource: Resource, stack: Stack, found: Findings) -> None:
    """Its type's hours, its own public IPv4, detailed monitoring and its EBS volumes; an
    instance that runs on demand only (``on_demand_instance``) its volumes alone: a stopped
    instance bills its EBS volumes and nothing else, its hours are usage (``usage.py``)."""
    props = resource.properties
    if on_demand_instance(resource):
        instance_type = props.get("InstanceType")
        if (
            not isinstance(instance_type, str)
            or instance_type not in found.prices.ec2_instance_hour
        ):
            found.cannot_price(resource, f"no price for instance type {instance_type!r}")
            return
        _ebs_volumes(resource, found, props.get("BlockDeviceMappings"))
        return
    role = "NAT instance" if props.get("SourceDestCheck") in (False, "false") else "EC2 instance"
    if not _instance_hours(resource, found, props.get("InstanceType"), 1, role):
        return
    address = _instance_public_address(resource, stack)
    if address is _PublicAddress.AUTO_ASSIGNED:
        found.add(
            LineKind.PUBLIC_IPV4_INSTANCE,
            f"Public IPv4: {role}",
            1,
            "address",
            PriceId.PUBLIC_IPV4_HOUR,
            Period.HOUR,
        )
    elif address is _PublicAddress.UNKNOWN:
        found.warn(resource, "its subnet is not in the template: a public IPv4 is not priced")
    elif address is _PublicAddress.NONE and role == "NAT instance":
        monthly = to_cents(found.prices[PriceId.PUBLIC_IPV4_HOUR].usd * HOURS_PER_MONTH)
        found.warn(
            resource,
            "NAT instance without a public IPv4 (no AssociatePublicIpAddress, its subnet does "
            "not map public IPs on launch, no Elastic IP): it cannot reach the internet; "
            f"giving it one adds {monthly} USD/month",
        )
    if props.get("Monitoring") in TRUE:
        _detailed_monitoring(found, 1)
    _ebs_volumes(resource, found, props.get("BlockDeviceMappings"))


def _ebs_volumes(resource: Resource, found: Findings, mappings: Any, count: int = 1) -> None:
    """The volumes of ``mappings`` (an instance's or a launch template's), ``count`` times."""
    volumes = [
        mapping["Ebs"]
        for mapping in mappings or []
        if isinstance(mapping, dict) and isinstance(mapping.get("Ebs"), dict)
    ] or [{"VolumeType": "gp3"}]  # the AMI's own root volume
    for volume in volumes:
        volume_type = str(volume.get("VolumeType", "gp2"))
        size = literal_decimal(volume.get("VolumeSize"))
        price_id = _EBS_PRICES.get(volume_type)
        if price_id is None:
            found.cannot_price(resource, f"EBS volume type {volume_type} is not priced")
            continue
        found.add(
            LineKind.EBS_VOLUME,
            f"EBS {volume_type} volume",
            count * (size if size is not None else DEFAULT_ROOT_VOLUME_GB),
            "GB",
            price_id,
            Period.MONTH,
            note=None if size is not None else "size from the AMI: 8 GiB assumed",
        )


AUTO_SCALING_GROUP = "AWS::AutoScaling::AutoScalingGroup"
ASG_NOTE = "instances above MinSize (scaling out, an instance refresh's extra batch) are usage"


def auto_scaling_group(resource: Resource, stack: Stack, found: Findings) -> None:
    """Its ``MinSize`` instances of its launch template (in the same stack): type hours,
    public IPv4s, detailed monitoring and EBS volumes, each times MinSize."""
    props = resource.properties
    minimum = literal_decimal(props.get("MinSize"))
    spec = props.get("LaunchTemplate")
    template = stack.target_of(spec.get("LaunchTemplateId")) if isinstance(spec, dict) else None
    if minimum is None:
        found.cannot_price(resource, "MinSize is not a literal number")
        return
    if template is None:
        found.cannot_price(
            resource, "only a launch template of the same stack is modeled (no mixed instances)"
        )
        return
    data = template.properties.get("LaunchTemplateData") or {}
    if "InstanceMarketOptions" in data:
        found.cannot_price(resource, "Spot instances are not modeled")
        return
    count = int(minimum)
    if count == 0:
        return
    details = [f"{count} instance(s) (MinSize) of launch template {template.logical_id}"]
    description = "Auto Scaling instances"
    if not _instance_hours(
        resource, found, data.get("InstanceType"), count, description, details, ASG_NOTE
    ):
        return
    interfaces = [i for i in data.get("NetworkInterfaces") or [] if isinstance(i, dict)]
    if any(i.get("AssociatePublicIpAddress") in TRUE for i in interfaces):
        found.add(
            LineKind.PUBLIC_IPV4_INSTANCE,
            "Public IPv4: Auto Scaling instances",
            count,
            "address",
            PriceId.PUBLIC_IPV4_HOUR,
            Period.HOUR,
        )
    elif not any("AssociatePublicIpAddress" in i for i in interfaces):
        found.warn(resource, "whether its subnets give instances a public IPv4 is not modeled")
    if (data.get("Monitoring") or {}).get("Enabled") in TRUE:
        _detailed_monitoring(found, count)
    _ebs_volumes(resource, found, data.get("BlockDeviceMappings"), count)


class FargateProvider(StrEnum):
    FARGATE = "FARGATE"
    FARGATE_SPOT = "FARGATE_SPOT"


SPOT_ARCHITECTURES = frozenset({CpuArchitecture.X86_64})
"""https://docs.aws.amazon.com/AmazonECS/latest/userguide/fargate-capacity-providers.html:
"Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity provider.
Fargate Spot only supports Linux tasks with the X86_64 architecture." A template pairing them
never runs its tasks, so the model reports it rather than price tasks that cannot start."""

FARGATE_PRICES: Mapping[tuple[CpuArchitecture, FargateProvider], tuple[PriceId, PriceId]] = {
    (CpuArchitecture.ARM64, FargateProvider.FARGATE): (
        PriceId.FARGATE_ARM_VCPU_HOUR,
        PriceId.FARGATE_ARM_GB_HOUR,
    ),
    (CpuArchitecture.X86_64, FargateProvider.FARGATE): (
        PriceId.FARGATE_X86_VCPU_HOUR,
        PriceId.FARGATE_X86_GB_HOUR,
    ),
    (CpuArchitecture.X86_64, FargateProvider.FARGATE_SPOT): (
        PriceId.FARGATE_SPOT_X86_VCPU_HOUR,
        PriceId.FARGATE_SPOT_X86_GB_HOUR,
    ),
}
"""(vCPU-hour, GB-hour) prices of each flavour Fargate runs."""


def fargate_name(architecture: CpuArchitecture, provider: FargateProvider) -> str:
    """``Fargate ARM64`` or ``Fargate Spot X86_64``, as the report names a flavour."""
    spot = " Spot" if provider is FargateProvider.FARGATE_SPOT else ""
    return f"Fargate{spot} {architecture}"


def _size(value: Any, unit_pattern: str) -> Decimal | None:
    """'256' (CPU units or MiB) or '0.25 vCPU' / '0.5 GB' -> vCPUs or GB."""
    text = str(value).strip() if value is not None else ""
    match = re.fullmatch(rf"([0-9.]+)\s*({unit_pattern})?", text, flags=re.IGNORECASE)
    number = literal_decimal(match.group(1)) if match else None
    if match is None or number is None:
        return None
    return number if match.group(2) else number / 1024


@dataclass(frozen=True)
class FargateShape:
    """Where a service's tasks run and how many at least."""

    architecture: CpuArchitecture
    """From the task definition's ``RuntimePlatform`` (X86_64 when absent)."""
    vcpus: Decimal
    memory_gb: Decimal
    minimum: int
    minimum_source: str
    tasks_by_provider: Mapping[FargateProvider, Decimal]
    """The minimum count split over the capacity providers (Base first, then by Weight)."""
    public_ip: bool


def _minimum_tasks(service: Resource, stack: Stack) -> tuple[int, str]:
    for target in stack.of_type("AWS::ApplicationAutoScaling::ScalableTarget"):
        props = target.properties
        if props.get("ScalableDimension") != "ecs:service:DesiredCount":
            continue
        if service.logical_id in set(references(props.get("ResourceId"))):
            minimum = literal_decimal(props.get("MinCapacity"))
            if minimum is not None:
                return int(minimum), "auto scaling MinCapacity"
    desired = literal_decimal(service.properties.get("DesiredCount"))
    return (int(desired), "DesiredCount") if desired is not None else (1, "the default count")


def _split_tasks(count: int, strategy: Sequence[Any]) -> dict[FargateProvider, Decimal] | None:
    """Tasks per capacity provider: each item's Base first, the rest by Weight."""
    split: dict[FargateProvider, Decimal] = {}
    remaining = Decimal(count)
    items: list[tuple[FargateProvider, Decimal]] = []
    for item in strategy:
        try:
            provider = FargateProvider(item.get("CapacityProvider"))
        except ValueError:
            return None
        base = min(literal_decimal(item.get("Base")) or Decimal(0), remaining)
        split[provider] = split.get(provider, Decimal(0)) + base
        remaining -= base
        items.append((provider, literal_decimal(item.get("Weight")) or Decimal(0)))
    total_weight = sum((weight for _, weight in items), Decimal(0))
    if remaining and total_weight == 0:
        return None
    for provider, weight in items:
        if weight:
            split[provider] = split.get(provider, Decimal(0)) + remaining * weight / total_weight
    return {provider: tasks for provider, tasks in split.items() if tasks}


def capacity_strategy(service: Resource, stack: Stack) -> Sequence[Any] | None:
    """The service's capacity provider strategy; None when it does not run on Fargate."""
    props = service.properties
    strategy = props.get("CapacityProviderStrategy")
    if strategy:
        return list(strategy)
    launch_type = props.get("LaunchType")
    if launch_type == "FARGATE":
        return [{"CapacityProvider": "FARGATE", "Weight": 1}]
    if launch_type is not None:
        return None  # EC2 or EXTERNAL: the capacity is billed on its instances
    for association in stack.of_type("AWS::ECS::ClusterCapacityProviderAssociations"):
        if association.properties.get("Cluster") == props.get("Cluster"):
            default = association.properties.get("DefaultCapacityProviderStrategy")
            if default:
                return list(default)
    return []


def fargate_shape(service: Resource, stack: Stack) -> FargateShape | str | None:
    """The service's Fargate shape, None when it is not on Fargate, or why it cannot be known."""
    strategy = capacity_strategy(service, stack)
    if strategy is None:
        return None
    if not strategy:
        return "no launch type or capacity provider strategy"
    task = stack.target_of(service.properties.get("TaskDefinition"))
    if task is None:
        return "its task definition is not in the same stack"
    platform = task.properties.get("RuntimePlatform") or {}
    if platform.get("OperatingSystemFamily", "LINUX") != "LINUX":
        return "only Linux Fargate tasks are modeled"
    try:
        architecture = CpuArchitecture(platform.get("CpuArchitecture", "X86_64"))
    except ValueError:
        return f"unknown CPU architecture {platform.get('CpuArchitecture')!r}"
    vcpus = _size(task.properties.get("Cpu"), "vCPU")
    memory = _size(task.properties.get("Memory"), "GB")
    if vcpus is None or memory is None:
        return "task definition without a literal Cpu and Memory"
    minimum, source = _minimum_tasks(service, stack)
    split = _split_tasks(minimum, strategy)
    if split is None:
        return "capacity providers other than FARGATE / FARGATE_SPOT are not modeled"
    spot = any(item.get("CapacityProvider") == FargateProvider.FARGATE_SPOT for item in strategy)
    if spot and architecture not in SPOT_ARCHITECTURES:
        return f"Fargate Spot runs X86_64 Linux tasks only, this task is {architecture}"
    network = (service.properties.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration")
    public_ip = isinstance(network, dict) and network.get("AssignPublicIp") == "ENABLED"
    return FargateShape(architecture, vcpus, memory, minimum, source, split, public_ip)


def ecs_service(resource: Resource, stack: Stack, found: Findings) -> None:
    """Fargate vCPU and memory of the minimum task count, per capacity provider."""
    shape = fargate_shape(resource, stack)
    if shape is None:
        return
    if isinstance(shape, str):
        found.cannot_price(resource, shape)
        return
    _fargate_lines(shape, found)


def _fargate_lines(shape: FargateShape, found: Findings) -> None:
    """A shape's vCPU and memory lines (per capacity provider) and its tasks' public IPv4s."""
    for provider, tasks in shape.tasks_by_provider.items():
        vcpu_price, memory_price = FARGATE_PRICES[(shape.architecture, provider)]
        name = fargate_name(shape.architecture, provider)
        count = f"{plain_number(tasks)} task(s), minimum from {shape.minimum_source},"
        found.add(
            LineKind.FARGATE_VCPU,
            f"{name} vCPU",
            tasks * shape.vcpus,
            "vCPU",
            vcpu_price,
            Period.HOUR,
            details=[f"{count} x {plain_number(shape.vcpus)} vCPU each"],
            note=SPOT_NOTE if provider is FargateProvider.FARGATE_SPOT else None,
        )
        found.add(
            LineKind.FARGATE_MEMORY,
            f"{name} memory",
            tasks * shape.memory_gb,
            "GB",
            memory_price,
            Period.HOUR,
            details=[f"{count} x {plain_number(shape.memory_gb)} GB each"],
        )
    if shape.public_ip:
        found.add(
            LineKind.PUBLIC_IPV4_TASK,
            "Public IPv4: Fargate tasks",
            shape.minimum,
            "address",
            PriceId.PUBLIC_IPV4_HOUR,
            Period.HOUR,
        )


EXPRESS_SERVICE = "AWS::ECS::ExpressGatewayService"
EXPRESS_DEFAULTS = {"Cpu": "256", "Memory": "512", "MinTaskCount": 1, "Cluster": "default"}
"""CloudFormation's defaults of the type's properties (its registry schema)."""
EXPRESS_ALB_NOTE = (
    "created by ECS Express, not in the template; shared by up to 25 Express services of a "
    "cluster; internal in private subnets (internet-facing, in public ones, it adds 1 public "
    "IPv4 per AZ)"
)


def express_shape(service: Resource, stack: Stack) -> FargateShape | str:
    """An Express service's Fargate tasks: its task definition's size and architecture, or its
    own Cpu/Memory on X86_64 (CloudFormation has no CpuArchitecture for Express: X86_64 is
    Express's default); always the FARGATE capacity provider, no public IP (Express assigns
    none)."""
    props = service.properties
    if "TaskDefinitionArn" in props:
        task = stack.target_of(props["TaskDefinitionArn"])
        if task is None:
            return "its task definition is not in the same stack"
        platform = task.properties.get("RuntimePlatform") or {}
        cpu, memory = task.properties.get("Cpu"), task.properties.get("Memory")
    else:
        platform = {}
        cpu = props.get("Cpu", EXPRESS_DEFAULTS["Cpu"])
        memory = props.get("Memory", EXPRESS_DEFAULTS["Memory"])
    try:
        architecture = CpuArchitecture(platform.get("CpuArchitecture", "X86_64"))
    except ValueError:
        return f"unknown CPU architecture {platform.get('CpuArchitecture')!r}"
    vcpus, memory_gb = _size(cpu, "vCPU"), _size(memory, "GB")
    scaling = props.get("ScalingTarget") or {}
    minimum = literal_decimal(scaling.get("MinTaskCount", EXPRESS_DEFAULTS["MinTaskCount"]))
    if vcpus is None or memory_gb is None or minimum is None:
        return "no literal Cpu, Memory or MinTaskCount"
    tasks = {FargateProvider.FARGATE: minimum}
    source = "ScalingTarget MinTaskCount"
    return FargateShape(architecture, vcpus, memory_gb, int(minimum), source, tasks, False)


def express_service(resource: Resource, stack: Stack, found: Findings) -> None:
    """An ECS Express service: Fargate vCPU and memory of its minimum tasks, and the ALB Express
    creates for it (one per cluster in the template: Express shares it)."""
    shape = express_shape(resource, stack)
    if isinstance(shape, str):
        found.cannot_price(resource, shape)
        return
    _fargate_lines(shape, found)

    def cluster(service: Resource) -> str:
        return json.dumps(service.properties.get("Cluster", EXPRESS_DEFAULTS["Cluster"]))

    sharing = [s for s in stack.of_type(EXPRESS_SERVICE) if cluster(s) == cluster(resource)]
    if sharing[0] is resource:
        found.add(
            LineKind.ALB,
            "Application Load Balancer (ECS Express)",
            1,
            "ALB",
            PriceId.ALB_HOUR,
            Period.HOUR,
            details=[f"{len(sharing)} Express service(s) on it"],
            note=EXPRESS_ALB_NOTE,
        )


def app_runner_service(resource: Resource, stack: Stack, found: Findings) -> None:
    """Provisioned memory of the minimum instances (vCPU bills only while serving)."""
    props = resource.properties
    instance = props.get("InstanceConfiguration") or {}
    memory = _size(instance.get("Memory", APP_RUNNER_DEFAULT_MEMORY), "GB")
    if memory is None:
        found.cannot_price(resource, f"unreadable Memory {instance.get('Memory')!r}")
        return
    config_arn = props.get("AutoScalingConfigurationArn")
    min_size = Decimal(APP_RUNNER_DEFAULT_MIN_SIZE)
    if config_arn is not None:
        config = stack.target_of(config_arn)
        size = literal_decimal(config.properties.get("MinSize", 1)) if config is not None else None
        if size is None:
            found.cannot_price(resource, "its auto scaling configuration is not in its stack")
            return
        min_size = size
    found.add(
        LineKind.APP_RUNNER_PROVISIONED_MEMORY,
        "App Runner provisioned instances (memory)",
        min_size * memory,
        "GB",
        PriceId.APP_RUNNER_PROVISIONED_GB_HOUR,
        Period.HOUR,
        details=[f"{plain_number(min_size)} instance(s) (MinSize) x {plain_number(memory)} GB"],
        note="vCPU is billed only while an instance serves requests (usage)",
    )
    if (props.get("SourceConfiguration") or {}).get("AutoDeploymentsEnabled") in TRUE:
        found.add(
            LineKind.APP_RUNNER_AUTOMATIC_DEPLOYMENTS,
            "App Runner automatic deployments",
            1,
            "service",
            PriceId.APP_RUNNER_AUTOMATIC_DEPLOYMENT_MONTH,
            Period.MONTH,
        )
