"""Usage-priced items: what grows with use, listed with unit prices where its resources exist."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from cdk_constructs.options import CpuArchitecture
from cost.compute import (
    EXPRESS_SERVICE,
    FARGATE_PRICES,
    FargateProvider,
    FargateShape,
    capacity_strategy,
    express_shape,
    fargate_name,
    fargate_shape,
    on_demand_instance,
)
from cost.load_balancers import APPLICATION, INTERNET_FACING, LOAD_BALANCER, NETWORK
from cost.prices import Price, PriceBook, PriceId
from cost.rds import BURSTABLE_PREFIXES, ENGINES, is_standalone
from cost.rules import DYNAMODB_TABLES, INTERFACE_ENDPOINT, M2M_CLIENT, ON_DEMAND
from cost.shapes import TRUE, Condition, Is
from cost.templates import Assembly, Resource, Stack


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
    RDS_STORAGE_AUTOSCALING = "rds_storage_autoscaling"
    RDS_BACKUP_STORAGE = "rds_backup_storage"
    RDS_CPU_CREDITS = "rds_cpu_credits"
    BACKUP_STORAGE = "backup_storage"
    ALB_LCU = "alb_lcu"
    NLB_NLCU = "nlb_nlcu"
    FARGATE_ABOVE_MINIMUM = "fargate_above_minimum"
    EC2_ON_DEMAND = "ec2_on_demand"
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
    CLOUDFRONT = "cloudfront"
    CLOUDFRONT_FUNCTIONS = "cloudfront_functions"
    DATA_TRANSFER_OUT = "data_transfer_out"


@dataclass(frozen=True)
class UsageItem:
    """A cost that grows with use: its unit prices, no monthly figure."""

    kind: UsageKind
    description: str
    prices: tuple[Price, ...]


Applies = Callable[[Assembly], bool]
"""Whether an assembly has what a usage item is billed on."""


def has(*resource_types: str, where: Condition | None = None) -> Applies:
    """Any resource of these types (where ``where`` holds for it)."""
    return lambda assembly: any(
        where is None or where.holds(resource.properties)
        for resource in assembly.of_type(*resource_types)
    )


def either(*tests: Applies) -> Applies:
    """Any of the tests."""
    return lambda assembly: any(test(assembly) for test in tests)


def _lambda_architectures(assembly: Assembly) -> set[str]:
    architectures = {
        arch
        for function in assembly.of_type("AWS::Lambda::Function")
        for arch in function.properties.get("Architectures") or ["x86_64"]
    }
    if assembly.of_type("AWS::Serverless::Application"):
        architectures.add("x86_64")  # the SAR rotation function
    return architectures


def _lambda(architecture: str) -> Applies:
    return lambda assembly: architecture in _lambda_architectures(assembly)


def _fargate(architecture: CpuArchitecture, provider: FargateProvider) -> Applies:
    """Any Fargate service whose tasks may run on this flavour."""

    def runs_on(service: Resource, stack: Stack) -> bool:
        shape = fargate_shape(service, stack)
        strategy = capacity_strategy(service, stack) or []
        return (
            isinstance(shape, FargateShape)
            and shape.architecture is architecture
            and provider in {item.get("CapacityProvider") for item in strategy}
        )

    def express_runs_on(service: Resource, stack: Stack) -> bool:
        """An Express service runs on the FARGATE provider only."""
        if provider is not FargateProvider.FARGATE:
            return False
        shape = express_shape(service, stack)
        return isinstance(shape, FargateShape) and shape.architecture is architecture

    return lambda assembly: (
        any(
            runs_on(service, stack)
            for stack in assembly.stacks
            for service in stack.of_type("AWS::ECS::Service")
        )
        or any(
            express_runs_on(service, stack)
            for stack in assembly.stacks
            for service in stack.of_type(EXPRESS_SERVICE)
        )
    )


def _serverless_clusters(io_optimized: bool) -> Applies:
    """Any Aurora Serverless v2 cluster, of I/O-Optimized storage or not."""
    return lambda assembly: any(
        isinstance(c.properties.get("ServerlessV2ScalingConfiguration"), dict)
        and (c.properties.get("StorageType") == "aurora-iopt1") == io_optimized
        for c in assembly.of_type("AWS::RDS::DBCluster")
    )


def _proxy_on_clusters(assembly: Assembly) -> bool:
    """Any RDS Proxy on Aurora clusters: it bills their ACUs, which grow above its minimum
    (on DB instances it bills their classes' vCPUs, a fixed floor)."""
    return any(
        group.properties.get("DBClusterIdentifiers")
        for group in assembly.of_type("AWS::RDS::DBProxyTargetGroup")
    )


def _rds_instances(
    *, multi_az: bool | None = None, autoscaling: bool = False, burstable: bool = False
) -> Applies:
    """Any RDS DB instance of its own (not Aurora's): Multi-AZ or not (None: either), with
    storage autoscaling (a MaxAllocatedStorage), of a burstable class."""

    def matches(instance: Resource) -> bool:
        props = instance.properties
        return (
            is_standalone(instance)
            and str(props.get("Engine", "")).lower() in ENGINES
            and (multi_az is None or (props.get("MultiAZ") in TRUE) == multi_az)
            and (not autoscaling or "MaxAllocatedStorage" in props)
            and (not burstable or str(props.get("DBInstanceClass")).startswith(BURSTABLE_PREFIXES))
        )

    return lambda assembly: any(matches(i) for i in assembly.of_type("AWS::RDS::DBInstance"))


def _backups(*, of_rds_instances: bool) -> Applies:
    """A backup vault, whose database is an RDS DB instance (no Aurora cluster beside one) or
    not: AWS Backup bills their snapshots at different rates."""
    rds_instances = _rds_instances()

    def applies(assembly: Assembly) -> bool:
        instances_only = rds_instances(assembly) and not assembly.of_type("AWS::RDS::DBCluster")
        return bool(assembly.of_type("AWS::Backup::BackupVault")) and (
            instances_only == of_rds_instances
        )

    return applies


def _pitr(assembly: Assembly) -> bool:
    """Any on-demand table with point-in-time recovery, on itself or a replica."""
    return any(
        _pitr_enabled(table)
        for table in assembly.of_type(*DYNAMODB_TABLES)
        if ON_DEMAND.holds(table.properties)
    )


def _pitr_enabled(table: Resource) -> bool:
    specs = [table.properties.get("PointInTimeRecoverySpecification") or {}] + [
        replica.get("PointInTimeRecoverySpecification") or {}
        for replica in table.properties.get("Replicas") or []
    ]
    return any(spec.get("PointInTimeRecoveryEnabled") in TRUE for spec in specs)


def _active_tracing(assembly: Assembly) -> bool:
    return any(
        (f.properties.get("TracingConfig") or {}).get("Mode") == "Active"
        for f in assembly.of_type("AWS::Lambda::Function")
    )


def _container_insights(assembly: Assembly) -> bool:
    return any(
        setting.get("Name") == "containerInsights" and setting.get("Value") != "disabled"
        for cluster in assembly.of_type("AWS::ECS::Cluster")
        for setting in cluster.properties.get("ClusterSettings") or []
    )


@dataclass(frozen=True)
class UsageRule:
    """A usage item: listed with ``price_ids`` where ``applies`` holds."""

    kind: UsageKind
    description: str
    price_ids: tuple[PriceId, ...]
    applies: Applies


USAGE_RULES: tuple[UsageRule, ...] = (
    UsageRule(
        UsageKind.LAMBDA_REQUESTS,
        "Lambda requests",
        (PriceId.LAMBDA_REQUESTS_MILLION,),
        has("AWS::Lambda::Function", "AWS::Serverless::Application"),
    ),
    UsageRule(
        UsageKind.LAMBDA_ARM,
        "Lambda compute (arm64 functions)",
        (PriceId.LAMBDA_ARM_GB_SECOND,),
        _lambda("arm64"),
    ),
    UsageRule(
        UsageKind.LAMBDA_X86,
        "Lambda compute (x86_64 functions)",
        (PriceId.LAMBDA_X86_GB_SECOND,),
        _lambda("x86_64"),
    ),
    UsageRule(
        UsageKind.API_GATEWAY_REQUESTS,
        "API Gateway REST API requests",
        (PriceId.API_GATEWAY_REST_REQUESTS_MILLION,),
        has("AWS::ApiGateway::RestApi"),
    ),
    UsageRule(
        UsageKind.DYNAMODB_ON_DEMAND,
        "DynamoDB on-demand requests and storage",
        (
            PriceId.DYNAMODB_WRITE_REQUEST_MILLION,
            PriceId.DYNAMODB_READ_REQUEST_MILLION,
            PriceId.DYNAMODB_STORAGE_GB_MONTH,
        ),
        has(*DYNAMODB_TABLES, where=ON_DEMAND),
    ),
    UsageRule(
        UsageKind.DYNAMODB_PITR,
        "DynamoDB point-in-time recovery",
        (PriceId.DYNAMODB_PITR_GB_MONTH,),
        _pitr,
    ),
    UsageRule(
        UsageKind.NAT_GATEWAY_DATA,
        "NAT gateway data processing",
        (PriceId.NAT_GATEWAY_DATA_GB,),
        has("AWS::EC2::NatGateway"),
    ),
    UsageRule(
        UsageKind.INTERFACE_ENDPOINT_DATA,
        "Interface endpoint data processing",
        (PriceId.INTERFACE_ENDPOINT_DATA_GB,),
        has("AWS::EC2::VPCEndpoint", where=INTERFACE_ENDPOINT),
    ),
    UsageRule(
        UsageKind.AURORA_STORAGE_IO,
        "Aurora storage, I/O and backups beyond the free retention",
        (
            PriceId.AURORA_STORAGE_GB_MONTH,
            PriceId.AURORA_IO_MILLION,
            PriceId.AURORA_BACKUP_GB_MONTH,
        ),
        _serverless_clusters(io_optimized=False),
    ),
    UsageRule(
        UsageKind.AURORA_IO_OPTIMIZED_STORAGE,
        "Aurora I/O-Optimized storage and backups (no I/O charge)",
        (PriceId.AURORA_IO_OPTIMIZED_STORAGE_GB_MONTH, PriceId.AURORA_BACKUP_GB_MONTH),
        _serverless_clusters(io_optimized=True),
    ),
    UsageRule(
        UsageKind.AURORA_ACU_ABOVE_MINIMUM,
        "Aurora ACU-hours above the minimum capacity",
        (PriceId.AURORA_SERVERLESS_V2_ACU_HOUR,),
        _serverless_clusters(io_optimized=False),
    ),
    UsageRule(
        UsageKind.RDS_PROXY_ABOVE_MINIMUM,
        "RDS Proxy ACU-hours above its 8-ACU minimum",
        (PriceId.RDS_PROXY_SERVERLESS_ACU_HOUR,),
        _proxy_on_clusters,
    ),
    UsageRule(
        UsageKind.RDS_STORAGE_AUTOSCALING,
        "RDS gp3 storage grown by autoscaling (Single-AZ)",
        (PriceId.RDS_GP3_SINGLE_AZ_GB_MONTH,),
        _rds_instances(multi_az=False, autoscaling=True),
    ),
    UsageRule(
        UsageKind.RDS_STORAGE_AUTOSCALING,
        "RDS gp3 storage grown by autoscaling (Multi-AZ)",
        (PriceId.RDS_GP3_MULTI_AZ_GB_MONTH,),
        _rds_instances(multi_az=True, autoscaling=True),
    ),
    UsageRule(
        UsageKind.RDS_BACKUP_STORAGE,
        "RDS backup storage beyond 100% of the DB's storage",
        (PriceId.RDS_BACKUP_GB_MONTH,),
        _rds_instances(),
    ),
    UsageRule(
        UsageKind.RDS_CPU_CREDITS,
        "RDS burstable classes: CPU above the baseline (surplus credits, Unlimited mode)",
        (PriceId.RDS_CPU_CREDIT_VCPU_HOUR,),
        _rds_instances(burstable=True),
    ),
    UsageRule(
        UsageKind.BACKUP_STORAGE,
        "AWS Backup storage: Aurora snapshots, DynamoDB backups",
        (PriceId.AURORA_SNAPSHOT_GB_MONTH, PriceId.DYNAMODB_BACKUP_GB_MONTH),
        _backups(of_rds_instances=False),
    ),
    UsageRule(
        UsageKind.BACKUP_STORAGE,
        "AWS Backup storage: RDS DB instance snapshots, DynamoDB backups",
        (PriceId.RDS_SNAPSHOT_GB_MONTH, PriceId.DYNAMODB_BACKUP_GB_MONTH),
        _backups(of_rds_instances=True),
    ),
    UsageRule(
        UsageKind.ALB_LCU,
        "ALB capacity units (LCU-hours)",
        (PriceId.ALB_LCU_HOUR,),
        either(has(LOAD_BALANCER, where=APPLICATION), has(EXPRESS_SERVICE)),  # Express's own ALB
    ),
    UsageRule(
        UsageKind.NLB_NLCU,
        "NLB capacity units (NLCU-hours)",
        (PriceId.NLB_NLCU_HOUR,),
        has(LOAD_BALANCER, where=NETWORK),
    ),
    *(
        UsageRule(
            UsageKind.FARGATE_ABOVE_MINIMUM,
            f"{fargate_name(architecture, provider)} tasks above the minimum count",
            prices,
            _fargate(architecture, provider),
        )
        for (architecture, provider), prices in FARGATE_PRICES.items()
    ),
    UsageRule(
        UsageKind.APP_RUNNER_ACTIVE,
        "App Runner active instances (vCPU and memory while serving)",
        (PriceId.APP_RUNNER_ACTIVE_VCPU_HOUR, PriceId.APP_RUNNER_ACTIVE_GB_HOUR),
        has("AWS::AppRunner::Service"),
    ),
    UsageRule(
        UsageKind.CLOUDWATCH_LOGS,
        "CloudWatch Logs ingestion (incl. flow/WAF logs) and storage",
        (PriceId.LOGS_INGESTION_GB, PriceId.LOGS_STORAGE_GB_MONTH),
        has("AWS::Logs::LogGroup", "AWS::EC2::FlowLog", "AWS::WAFv2::LoggingConfiguration"),
    ),
    UsageRule(
        UsageKind.CONTAINER_INSIGHTS,
        "ECS Container Insights (custom metrics while tasks run, performance logs)",
        (PriceId.CLOUDWATCH_METRIC_MONTH, PriceId.LOGS_INGESTION_GB),
        _container_insights,
    ),
    UsageRule(
        UsageKind.S3,
        "S3 storage and requests",
        (PriceId.S3_STANDARD_GB_MONTH, PriceId.S3_PUT_1K, PriceId.S3_GET_1K),
        has("AWS::S3::Bucket"),
    ),
    UsageRule(
        UsageKind.ECR_STORAGE,
        "ECR image storage",
        (PriceId.ECR_STORAGE_GB_MONTH,),
        has("AWS::ECR::Repository"),
    ),
    UsageRule(
        UsageKind.WAF_REQUESTS,
        "WAF requests",
        (PriceId.WAF_REQUESTS_MILLION,),
        has("AWS::WAFv2::WebACL"),
    ),
    UsageRule(
        UsageKind.COGNITO_M2M_TOKENS,
        "Cognito machine-to-machine token requests",
        (PriceId.COGNITO_M2M_TOKEN_REQUEST,),
        has("AWS::Cognito::UserPoolClient", where=M2M_CLIENT),
    ),
    UsageRule(
        UsageKind.COGNITO_MAU,
        "Cognito monthly active users (Essentials tier)",
        (PriceId.COGNITO_ESSENTIALS_MAU,),
        has("AWS::Cognito::UserPool", where=Is("UserPoolTier", ("ESSENTIALS",), "ESSENTIALS")),
    ),
    UsageRule(
        UsageKind.SECRETS_API,
        "Secrets Manager API calls",
        (PriceId.SECRETS_API_10K,),
        has("AWS::SecretsManager::Secret"),
    ),
    UsageRule(
        UsageKind.KMS_REQUESTS,
        "KMS requests",
        (PriceId.KMS_REQUESTS_10K,),
        has("AWS::KMS::Key", "AWS::KMS::ReplicaKey"),
    ),
    UsageRule(
        UsageKind.XRAY_TRACES,
        "X-Ray traces",
        (PriceId.XRAY_TRACES_MILLION,),
        either(
            _active_tracing,
            has("AWS::ApiGateway::Stage", where=Is("TracingEnabled", TRUE)),
            has("AWS::AppRunner::ObservabilityConfiguration"),
        ),
    ),
    UsageRule(
        UsageKind.SNS_EMAIL,
        "SNS email notifications",
        (PriceId.SNS_EMAIL_100K,),
        has("AWS::SNS::Topic"),
    ),
    UsageRule(
        UsageKind.ROUTE53_QUERIES,
        "Route 53 queries",
        (PriceId.ROUTE53_QUERIES_MILLION,),
        has("AWS::Route53::RecordSet"),
    ),
    UsageRule(
        UsageKind.CLOUDFRONT,
        "CloudFront HTTPS requests and data transfer out",
        (PriceId.CLOUDFRONT_HTTPS_REQUESTS_10K, PriceId.CLOUDFRONT_DATA_TRANSFER_GB),
        has("AWS::CloudFront::Distribution"),
    ),
    UsageRule(
        UsageKind.CLOUDFRONT_FUNCTIONS,
        "CloudFront Functions invocations",
        (PriceId.CLOUDFRONT_FUNCTION_INVOCATIONS_MILLION,),
        has("AWS::CloudFront::Function"),
    ),
    UsageRule(
        UsageKind.DATA_TRANSFER_OUT,
        "Data transfer out to the internet",
        (PriceId.DATA_TRANSFER_OUT_GB,),
        either(
            has(LOAD_BALANCER, where=INTERNET_FACING),
            has("AWS::EC2::NatGateway", "AWS::EC2::Instance", "AWS::AppRunner::Service"),
        ),
    ),
)
"""Every usage item, in report order."""


def usage_items(assembly: Assembly, prices: PriceBook) -> list[UsageItem]:
    """The usage items of an assembly's resources, with their unit prices, in report order."""
    items = [
        UsageItem(
            kind=rule.kind,
            description=rule.description,
            prices=tuple(prices[price_id] for price_id in rule.price_ids),
        )
        for rule in USAGE_RULES
        if rule.applies(assembly)
    ]
    order = list(UsageKind)
    later = [
        index
        for index, item in enumerate(items)
        if order.index(item.kind) > order.index(UsageKind.EC2_ON_DEMAND)
    ]
    at = later[0] if later else len(items)
    return [*items[:at], *_on_demand_instances(assembly, prices), *items[at:]]


def _on_demand_instances(assembly: Assembly, prices: PriceBook) -> list[UsageItem]:
    """One item per instance type run on demand only (the operators' access instance): its
    hours while started (``make db-tunnel`` starts it; it stops itself when idle)."""
    types = sorted(
        {
            str(instance.properties.get("InstanceType"))
            for instance in assembly.of_type("AWS::EC2::Instance")
            if on_demand_instance(instance)
        }
    )
    return [
        UsageItem(
            kind=UsageKind.EC2_ON_DEMAND,
            description=f"EC2 {name} hours while started on demand (operators' access instance)",
            prices=(prices.ec2_instance_hour[name],),
        )
        for name in types
        if name in prices.ec2_instance_hour
    ]
