"""The always-on pricing rules: one table, from which the always-on resource types follow.

Rules that only count are rows (``cost.shapes``); the few that compute are ``Special`` rows
naming their function. A type with a rule (or a ``Modeled`` row) is always-on by definition:
``cost.billing`` reads ``ALWAYS_ON_TYPES`` from here and lists only usage and free types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cost.aurora import aurora_cluster, db_instance, db_proxy, enhanced_monitoring
from cost.backup import restore_test
from cost.compute import (
    AUTO_SCALING_GROUP,
    EXPRESS_SERVICE,
    app_runner_service,
    auto_scaling_group,
    ec2_instance,
    ecs_service,
    express_service,
)
from cost.lines import Findings, LineKind, Period
from cost.load_balancers import (
    APPLICATION,
    INTERNET_FACING,
    LOAD_BALANCER,
    NETWORK,
    PRICED_TYPES,
    nlb_public_ipv4,
)
from cost.monitoring import alarm, canary
from cost.prices import PriceId
from cost.shapes import (
    TRUE,
    Contains,
    FloorRule,
    Is,
    IsNot,
    Modeled,
    PerItem,
    PerResource,
    Special,
)
from cost.templates import Properties, Resource, Stack

M2M_CLIENT = Contains("AllowedOAuthFlows", "client_credentials")
"""A Cognito app client with the client-credentials grant: billed per month (M2M pricing)."""

INTERFACE_ENDPOINT = Is("VpcEndpointType", ("Interface",), default="Gateway")
ON_DEMAND = Is("BillingMode", ("PAY_PER_REQUEST",), default="PROVISIONED")
STANDARD_PARAMETER = Is("Tier", ("Standard",), default="Standard")
DYNAMODB_TABLES = ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable")

_PAID_MANAGED_RULE_GROUPS = frozenset(
    {
        "AWSManagedRulesBotControlRuleSet",
        "AWSManagedRulesATPRuleSet",
        "AWSManagedRulesACFPRuleSet",
        "AWSManagedRulesAntiDDoSRuleSet",
    }
)


def _paid_rule_groups(resource: Resource, stack: Stack, found: Findings) -> None:
    """A warning per managed rule group with a subscription fee of its own (not priced)."""
    for rule in resource.properties.get("Rules") or []:
        group = (rule.get("Statement") or {}).get("ManagedRuleGroupStatement") or {}
        if group.get("Name") in _PAID_MANAGED_RULE_GROUPS or group.get("VendorName") not in (
            None,
            "AWS",
        ):
            found.warn(resource, f"rule group {group.get('Name')} adds a subscription fee")


def _api_cache(resource: Resource, stack: Stack, found: Findings) -> None:
    """A stage's cache cluster, at its size's hourly price (requests are usage)."""
    if resource.properties.get("CacheClusterEnabled") not in TRUE:
        return
    size = str(resource.properties.get("CacheClusterSize", "0.5"))
    price = found.prices.api_gateway_cache_hour.get(size)
    if price is None:
        found.cannot_price(resource, f"no price for a {size} GB API Gateway cache")
        return
    found.add(
        LineKind.API_GATEWAY_CACHE, f"API Gateway cache {size} GB", 1, "cache", price, Period.HOUR
    )


def _endpoint_service(properties: Properties) -> str:
    """``com.amazonaws.us-east-1.secretsmanager`` (or its Fn::Join) -> ``secretsmanager``."""
    value = properties.get("ServiceName")
    if isinstance(value, dict) and isinstance(value.get("Fn::Join"), list):
        parts = value["Fn::Join"][1] if len(value["Fn::Join"]) == 2 else []
        value = "".join(part for part in parts if isinstance(part, str))
    text = str(value)
    match = re.match(r"^com\.amazonaws\.(?:[a-z0-9-]*\.)?(.+)$", text)
    return match.group(1).lstrip(".") if match else text


MODELED: tuple[Modeled, ...] = (
    Modeled(
        "AWS::EC2::VPCEndpoint",
        Is("VpcEndpointType", ("Gateway", "Interface"), default="Gateway"),
        "{} endpoints are not modeled",
    ),
    Modeled(LOAD_BALANCER, PRICED_TYPES, "{} load balancers are not modeled"),
    # Standard parameters are free; advanced ones bill per parameter-month (not modeled).
    # https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html
    Modeled("AWS::SSM::Parameter", STANDARD_PARAMETER, "{} SSM parameters are not modeled"),
    *(
        Modeled(table, ON_DEMAND, "provisioned DynamoDB capacity is not modeled")
        for table in DYNAMODB_TABLES  # on-demand: requests and storage are usage
    ),
)
"""Always-on types of which the model prices some shapes only; any other shape is reported."""

FLOOR_RULES: tuple[FloorRule, ...] = (
    PerResource(
        "AWS::EC2::NatGateway",
        LineKind.NAT_GATEWAY,
        "NAT gateway",
        "gateway",
        PriceId.NAT_GATEWAY_HOUR,
        Period.HOUR,
    ),
    PerResource(
        "AWS::EC2::EIP",  # public IPv4, in use or idle
        LineKind.PUBLIC_IPV4_EIP,
        "Public IPv4: Elastic IP",
        "address",
        PriceId.PUBLIC_IPV4_HOUR,
        Period.HOUR,
    ),
    Special("AWS::EC2::Instance", ec2_instance),
    Special(AUTO_SCALING_GROUP, auto_scaling_group),  # MinSize instances of its launch template
    PerItem(
        "AWS::EC2::VPCEndpoint",  # gateway endpoints (S3, DynamoDB) are free
        LineKind.INTERFACE_ENDPOINT,
        "Interface VPC endpoints",
        "AZ",
        PriceId.INTERFACE_ENDPOINT_AZ_HOUR,
        Period.HOUR,
        when=(INTERFACE_ENDPOINT,),
        items=("SubnetIds",),
        empty="interface endpoint without SubnetIds to count its AZs",
        detail=_endpoint_service,
    ),
    Special("AWS::RDS::DBCluster", aurora_cluster),
    Special("AWS::RDS::DBCluster", enhanced_monitoring),  # cluster-level: all its instances
    Special("AWS::RDS::DBInstance", db_instance),
    Special("AWS::RDS::DBInstance", enhanced_monitoring),
    Special("AWS::RDS::DBProxy", db_proxy),
    PerResource(
        LOAD_BALANCER,
        LineKind.ALB,
        "Application Load Balancer",
        "ALB",
        PriceId.ALB_HOUR,
        Period.HOUR,
        when=(APPLICATION,),
    ),
    PerItem(
        LOAD_BALANCER,
        LineKind.PUBLIC_IPV4_ALB,
        "Public IPv4: internet-facing ALB, 1 per AZ",
        "address",
        PriceId.PUBLIC_IPV4_HOUR,
        Period.HOUR,
        when=(
            APPLICATION,
            INTERNET_FACING,
            IsNot("IpAddressType", ("dualstack-without-public-ipv4",)),
        ),
        items=("Subnets", "SubnetMappings"),
        empty="internet-facing ALB without Subnets to count its IPv4s",
    ),
    PerResource(  # internal or internet-facing; its NLCUs are usage
        LOAD_BALANCER,
        LineKind.NLB,
        "Network Load Balancer",
        "NLB",
        PriceId.NLB_HOUR,
        Period.HOUR,
        when=(NETWORK,),
    ),
    Special(LOAD_BALANCER, nlb_public_ipv4),
    Special("AWS::ECS::Service", ecs_service),
    Special(EXPRESS_SERVICE, express_service),  # its tasks, and the ALB Express creates
    Special("AWS::AppRunner::Service", app_runner_service),
    Special("AWS::ApiGateway::Stage", _api_cache),  # requests are usage, on the RestApi
    PerResource(
        "AWS::WAFv2::WebACL",
        LineKind.WAF_WEB_ACL,
        "WAF web ACL",
        "web ACL",
        PriceId.WAF_WEB_ACL_MONTH,
        Period.MONTH,
    ),
    PerItem(
        "AWS::WAFv2::WebACL",
        LineKind.WAF_RULES,
        "WAF rules (managed groups count as one)",
        "rule",
        PriceId.WAF_RULE_MONTH,
        Period.MONTH,
        items=("Rules",),
    ),
    Special("AWS::WAFv2::WebACL", _paid_rule_groups),
    Special("AWS::Synthetics::Canary", canary),  # runs whether or not anyone visits
    Special("AWS::Backup::RestoreTestingSelection", restore_test),  # per run of its plan
    PerItem(
        "AWS::SecretsManager::Secret",
        LineKind.SECRETS,
        "Secrets Manager secrets",
        "secret",
        PriceId.SECRET_MONTH,
        Period.MONTH,
        items=("ReplicaRegions",),
        base=1,  # the secret itself, then each replica
        note="a rotation function's invocations are usage (Lambda)",
    ),
    *(
        PerResource(
            key_type,
            LineKind.KMS_KEYS,
            "KMS customer managed keys",
            "key",
            PriceId.KMS_KEY_MONTH,
            Period.MONTH,
            note="automatic rotation adds 1 USD/month for each of a key's first two rotations",
        )
        for key_type in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey")
    ),
    Special("AWS::CloudWatch::Alarm", alarm),
    PerResource(
        "AWS::CloudWatch::CompositeAlarm",
        LineKind.COMPOSITE_ALARMS,
        "CloudWatch composite alarms",
        "alarm",
        PriceId.COMPOSITE_ALARM_MONTH,
        Period.MONTH,
    ),
    PerResource(
        "AWS::CloudWatch::Dashboard",
        LineKind.DASHBOARDS,
        "CloudWatch dashboards",
        "dashboard",
        PriceId.DASHBOARD_MONTH,
        Period.MONTH,
        note="3 dashboards per account are free (subtracted once per account)",
    ),
    PerResource(
        "AWS::Cognito::UserPoolClient",  # clients of signed-in users: MAUs (usage)
        LineKind.COGNITO_M2M_CLIENTS,
        "Cognito machine-to-machine app clients",
        "client",
        PriceId.COGNITO_M2M_APP_CLIENT_MONTH,
        Period.MONTH,
        when=(M2M_CLIENT,),
        note="plus each token request (usage)",
    ),
)
"""Every always-on line the model prices; a type's rows run in this order."""

RULES_BY_TYPE: Mapping[str, tuple[FloorRule, ...]] = {
    resource_type: tuple(r for r in FLOOR_RULES if r.resource_type == resource_type)
    for resource_type in dict.fromkeys(r.resource_type for r in FLOOR_RULES)
}
MODELED_BY_TYPE: Mapping[str, Modeled] = {m.resource_type: m for m in MODELED}

ALWAYS_ON_TYPES = frozenset(RULES_BY_TYPE) | frozenset(MODELED_BY_TYPE)
"""The always-on types: exactly those the rules above price (or refuse in some shapes)."""


def price_always_on(resource: Resource, stack: Stack, found: Findings) -> None:
    """Every line of an always-on resource, or why its shape cannot be priced."""
    modeled = MODELED_BY_TYPE.get(resource.type)
    refusal = modeled.refusal(resource) if modeled is not None else None
    if refusal is not None:
        found.cannot_price(resource, refusal)
        return
    for rule in RULES_BY_TYPE.get(resource.type, ()):
        rule.price(resource, stack, found)
