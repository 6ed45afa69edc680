"""What the synthesized templates cost a month before anyone uses them, and what usage costs.

The model reads only the templates of ``cdk.out`` (no AWS call, no config), so the figures
follow exactly what ``cdk synth`` produced. Every CloudFormation resource type it can meet is
classified in ``RESOURCE_BILLING``: a type it does not know is reported as unpriced, never
priced at 0 in silence, and so is a known always-on resource in a shape the model cannot price
(a provisioned DB instance class, a cron canary, ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from cost.prices import Price, PriceBook, PriceId
from cost.templates import Assembly, Resource, Stack, list_length, literal_decimal, references

HOURS_PER_MONTH = Decimal(730)
"""AWS's own convention (8,760 hours / 12): an always-on hourly price runs 730 hours a month."""

CENT = Decimal("0.01")

RDS_PROXY_MIN_ACU = Decimal(8)
"""RDS Proxy on Aurora Serverless v2 bills the target's ACUs, but never fewer than 8."""

EC2_DETAILED_MONITORING_METRICS = Decimal(7)
"""EC2 detailed monitoring bills its seven one-minute instance metrics as custom metrics."""

DEFAULT_ROOT_VOLUME_GB = Decimal(8)
"""Root volume of the Amazon Linux 2023 AMIs, assumed when the template gives no VolumeSize."""

APP_RUNNER_DEFAULT_MEMORY = "2 GB"
APP_RUNNER_DEFAULT_MIN_SIZE = 1
"""App Runner's default auto scaling configuration keeps one provisioned instance."""

SPOT_NOTE = "Spot prices vary (typically 50-70% below on-demand); the documented 70% is used"

CUSTOM_RESOURCE_PREFIX = "Custom::"
"""A custom resource costs its provider Lambda's invocations: usage-priced."""


class Billing(StrEnum):
    """How a CloudFormation resource type is billed."""

    ALWAYS_ON = "always-on"
    """Billed while it exists: priced line by line in the floor (a line may be 0, e.g. 0 ACU)."""
    USAGE = "usage"
    """Billed per request, GB or second: listed with its unit prices, not summed."""
    FREE = "free"
    """No charge of its own; whatever it causes is billed on another resource."""


_ALWAYS_ON, _USAGE, _FREE = Billing.ALWAYS_ON, Billing.USAGE, Billing.FREE

RESOURCE_BILLING: Mapping[str, Billing] = {
    # Always-on: each has a pricing rule in _FLOOR_RULES (a test keeps the two in step).
    "AWS::EC2::NatGateway": _ALWAYS_ON,
    "AWS::EC2::EIP": _ALWAYS_ON,  # public IPv4, in use or idle
    "AWS::EC2::Instance": _ALWAYS_ON,  # instance-hours, its public IPv4, EBS, monitoring
    "AWS::EC2::VPCEndpoint": _ALWAYS_ON,  # interface endpoints per AZ; gateway ones are free
    "AWS::RDS::DBCluster": _ALWAYS_ON,  # Aurora Serverless v2 minimum ACUs
    "AWS::RDS::DBInstance": _ALWAYS_ON,  # db.serverless: on its cluster; other classes unpriced
    "AWS::RDS::DBProxy": _ALWAYS_ON,  # 8-ACU minimum on Aurora Serverless v2
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _ALWAYS_ON,  # hours + public IPv4 per AZ
    "AWS::ECS::Service": _ALWAYS_ON,  # Fargate tasks at their minimum count
    "AWS::AppRunner::Service": _ALWAYS_ON,  # provisioned memory of the minimum instances
    "AWS::ApiGateway::Stage": _ALWAYS_ON,  # only with a cache cluster; requests on RestApi
    "AWS::DynamoDB::GlobalTable": _ALWAYS_ON,  # on-demand: usage only; provisioned: unpriced
    "AWS::DynamoDB::Table": _ALWAYS_ON,
    "AWS::WAFv2::WebACL": _ALWAYS_ON,
    "AWS::Synthetics::Canary": _ALWAYS_ON,  # runs on a schedule, whether or not anyone visits
    "AWS::SecretsManager::Secret": _ALWAYS_ON,
    "AWS::KMS::Key": _ALWAYS_ON,
    "AWS::KMS::ReplicaKey": _ALWAYS_ON,
    "AWS::CloudWatch::Alarm": _ALWAYS_ON,
    "AWS::CloudWatch::CompositeAlarm": _ALWAYS_ON,
    "AWS::CloudWatch::Dashboard": _ALWAYS_ON,
    "AWS::Cognito::UserPoolClient": _ALWAYS_ON,  # client-credentials (M2M) clients only
    # Usage-priced: listed with unit prices when present.
    "AWS::Lambda::Function": _USAGE,
    "AWS::Serverless::Application": _USAGE,  # the SAR secret-rotation app: a Lambda function
    "AWS::SecretsManager::RotationSchedule": _USAGE,  # the rotation function's invocations
    "AWS::Logs::LogGroup": _USAGE,
    "AWS::EC2::FlowLog": _USAGE,  # vended logs ingestion
    "AWS::WAFv2::LoggingConfiguration": _USAGE,  # vended logs ingestion
    "AWS::S3::Bucket": _USAGE,
    "AWS::ECR::Repository": _USAGE,
    "AWS::ApiGateway::RestApi": _USAGE,
    "AWS::Cognito::UserPool": _USAGE,  # monthly active users
    "AWS::ECS::Cluster": _USAGE,  # Container Insights metrics and performance logs
    "AWS::SNS::Topic": _USAGE,
    "AWS::Route53::RecordSet": _USAGE,  # queries (alias queries to AWS resources are free)
    "AWS::AppRunner::ObservabilityConfiguration": _USAGE,  # X-Ray traces
    "AWS::CloudFormation::CustomResource": _USAGE,
    # Free: no charge of their own.
    "AWS::ApiGateway::Account": _FREE,
    "AWS::ApiGateway::Authorizer": _FREE,  # a Lambda authorizer bills on its function
    "AWS::ApiGateway::Deployment": _FREE,
    "AWS::ApiGateway::GatewayResponse": _FREE,
    "AWS::ApiGateway::Method": _FREE,
    "AWS::ApiGateway::Model": _FREE,
    "AWS::ApiGateway::RequestValidator": _FREE,
    "AWS::ApiGateway::Resource": _FREE,
    "AWS::ApplicationAutoScaling::ScalableTarget": _FREE,  # read by the ECS service rule
    "AWS::ApplicationAutoScaling::ScalingPolicy": _FREE,
    "AWS::AppRunner::AutoScalingConfiguration": _FREE,  # read by the App Runner rule
    "AWS::AppRunner::VpcConnector": _FREE,
    "AWS::CDK::Metadata": _FREE,
    "AWS::CertificateManager::Certificate": _FREE,  # public certificates
    "AWS::Cognito::UserPoolDomain": _FREE,
    "AWS::Cognito::UserPoolResourceServer": _FREE,
    "AWS::EC2::EIPAssociation": _FREE,  # the address is priced on its EIP
    "AWS::EC2::InternetGateway": _FREE,
    "AWS::EC2::Route": _FREE,
    "AWS::EC2::RouteTable": _FREE,
    "AWS::EC2::SecurityGroup": _FREE,
    "AWS::EC2::SecurityGroupEgress": _FREE,
    "AWS::EC2::SecurityGroupIngress": _FREE,
    "AWS::EC2::Subnet": _FREE,
    "AWS::EC2::SubnetRouteTableAssociation": _FREE,
    "AWS::EC2::VPC": _FREE,
    "AWS::EC2::VPCGatewayAttachment": _FREE,
    "AWS::ECS::ClusterCapacityProviderAssociations": _FREE,
    "AWS::ECS::TaskDefinition": _FREE,  # priced through the service that runs it
    "AWS::ElasticLoadBalancingV2::Listener": _FREE,
    "AWS::ElasticLoadBalancingV2::ListenerRule": _FREE,
    "AWS::ElasticLoadBalancingV2::TargetGroup": _FREE,
    "AWS::IAM::InstanceProfile": _FREE,
    "AWS::IAM::ManagedPolicy": _FREE,
    "AWS::IAM::OIDCProvider": _FREE,
    "AWS::IAM::Policy": _FREE,
    "AWS::IAM::Role": _FREE,
    "AWS::KMS::Alias": _FREE,
    "AWS::Lambda::Permission": _FREE,
    "AWS::RDS::DBClusterParameterGroup": _FREE,
    "AWS::RDS::DBParameterGroup": _FREE,
    "AWS::RDS::DBProxyTargetGroup": _FREE,  # read by the proxy rule
    "AWS::RDS::DBSubnetGroup": _FREE,
    "AWS::S3::BucketPolicy": _FREE,
    "AWS::SNS::Subscription": _FREE,  # deliveries are priced on the topic
    "AWS::SNS::TopicPolicy": _FREE,
    "AWS::SecretsManager::ResourcePolicy": _FREE,
    "AWS::SecretsManager::SecretTargetAttachment": _FREE,
    "AWS::WAFv2::WebACLAssociation": _FREE,
}


def billing_of(resource_type: str) -> Billing | None:
    """How a type is billed; None when the model does not know it (it must then be reported)."""
    if resource_type.startswith(CUSTOM_RESOURCE_PREFIX):
        return Billing.USAGE
    return RESOURCE_BILLING.get(resource_type)


def unclassified_types(resource_types: Iterable[str]) -> list[str]:
    """The types among ``resource_types`` that the model does not classify, sorted."""
    return sorted({t for t in resource_types if billing_of(t) is None})


# --- Lines of the floor -----------------------------------------------------------------------


class LineKind(StrEnum):
    """What a floor line prices; the order here is the order of the report."""

    NAT_GATEWAY = "nat_gateway"
    EC2_INSTANCE = "ec2_instance"
    EC2_DETAILED_MONITORING = "ec2_detailed_monitoring"
    EBS_VOLUME = "ebs_volume"
    PUBLIC_IPV4_EIP = "public_ipv4_eip"
    PUBLIC_IPV4_INSTANCE = "public_ipv4_instance"
    PUBLIC_IPV4_ALB = "public_ipv4_alb"
    PUBLIC_IPV4_TASK = "public_ipv4_task"
    INTERFACE_ENDPOINT = "interface_endpoint"
    AURORA_MIN_CAPACITY = "aurora_min_capacity"
    RDS_PROXY_MIN_CAPACITY = "rds_proxy_min_capacity"
    ALB = "alb"
    FARGATE_VCPU = "fargate_vcpu"
    FARGATE_MEMORY = "fargate_memory"
    APP_RUNNER_PROVISIONED_MEMORY = "app_runner_provisioned_memory"
    APP_RUNNER_AUTOMATIC_DEPLOYMENTS = "app_runner_automatic_deployments"
    API_GATEWAY_CACHE = "api_gateway_cache"
    WAF_WEB_ACL = "waf_web_acl"
    WAF_RULES = "waf_rules"
    CANARY_RUNS = "canary_runs"
    SECRETS = "secrets"
    KMS_KEYS = "kms_keys"
    ALARMS_STANDARD = "alarms_standard"
    ALARMS_HIGH_RESOLUTION = "alarms_high_resolution"
    COMPOSITE_ALARMS = "composite_alarms"
    DASHBOARDS = "dashboards"
    COGNITO_M2M_CLIENTS = "cognito_m2m_clients"
    ALWAYS_FREE_TIER = "always_free_tier"


class Period(StrEnum):
    """What one unit price buys: an hour (x 730 a month), a month, or one run."""

    HOUR = "hour"
    MONTH = "month"
    RUN = "run"

    @property
    def per_month(self) -> Decimal:
        return HOURS_PER_MONTH if self is Period.HOUR else Decimal(1)


def to_cents(amount: Decimal) -> Decimal:
    """Round half up to the cent, as a bill does."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def plain_number(number: Decimal) -> str:
    """A Decimal without exponent or trailing zeros, at most 4 decimals: 8760, 0.25, 6257.1429."""
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.quantize(Decimal("0.0001")).normalize(), "f")


@dataclass(frozen=True)
class CostLine:
    """One line of the monthly floor: ``quantity`` x ``unit_price_usd`` per ``period``."""

    kind: LineKind
    description: str
    quantity: Decimal
    unit: str
    """What the quantity counts (gateway, AZ, ACU, vCPU, GB, rule, run, ...)."""
    price_id: str
    unit_price_usd: Decimal
    period: Period
    details: tuple[str, ...] = ()
    """What the quantity is made of (endpoint services, instances x ACU, ...)."""
    note: str | None = None

    @property
    def monthly_usd(self) -> Decimal:
        return to_cents(self.quantity * self.unit_price_usd * self.period.per_month)


@dataclass(frozen=True)
class Unpriced:
    """A resource the model cannot price: unknown type, or a shape it does not model."""

    stack: str
    logical_id: str
    resource_type: str
    reason: str


@dataclass
class _Findings:
    """What the floor rules found in one assembly."""

    prices: PriceBook
    lines: list[CostLine] = field(default_factory=list)
    unpriced: list[Unpriced] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(
        self,
        kind: LineKind,
        description: str,
        quantity: Decimal | int,
        unit: str,
        price_id: PriceId,
        period: Period,
        *,
        details: Sequence[str] = (),
        note: str | None = None,
    ) -> None:
        self.add_priced(
            kind,
            description,
            quantity,
            unit,
            price_id.value,
            self.prices[price_id],
            period,
            details=details,
            note=note,
        )

    def add_priced(
        self,
        kind: LineKind,
        description: str,
        quantity: Decimal | int,
        unit: str,
        price_id: str,
        price: Price,
        period: Period,
        *,
        details: Sequence[str] = (),
        note: str | None = None,
    ) -> None:
        self.lines.append(
            CostLine(
                kind=kind,
                description=description,
                quantity=Decimal(quantity),
                unit=unit,
                price_id=price_id,
                unit_price_usd=price.usd,
                period=period,
                details=tuple(details),
                note=note,
            )
        )

    def cannot_price(self, resource: Resource, reason: str) -> None:
        self.unpriced.append(Unpriced(resource.stack, resource.logical_id, resource.type, reason))

    def warn(self, resource: Resource, message: str) -> None:
        self.warnings.append(f"{resource.stack}/{resource.logical_id}: {message}")


FloorRule = Callable[[Resource, Stack, _Findings], None]


def _nat_gateway(resource: Resource, stack: Stack, found: _Findings) -> None:
    found.add(
        LineKind.NAT_GATEWAY, "NAT gateway", 1, "gateway", PriceId.NAT_GATEWAY_HOUR, Period.HOUR
    )


def _elastic_ip(resource: Resource, stack: Stack, found: _Findings) -> None:
    found.add(
        LineKind.PUBLIC_IPV4_EIP,
        "Public IPv4: Elastic IP",
        1,
        "address",
        PriceId.PUBLIC_IPV4_HOUR,
        Period.HOUR,
    )


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
            associate = interface["AssociatePublicIpAddress"] in (True, "true")
            return _PublicAddress.AUTO_ASSIGNED if associate else _PublicAddress.NONE
    subnet_id = instance.properties.get("SubnetId") or next(
        (i["SubnetId"] for i in interfaces if "SubnetId" in i), None
    )
    subnet = stack.target_of(subnet_id)
    if subnet is None:
        return _PublicAddress.UNKNOWN
    if subnet.properties.get("MapPublicIpOnLaunch") in (True, "true"):
        return _PublicAddress.AUTO_ASSIGNED
    return _PublicAddress.NONE


_EBS_PRICES = {"gp3": PriceId.EBS_GP3_GB_MONTH, "gp2": PriceId.EBS_GP2_GB_MONTH}


def _ec2_instance(resource: Resource, stack: Stack, found: _Findings) -> None:
    props = resource.properties
    instance_type = props.get("InstanceType")
    price = (
        found.prices.ec2_instance_hour.get(instance_type)
        if isinstance(instance_type, str)
        else None
    )
    if not isinstance(instance_type, str) or price is None:
        found.cannot_price(resource, f"no price for instance type {instance_type!r}")
        return
    role = "NAT instance" if props.get("SourceDestCheck") in (False, "false") else "EC2 instance"
    found.add_priced(
        LineKind.EC2_INSTANCE,
        f"{role} {instance_type}",
        1,
        "instance",
        f"ec2_instance_hour.{instance_type}",
        price,
        Period.HOUR,
    )
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
    if props.get("Monitoring") in (True, "true"):
        found.add(
            LineKind.EC2_DETAILED_MONITORING,
            "EC2 detailed monitoring",
            EC2_DETAILED_MONITORING_METRICS,
            "metric",
            PriceId.EC2_DETAILED_MONITORING_METRIC_MONTH,
            Period.MONTH,
        )
    _ebs_volumes(resource, found)


def _ebs_volumes(instance: Resource, found: _Findings) -> None:
    mappings = [
        mapping["Ebs"]
        for mapping in instance.properties.get("BlockDeviceMappings") or []
        if isinstance(mapping, dict) and isinstance(mapping.get("Ebs"), dict)
    ]
    volumes = mappings or [{"VolumeType": "gp3"}]  # the AMI's own root volume
    for volume in volumes:
        volume_type = str(volume.get("VolumeType", "gp2"))
        size = literal_decimal(volume.get("VolumeSize"))
        note = None if size is not None else "size from the AMI: 8 GiB assumed"
        price_id = _EBS_PRICES.get(volume_type)
        if price_id is None:
            found.cannot_price(instance, f"EBS volume type {volume_type} is not priced")
            continue
        found.add(
            LineKind.EBS_VOLUME,
            f"EBS {volume_type} volume",
            size if size is not None else DEFAULT_ROOT_VOLUME_GB,
            "GB",
            price_id,
            Period.MONTH,
            note=note,
        )


def _endpoint_service(value: Any) -> str:
    """``com.amazonaws.us-east-1.secretsmanager`` (or its Fn::Join) -> ``secretsmanager``."""
    if isinstance(value, dict) and isinstance(value.get("Fn::Join"), list):
        parts = value["Fn::Join"][1] if len(value["Fn::Join"]) == 2 else []
        value = "".join(part for part in parts if isinstance(part, str))
    text = str(value)
    match = re.match(r"^com\.amazonaws\.(?:[a-z0-9-]*\.)?(.+)$", text)
    return match.group(1).lstrip(".") if match else text


def _vpc_endpoint(resource: Resource, stack: Stack, found: _Findings) -> None:
    endpoint_type = resource.properties.get("VpcEndpointType", "Gateway")
    if endpoint_type == "Gateway":
        return  # S3 and DynamoDB gateway endpoints are free
    if endpoint_type != "Interface":
        found.cannot_price(resource, f"{endpoint_type} endpoints are not modeled")
        return
    zones = list_length(resource.properties.get("SubnetIds"))
    if zones == 0:
        found.cannot_price(resource, "interface endpoint without SubnetIds to count its AZs")
        return
    found.add(
        LineKind.INTERFACE_ENDPOINT,
        "Interface VPC endpoints",
        zones,
        "AZ",
        PriceId.INTERFACE_ENDPOINT_AZ_HOUR,
        Period.HOUR,
        details=[_endpoint_service(resource.properties.get("ServiceName"))],
    )


SERVERLESS_INSTANCE_CLASS = "db.serverless"


def _cluster_of(instance: Resource, stack: Stack) -> Resource | None:
    identifier = instance.properties.get("DBClusterIdentifier")
    target = stack.target_of(identifier)
    if target is not None:
        return target
    for cluster in stack.of_type("AWS::RDS::DBCluster"):
        if identifier is not None and cluster.properties.get("DBClusterIdentifier") == identifier:
            return cluster
    return None


def _serverless_instances(cluster: Resource, stack: Stack) -> list[Resource]:
    return [
        instance
        for instance in stack.of_type("AWS::RDS::DBInstance")
        if instance.properties.get("DBInstanceClass") == SERVERLESS_INSTANCE_CLASS
        and _cluster_of(instance, stack) is cluster
    ]


def _min_acus(cluster: Resource, stack: Stack) -> tuple[Decimal, int, Decimal] | None:
    """(minimum ACUs per instance, serverless instances, their total), or None if unknown."""
    scaling = cluster.properties.get("ServerlessV2ScalingConfiguration")
    minimum = literal_decimal(scaling.get("MinCapacity")) if isinstance(scaling, dict) else None
    if minimum is None:
        return None
    instances = len(_serverless_instances(cluster, stack))
    return minimum, instances, minimum * instances


def _aurora_cluster(resource: Resource, stack: Stack, found: _Findings) -> None:
    props = resource.properties
    if not _serverless_instances(resource, stack):
        return  # provisioned instances are reported by the DB instance rule
    engine_mode = props.get("EngineMode", "provisioned")  # "serverless" is Serverless v1
    if not str(props.get("Engine", "")).startswith("aurora") or engine_mode != "provisioned":
        found.cannot_price(resource, "only Aurora Serverless v2 clusters are modeled")
        return
    acus = _min_acus(resource, stack)
    if acus is None:
        found.cannot_price(resource, "db.serverless instances but no literal MinCapacity")
        return
    minimum, instances, total = acus
    io_optimized = props.get("StorageType") == "aurora-iopt1"
    found.add(
        LineKind.AURORA_MIN_CAPACITY,
        "Aurora Serverless v2 min capacity" + (", I/O-Optimized" if io_optimized else ""),
        total,
        "ACU",
        PriceId.AURORA_IO_OPTIMIZED_ACU_HOUR
        if io_optimized
        else PriceId.AURORA_SERVERLESS_V2_ACU_HOUR,
        Period.HOUR,
        details=[f"{instances} instance(s) x {plain_number(minimum)} ACU"],
        note=(
            "0 ACU: the cluster pauses when idle; ACU-hours while it runs are usage"
            if minimum == 0
            else None
        ),
    )


def _db_instance(resource: Resource, stack: Stack, found: _Findings) -> None:
    instance_class = resource.properties.get("DBInstanceClass")
    if instance_class == SERVERLESS_INSTANCE_CLASS and _cluster_of(resource, stack) is not None:
        return  # priced with its cluster's minimum capacity
    found.cannot_price(
        resource, f"DB instance class {instance_class!r}: only Aurora db.serverless is modeled"
    )


def _db_proxy(resource: Resource, stack: Stack, found: _Findings) -> None:
    target_groups = [
        group
        for group in stack.of_type("AWS::RDS::DBProxyTargetGroup")
        if stack.target_of(group.properties.get("DBProxyName")) is resource
    ]
    targets = [
        stack.target_of(identifier)
        for group in target_groups
        for identifier in group.properties.get("DBClusterIdentifiers") or []
    ]
    instance_targets = any(g.properties.get("DBInstanceIdentifiers") for g in target_groups)
    acus = [_min_acus(t, stack) if t is not None else None for t in targets]
    if not targets or instance_targets or any(a is None or a[1] == 0 for a in acus):
        found.cannot_price(
            resource,
            "only a proxy on Aurora Serverless v2 clusters of its stack is modeled "
            "(provisioned targets are billed per vCPU)",
        )
        return
    total = sum((a[2] for a in acus if a is not None), Decimal(0))
    found.add(
        LineKind.RDS_PROXY_MIN_CAPACITY,
        "RDS Proxy on Aurora Serverless v2",
        max(RDS_PROXY_MIN_ACU, total),
        "ACU",
        PriceId.RDS_PROXY_SERVERLESS_ACU_HOUR,
        Period.HOUR,
        details=[f"billed: max(8-ACU minimum, {plain_number(total)} ACU of its targets)"],
    )


def _load_balancer(resource: Resource, stack: Stack, found: _Findings) -> None:
    props = resource.properties
    lb_type = props.get("Type", "application")
    if lb_type != "application":
        found.cannot_price(resource, f"{lb_type} load balancers are not modeled")
        return
    found.add(LineKind.ALB, "Application Load Balancer", 1, "ALB", PriceId.ALB_HOUR, Period.HOUR)
    if props.get("Scheme", "internet-facing") != "internet-facing":
        return
    if props.get("IpAddressType") == "dualstack-without-public-ipv4":
        return
    zones = list_length(props.get("Subnets")) or list_length(props.get("SubnetMappings"))
    if zones == 0:
        found.cannot_price(resource, "internet-facing ALB without Subnets to count its IPv4s")
        return
    found.add(
        LineKind.PUBLIC_IPV4_ALB,
        "Public IPv4: internet-facing ALB, 1 per AZ",
        zones,
        "address",
        PriceId.PUBLIC_IPV4_HOUR,
        Period.HOUR,
    )


class CpuArchitecture(StrEnum):
    ARM64 = "ARM64"
    X86_64 = "X86_64"


class FargateProvider(StrEnum):
    FARGATE = "FARGATE"
    FARGATE_SPOT = "FARGATE_SPOT"


SPOT_ARCHITECTURES = frozenset({CpuArchitecture.X86_64})
"""https://docs.aws.amazon.com/AmazonECS/latest/userguide/fargate-capacity-providers.html:
"Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity provider.
Fargate Spot only supports Linux tasks with the X86_64 architecture." A template pairing them
never runs its tasks, so the model reports it rather than price tasks that cannot start."""

_FARGATE_PRICES: Mapping[tuple[CpuArchitecture, FargateProvider], tuple[PriceId, PriceId]] = {
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


def _size(value: Any, unit_pattern: str, per_unit: int) -> Decimal | None:
    """'256' (CPU units or MiB) or '0.25 vCPU' / '0.5 GB' -> vCPUs or GB."""
    text = str(value).strip() if value is not None else ""
    match = re.fullmatch(rf"([0-9.]+)\s*({unit_pattern})?", text, flags=re.IGNORECASE)
    if not match:
        return None
    number = literal_decimal(match.group(1))
    if number is None:
        return None
    return number if match.group(2) else number / per_unit


def _vcpus(value: Any) -> Decimal | None:
    return _size(value, "vCPU", 1024)


def _memory_gb(value: Any) -> Decimal | None:
    return _size(value, "GB", 1024)


@dataclass(frozen=True)
class _FargateShape:
    """Where a service's tasks run and how many at least."""

    architecture: CpuArchitecture
    vcpus: Decimal
    memory_gb: Decimal
    tasks_by_provider: Mapping[FargateProvider, Decimal]
    minimum: int
    minimum_source: str
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


def _capacity_strategy(service: Resource, stack: Stack) -> Sequence[Any] | None:
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


def _fargate_shape(service: Resource, stack: Stack) -> _FargateShape | str | None:
    """The service's Fargate shape, None when it is not on Fargate, or why it cannot be known."""
    strategy = _capacity_strategy(service, stack)
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
    vcpus = _vcpus(task.properties.get("Cpu"))
    memory = _memory_gb(task.properties.get("Memory"))
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
    return _FargateShape(architecture, vcpus, memory, split, minimum, source, public_ip)


def _ecs_service(resource: Resource, stack: Stack, found: _Findings) -> None:
    shape = _fargate_shape(resource, stack)
    if shape is None:
        return
    if isinstance(shape, str):
        found.cannot_price(resource, shape)
        return
    for provider, tasks in shape.tasks_by_provider.items():
        spot = provider is FargateProvider.FARGATE_SPOT
        vcpu_price, memory_price = _FARGATE_PRICES[(shape.architecture, provider)]
        name = f"Fargate{' Spot' if spot else ''} {shape.architecture}"
        note = SPOT_NOTE if spot else None
        count = f"{plain_number(tasks)} task(s), minimum from {shape.minimum_source},"
        found.add(
            LineKind.FARGATE_VCPU,
            f"{name} vCPU",
            tasks * shape.vcpus,
            "vCPU",
            vcpu_price,
            Period.HOUR,
            details=[f"{count} x {plain_number(shape.vcpus)} vCPU each"],
            note=note,
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


def _app_runner_service(resource: Resource, stack: Stack, found: _Findings) -> None:
    props = resource.properties
    instance = props.get("InstanceConfiguration") or {}
    memory = _memory_gb(instance.get("Memory", APP_RUNNER_DEFAULT_MEMORY))
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
    source = props.get("SourceConfiguration") or {}
    if source.get("AutoDeploymentsEnabled") in (True, "true"):
        found.add(
            LineKind.APP_RUNNER_AUTOMATIC_DEPLOYMENTS,
            "App Runner automatic deployments",
            1,
            "service",
            PriceId.APP_RUNNER_AUTOMATIC_DEPLOYMENT_MONTH,
            Period.MONTH,
        )


def _api_stage(resource: Resource, stack: Stack, found: _Findings) -> None:
    if resource.properties.get("CacheClusterEnabled") not in (True, "true"):
        return
    size = str(resource.properties.get("CacheClusterSize", "0.5"))
    price = found.prices.api_gateway_cache_hour.get(size)
    if price is None:
        found.cannot_price(resource, f"no price for a {size} GB API Gateway cache")
        return
    found.add_priced(
        LineKind.API_GATEWAY_CACHE,
        f"API Gateway cache {size} GB",
        1,
        "cache",
        f"api_gateway_cache_hour.{size}",
        price,
        Period.HOUR,
    )


def _dynamodb_table(resource: Resource, stack: Stack, found: _Findings) -> None:
    if resource.properties.get("BillingMode", "PROVISIONED") == "PAY_PER_REQUEST":
        return  # on-demand: requests and storage are usage
    found.cannot_price(resource, "provisioned DynamoDB capacity is not modeled")


_PAID_MANAGED_RULE_GROUPS = frozenset(
    {
        "AWSManagedRulesBotControlRuleSet",
        "AWSManagedRulesATPRuleSet",
        "AWSManagedRulesACFPRuleSet",
        "AWSManagedRulesAntiDDoSRuleSet",
    }
)


def _web_acl(resource: Resource, stack: Stack, found: _Findings) -> None:
    rules = resource.properties.get("Rules") or []
    found.add(
        LineKind.WAF_WEB_ACL, "WAF web ACL", 1, "web ACL", PriceId.WAF_WEB_ACL_MONTH, Period.MONTH
    )
    found.add(
        LineKind.WAF_RULES,
        "WAF rules (managed groups count as one)",
        len(rules),
        "rule",
        PriceId.WAF_RULE_MONTH,
        Period.MONTH,
    )
    for rule in rules:
        group = (rule.get("Statement") or {}).get("ManagedRuleGroupStatement") or {}
        if group.get("Name") in _PAID_MANAGED_RULE_GROUPS or group.get("VendorName") not in (
            None,
            "AWS",
        ):
            found.warn(resource, f"rule group {group.get('Name')} adds a subscription fee")


DEEP_HEALTH_MARKER = '/deep"'
"""A canary URL ending in the reference app's deep health check (web -> API -> database)."""
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_MINUTES_PER = {"minute": 1, "hour": 60, "day": 1440}


def runs_per_month(expression: str) -> Decimal | None:
    """Runs a month of a ``rate(...)`` schedule; None for cron or malformed expressions."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    every = int(match.group(1)) * _MINUTES_PER[match.group(2).rstrip("s")]
    if every == 0:
        return Decimal(0)  # rate(0 minute): runs once after creation
    return HOURS_PER_MONTH * 60 / every


def _canary(resource: Resource, stack: Stack, found: _Findings) -> None:
    expression = str((resource.properties.get("Schedule") or {}).get("Expression", ""))
    runs = runs_per_month(expression)
    if runs is None:
        found.cannot_price(resource, f"schedule {expression!r} is not a rate() expression")
        return
    found.add(
        LineKind.CANARY_RUNS,
        "Synthetics canary runs",
        runs,
        "run",
        PriceId.SYNTHETICS_CANARY_RUN,
        Period.RUN,
        details=[expression, _canary_database_time(resource)],
        note="plus the canary's Lambda, S3 artifacts and logs (usage)",
    )


def _canary_database_time(resource: Resource) -> str:
    """What the canary costs in database time: nothing, by design (see web_stack)."""
    variables = (resource.properties.get("RunConfig") or {}).get("EnvironmentVariables") or {}
    if DEEP_HEALTH_MARKER in json.dumps(variables):
        return (
            "database time: none above the floor (the deep check reaches the database, which "
            "runs at its minimum anyway: never deep where it auto-pauses)"
        )
    return "database time: 0 ACU-hours (checks the web tier only, never the database)"


def _secret(resource: Resource, stack: Stack, found: _Findings) -> None:
    copies = 1 + list_length(resource.properties.get("ReplicaRegions"))
    found.add(
        LineKind.SECRETS,
        "Secrets Manager secrets",
        copies,
        "secret",
        PriceId.SECRET_MONTH,
        Period.MONTH,
        note="a rotation function's invocations are usage (Lambda)",
    )


def _kms_key(resource: Resource, stack: Stack, found: _Findings) -> None:
    found.add(
        LineKind.KMS_KEYS,
        "KMS customer managed keys",
        1,
        "key",
        PriceId.KMS_KEY_MONTH,
        Period.MONTH,
        note="automatic rotation adds 1 USD/month for each of a key's first two rotations",
    )


def _alarm(resource: Resource, stack: Stack, found: _Findings) -> None:
    props = resource.properties
    metrics = props.get("Metrics") or []
    if any("SELECT" in str(m.get("Expression", "")).upper() for m in metrics):
        found.cannot_price(resource, "Metrics Insights query alarms are not modeled")
        return
    stats = [m["MetricStat"] for m in metrics if isinstance(m.get("MetricStat"), dict)]
    periods = [s.get("Period") for s in stats] if metrics else [props.get("Period")]
    alarm_metrics = max(1, len(stats))
    if any("ANOMALY_DETECTION_BAND" in str(m.get("Expression", "")) for m in metrics):
        alarm_metrics *= 3  # an anomaly detection alarm bills three metrics per metric
    high_resolution = any((literal_decimal(p) or Decimal(60)) < 60 for p in periods)
    found.add(
        LineKind.ALARMS_HIGH_RESOLUTION if high_resolution else LineKind.ALARMS_STANDARD,
        "CloudWatch alarms, " + ("high resolution" if high_resolution else "standard resolution"),
        alarm_metrics,
        "alarm metric",
        PriceId.ALARM_HIGH_RESOLUTION_METRIC_MONTH
        if high_resolution
        else PriceId.ALARM_STANDARD_METRIC_MONTH,
        Period.MONTH,
        note="a metric math alarm bills one alarm metric per metric it reads",
    )


def _composite_alarm(resource: Resource, stack: Stack, found: _Findings) -> None:
    found.add(
        LineKind.COMPOSITE_ALARMS,
        "CloudWatch composite alarms",
        1,
        "alarm",
        PriceId.COMPOSITE_ALARM_MONTH,
        Period.MONTH,
    )


def _dashboard(resource: Resource, stack: Stack, found: _Findings) -> None:
    found.add(
        LineKind.DASHBOARDS,
        "CloudWatch dashboards",
        1,
        "dashboard",
        PriceId.DASHBOARD_MONTH,
        Period.MONTH,
        note="3 dashboards per account are free (subtracted once per account)",
    )


CLIENT_CREDENTIALS = "client_credentials"


def _is_m2m_client(resource: Resource) -> bool:
    return CLIENT_CREDENTIALS in (resource.properties.get("AllowedOAuthFlows") or [])


def _user_pool_client(resource: Resource, stack: Stack, found: _Findings) -> None:
    if not _is_m2m_client(resource):
        return  # clients of signed-in users cost nothing of their own (MAUs are usage)
    found.add(
        LineKind.COGNITO_M2M_CLIENTS,
        "Cognito machine-to-machine app clients",
        1,
        "client",
        PriceId.COGNITO_M2M_APP_CLIENT_MONTH,
        Period.MONTH,
        note="plus each token request (usage)",
    )


_FLOOR_RULES: Mapping[str, FloorRule] = {
    "AWS::EC2::NatGateway": _nat_gateway,
    "AWS::EC2::EIP": _elastic_ip,
    "AWS::EC2::Instance": _ec2_instance,
    "AWS::EC2::VPCEndpoint": _vpc_endpoint,
    "AWS::RDS::DBCluster": _aurora_cluster,
    "AWS::RDS::DBInstance": _db_instance,
    "AWS::RDS::DBProxy": _db_proxy,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _load_balancer,
    "AWS::ECS::Service": _ecs_service,
    "AWS::AppRunner::Service": _app_runner_service,
    "AWS::ApiGateway::Stage": _api_stage,
    "AWS::DynamoDB::GlobalTable": _dynamodb_table,
    "AWS::DynamoDB::Table": _dynamodb_table,
    "AWS::WAFv2::WebACL": _web_acl,
    "AWS::Synthetics::Canary": _canary,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::KMS::Key": _kms_key,
    "AWS::KMS::ReplicaKey": _kms_key,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::CloudWatch::CompositeAlarm": _composite_alarm,
    "AWS::CloudWatch::Dashboard": _dashboard,
    "AWS::Cognito::UserPoolClient": _user_pool_client,
}
"""Resource type -> the rule that prices it; exactly the ALWAYS_ON types."""

PRICED_ALWAYS_ON_TYPES = frozenset(_FLOOR_RULES)


def _merge(lines: Iterable[CostLine]) -> list[CostLine]:
    """One line per kind, description and price: quantities summed, details joined."""
    merged: dict[tuple[Any, ...], CostLine] = {}
    for line in lines:
        key = (line.kind, line.description, line.price_id, line.period, line.note)
        previous = merged.get(key)
        if previous is None:
            merged[key] = line
            continue
        details = previous.details + tuple(d for d in line.details if d not in previous.details)
        merged[key] = CostLine(
            kind=line.kind,
            description=line.description,
            quantity=previous.quantity + line.quantity,
            unit=line.unit,
            price_id=line.price_id,
            unit_price_usd=line.unit_price_usd,
            period=line.period,
            details=details,
            note=line.note,
        )
    order = list(LineKind)
    return sorted(merged.values(), key=lambda line: order.index(line.kind))


# --- Usage-priced items -----------------------------------------------------------------------


class UsageKind(StrEnum):
    """A usage-priced item of the report, in report order."""

    LAMBDA_REQUESTS = "lambda_requests"
    LAMBDA_ARM = "lambda_arm"
    LAMBDA_X86 = "lambda_x86"
    API_GATEWAY_REQUESTS = "api_gateway_requests"
    DYNAMODB_ON_DEMAND = "dynamodb_on_demand"
    DYNAMODB_PITR = "dynamodb_pitr"
    NAT_GATEWAY_DATA = "nat_gateway_data"
    INTERFACE_ENDPOINT_DATA = "interface_endpoint_data"
    AURORA_STORAGE_IO = "aurora_storage_io"
    AURORA_IO_OPTIMIZED_STORAGE = "aurora_io_optimized_storage"
    AURORA_ACU_ABOVE_MINIMUM = "aurora_acu_above_minimum"
    RDS_PROXY_ABOVE_MINIMUM = "rds_proxy_above_minimum"
    ALB_LCU = "alb_lcu"
    FARGATE_ABOVE_MINIMUM = "fargate_above_minimum"
    APP_RUNNER_ACTIVE = "app_runner_active"
    CLOUDWATCH_LOGS = "cloudwatch_logs"
    CONTAINER_INSIGHTS = "container_insights"
    S3 = "s3"
    ECR_STORAGE = "ecr_storage"
    WAF_REQUESTS = "waf_requests"
    COGNITO_M2M_TOKENS = "cognito_m2m_tokens"
    COGNITO_MAU = "cognito_mau"
    SECRETS_API = "secrets_api"
    KMS_REQUESTS = "kms_requests"
    XRAY_TRACES = "xray_traces"
    SNS_EMAIL = "sns_email"
    ROUTE53_QUERIES = "route53_queries"
    DATA_TRANSFER_OUT = "data_transfer_out"


@dataclass(frozen=True)
class UnitPrice:
    price_id: str
    usd: Decimal
    unit: str


@dataclass(frozen=True)
class UsageItem:
    """A cost that grows with use: its unit prices, no monthly figure."""

    kind: UsageKind
    description: str
    prices: tuple[UnitPrice, ...]


def _has(*resource_types: str) -> Callable[[Assembly], bool]:
    return lambda assembly: bool(assembly.of_type(*resource_types))


def _lambda_architectures(assembly: Assembly) -> set[str]:
    architectures = {
        arch
        for function in assembly.of_type("AWS::Lambda::Function")
        for arch in function.properties.get("Architectures") or ["x86_64"]
    }
    if assembly.of_type("AWS::Serverless::Application"):
        architectures.add("x86_64")  # the SAR rotation function
    return architectures


def _fargate_flavours(assembly: Assembly) -> set[tuple[CpuArchitecture, FargateProvider]]:
    flavours = set()
    for stack in assembly.stacks:
        for service in stack.of_type("AWS::ECS::Service"):
            shape = _fargate_shape(service, stack)
            if isinstance(shape, _FargateShape):
                providers = {
                    FargateProvider(i.get("CapacityProvider"))
                    for i in _capacity_strategy(service, stack) or []
                    if i.get("CapacityProvider") in tuple(FargateProvider)
                }
                flavours |= {(shape.architecture, provider) for provider in providers}
    return flavours


def _serverless_clusters(assembly: Assembly, io_optimized: bool) -> bool:
    return any(
        isinstance(c.properties.get("ServerlessV2ScalingConfiguration"), dict)
        and (c.properties.get("StorageType") == "aurora-iopt1") == io_optimized
        for c in assembly.of_type("AWS::RDS::DBCluster")
    )


def _on_demand_tables(assembly: Assembly) -> list[Resource]:
    return [
        table
        for table in assembly.of_type("AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table")
        if table.properties.get("BillingMode") == "PAY_PER_REQUEST"
    ]


def _pitr_enabled(table: Resource) -> bool:
    specs = [table.properties.get("PointInTimeRecoverySpecification") or {}] + [
        replica.get("PointInTimeRecoverySpecification") or {}
        for replica in table.properties.get("Replicas") or []
    ]
    return any(spec.get("PointInTimeRecoveryEnabled") in (True, "true") for spec in specs)


def _traced(assembly: Assembly) -> bool:
    functions = any(
        (f.properties.get("TracingConfig") or {}).get("Mode") == "Active"
        for f in assembly.of_type("AWS::Lambda::Function")
    )
    stages = any(
        s.properties.get("TracingEnabled") in (True, "true")
        for s in assembly.of_type("AWS::ApiGateway::Stage")
    )
    return (
        functions or stages or bool(assembly.of_type("AWS::AppRunner::ObservabilityConfiguration"))
    )


def _container_insights(assembly: Assembly) -> bool:
    return any(
        setting.get("Name") == "containerInsights" and setting.get("Value") != "disabled"
        for cluster in assembly.of_type("AWS::ECS::Cluster")
        for setting in cluster.properties.get("ClusterSettings") or []
    )


def _essentials_user_pool(assembly: Assembly) -> bool:
    return any(
        pool.properties.get("UserPoolTier", "ESSENTIALS") == "ESSENTIALS"
        for pool in assembly.of_type("AWS::Cognito::UserPool")
    )


def _internet_egress(assembly: Assembly) -> bool:
    public_load_balancers = any(
        lb.properties.get("Scheme", "internet-facing") == "internet-facing"
        for lb in assembly.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer")
    )
    return public_load_balancers or bool(
        assembly.of_type("AWS::EC2::NatGateway", "AWS::EC2::Instance", "AWS::AppRunner::Service")
    )


def _interface_endpoints(assembly: Assembly) -> bool:
    return any(
        e.properties.get("VpcEndpointType") == "Interface"
        for e in assembly.of_type("AWS::EC2::VPCEndpoint")
    )


def _m2m_clients(assembly: Assembly) -> bool:
    return any(_is_m2m_client(c) for c in assembly.of_type("AWS::Cognito::UserPoolClient"))


def _fargate(
    architecture: CpuArchitecture, provider: FargateProvider
) -> Callable[[Assembly], bool]:
    return lambda assembly: (architecture, provider) in _fargate_flavours(assembly)


@dataclass(frozen=True)
class _UsageRule:
    kind: UsageKind
    description: str
    price_ids: tuple[PriceId, ...]
    applies: Callable[[Assembly], bool]


_USAGE_RULES: tuple[_UsageRule, ...] = (
    _UsageRule(
        UsageKind.LAMBDA_REQUESTS,
        "Lambda requests",
        (PriceId.LAMBDA_REQUESTS_MILLION,),
        lambda a: bool(_lambda_architectures(a)),
    ),
    _UsageRule(
        UsageKind.LAMBDA_ARM,
        "Lambda compute (arm64 functions)",
        (PriceId.LAMBDA_ARM_GB_SECOND,),
        lambda a: "arm64" in _lambda_architectures(a),
    ),
    _UsageRule(
        UsageKind.LAMBDA_X86,
        "Lambda compute (x86_64 functions)",
        (PriceId.LAMBDA_X86_GB_SECOND,),
        lambda a: "x86_64" in _lambda_architectures(a),
    ),
    _UsageRule(
        UsageKind.API_GATEWAY_REQUESTS,
        "API Gateway REST API requests",
        (PriceId.API_GATEWAY_REST_REQUESTS_MILLION,),
        _has("AWS::ApiGateway::RestApi"),
    ),
    _UsageRule(
        UsageKind.DYNAMODB_ON_DEMAND,
        "DynamoDB on-demand requests and storage",
        (
            PriceId.DYNAMODB_WRITE_REQUEST_MILLION,
            PriceId.DYNAMODB_READ_REQUEST_MILLION,
            PriceId.DYNAMODB_STORAGE_GB_MONTH,
        ),
        lambda a: bool(_on_demand_tables(a)),
    ),
    _UsageRule(
        UsageKind.DYNAMODB_PITR,
        "DynamoDB point-in-time recovery",
        (PriceId.DYNAMODB_PITR_GB_MONTH,),
        lambda a: any(_pitr_enabled(t) for t in _on_demand_tables(a)),
    ),
    _UsageRule(
        UsageKind.NAT_GATEWAY_DATA,
        "NAT gateway data processing",
        (PriceId.NAT_GATEWAY_DATA_GB,),
        _has("AWS::EC2::NatGateway"),
    ),
    _UsageRule(
        UsageKind.INTERFACE_ENDPOINT_DATA,
        "Interface endpoint data processing",
        (PriceId.INTERFACE_ENDPOINT_DATA_GB,),
        _interface_endpoints,
    ),
    _UsageRule(
        UsageKind.AURORA_STORAGE_IO,
        "Aurora storage, I/O and backups beyond the free retention",
        (
            PriceId.AURORA_STORAGE_GB_MONTH,
            PriceId.AURORA_IO_MILLION,
            PriceId.AURORA_BACKUP_GB_MONTH,
        ),
        lambda a: _serverless_clusters(a, io_optimized=False),
    ),
    _UsageRule(
        UsageKind.AURORA_IO_OPTIMIZED_STORAGE,
        "Aurora I/O-Optimized storage and backups (no I/O charge)",
        (PriceId.AURORA_IO_OPTIMIZED_STORAGE_GB_MONTH, PriceId.AURORA_BACKUP_GB_MONTH),
        lambda a: _serverless_clusters(a, io_optimized=True),
    ),
    _UsageRule(
        UsageKind.AURORA_ACU_ABOVE_MINIMUM,
        "Aurora ACU-hours above the minimum capacity",
        (PriceId.AURORA_SERVERLESS_V2_ACU_HOUR,),
        lambda a: _serverless_clusters(a, io_optimized=False),
    ),
    _UsageRule(
        UsageKind.RDS_PROXY_ABOVE_MINIMUM,
        "RDS Proxy ACU-hours above its 8-ACU minimum",
        (PriceId.RDS_PROXY_SERVERLESS_ACU_HOUR,),
        _has("AWS::RDS::DBProxy"),
    ),
    _UsageRule(
        UsageKind.ALB_LCU,
        "ALB capacity units (LCU-hours)",
        (PriceId.ALB_LCU_HOUR,),
        _has("AWS::ElasticLoadBalancingV2::LoadBalancer"),
    ),
    *(
        _UsageRule(
            UsageKind.FARGATE_ABOVE_MINIMUM,
            f"Fargate{' Spot' if provider is FargateProvider.FARGATE_SPOT else ''} "
            f"{architecture} tasks above the minimum count",
            _FARGATE_PRICES[(architecture, provider)],
            _fargate(architecture, provider),
        )
        for (architecture, provider) in _FARGATE_PRICES
    ),
    _UsageRule(
        UsageKind.APP_RUNNER_ACTIVE,
        "App Runner active instances (vCPU and memory while serving)",
        (PriceId.APP_RUNNER_ACTIVE_VCPU_HOUR, PriceId.APP_RUNNER_ACTIVE_GB_HOUR),
        _has("AWS::AppRunner::Service"),
    ),
    _UsageRule(
        UsageKind.CLOUDWATCH_LOGS,
        "CloudWatch Logs ingestion (incl. flow/WAF logs) and storage",
        (PriceId.LOGS_INGESTION_GB, PriceId.LOGS_STORAGE_GB_MONTH),
        _has("AWS::Logs::LogGroup", "AWS::EC2::FlowLog", "AWS::WAFv2::LoggingConfiguration"),
    ),
    _UsageRule(
        UsageKind.CONTAINER_INSIGHTS,
        "ECS Container Insights (custom metrics while tasks run, performance logs)",
        (PriceId.CLOUDWATCH_METRIC_MONTH, PriceId.LOGS_INGESTION_GB),
        _container_insights,
    ),
    _UsageRule(
        UsageKind.S3,
        "S3 storage and requests",
        (PriceId.S3_STANDARD_GB_MONTH, PriceId.S3_PUT_1K, PriceId.S3_GET_1K),
        _has("AWS::S3::Bucket"),
    ),
    _UsageRule(
        UsageKind.ECR_STORAGE,
        "ECR image storage",
        (PriceId.ECR_STORAGE_GB_MONTH,),
        _has("AWS::ECR::Repository"),
    ),
    _UsageRule(
        UsageKind.WAF_REQUESTS,
        "WAF requests",
        (PriceId.WAF_REQUESTS_MILLION,),
        _has("AWS::WAFv2::WebACL"),
    ),
    _UsageRule(
        UsageKind.COGNITO_M2M_TOKENS,
        "Cognito machine-to-machine token requests",
        (PriceId.COGNITO_M2M_TOKEN_REQUEST,),
        _m2m_clients,
    ),
    _UsageRule(
        UsageKind.COGNITO_MAU,
        "Cognito monthly active users (Essentials tier)",
        (PriceId.COGNITO_ESSENTIALS_MAU,),
        _essentials_user_pool,
    ),
    _UsageRule(
        UsageKind.SECRETS_API,
        "Secrets Manager API calls",
        (PriceId.SECRETS_API_10K,),
        _has("AWS::SecretsManager::Secret"),
    ),
    _UsageRule(
        UsageKind.KMS_REQUESTS,
        "KMS requests",
        (PriceId.KMS_REQUESTS_10K,),
        _has("AWS::KMS::Key", "AWS::KMS::ReplicaKey"),
    ),
    _UsageRule(
        UsageKind.XRAY_TRACES,
        "X-Ray traces",
        (PriceId.XRAY_TRACES_MILLION,),
        _traced,
    ),
    _UsageRule(
        UsageKind.SNS_EMAIL,
        "SNS email notifications",
        (PriceId.SNS_EMAIL_100K,),
        _has("AWS::SNS::Topic"),
    ),
    _UsageRule(
        UsageKind.ROUTE53_QUERIES,
        "Route 53 queries",
        (PriceId.ROUTE53_QUERIES_MILLION,),
        _has("AWS::Route53::RecordSet"),
    ),
    _UsageRule(
        UsageKind.DATA_TRANSFER_OUT,
        "Data transfer out to the internet",
        (PriceId.DATA_TRANSFER_OUT_GB,),
        _internet_egress,
    ),
)


def _usage_items(assembly: Assembly, prices: PriceBook) -> list[UsageItem]:
    return [
        UsageItem(
            kind=rule.kind,
            description=rule.description,
            prices=tuple(
                UnitPrice(price_id.value, prices[price_id].usd, prices[price_id].unit)
                for price_id in rule.price_ids
            ),
        )
        for rule in _USAGE_RULES
        if rule.applies(assembly)
    ]


# --- Estimate ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """One assembly's monthly floor, usage-priced items, and what could not be priced."""

    name: str
    stacks: tuple[str, ...]
    lines: tuple[CostLine, ...]
    usage: tuple[UsageItem, ...]
    unpriced: tuple[Unpriced, ...]
    warnings: tuple[str, ...]

    @property
    def total_usd(self) -> Decimal:
        """The always-on floor: the sum of the lines (each rounded to the cent)."""
        return sum((line.monthly_usd for line in self.lines), Decimal("0.00"))


ALWAYS_FREE_PER_ACCOUNT: dict[LineKind, Decimal] = {
    LineKind.DASHBOARDS: Decimal(3),
    LineKind.ALARMS_STANDARD: Decimal(10),
    LineKind.CANARY_RUNS: Decimal(100),
}
"""Free every month in every account, not only in the first year (CloudWatch: 3 dashboards,
10 standard alarm metrics; Synthetics: 100 canary runs)."""


def _always_free(lines: Sequence[CostLine]) -> list[CostLine]:
    """Negative lines for the always-free allowances an account's first environment uses."""
    credits: list[CostLine] = []
    for line in lines:
        allowance = ALWAYS_FREE_PER_ACCOUNT.get(line.kind)
        if allowance is None:
            continue
        free = min(allowance, line.quantity)
        credits.append(
            CostLine(
                kind=LineKind.ALWAYS_FREE_TIER,
                description=f"Always-free tier: {line.description}",
                quantity=-free,
                unit=line.unit,
                price_id=line.price_id,
                unit_price_usd=line.unit_price_usd,
                period=line.period,
                note=f"{allowance} per account per month; counted once per account",
            )
        )
    return credits


def estimate(assembly: Assembly, prices: PriceBook, *, free_tier: bool = False) -> Estimate:
    """Price every resource of an assembly; unknown types go to ``unpriced``, never to 0.

    ``free_tier``: subtract the account's always-free allowances (give it to one environment
    per account only, since the allowances are per account)."""
    found = _Findings(prices)
    for stack in assembly.stacks:
        for resource in stack.resources.values():
            billing = billing_of(resource.type)
            if billing is None:
                found.cannot_price(resource, "resource type unknown to cost/model.py")
            elif billing is Billing.ALWAYS_ON:
                _FLOOR_RULES[resource.type](resource, stack, found)
    lines = _merge(found.lines)
    if free_tier:
        lines += _always_free(lines)
    return Estimate(
        name=assembly.name,
        stacks=tuple(stack.name for stack in assembly.stacks),
        lines=tuple(lines),
        usage=tuple(_usage_items(assembly, prices)),
        unpriced=tuple(found.unpriced),
        warnings=tuple(found.warnings),
    )
