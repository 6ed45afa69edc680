"""Elastic Load Balancing v2: which load balancer a template has, and an NLB's own addresses.

An ALB and an NLB cost the same per hour but are separate lines (and separate capacity units:
LCUs and NLCUs), so a rule for one must never count the other.
https://aws.amazon.com/elasticloadbalancing/pricing/
"""

from __future__ import annotations

from cost.lines import Findings, LineKind, Period
from cost.prices import PriceId
from cost.shapes import Is
from cost.templates import Resource, Stack, list_length

LOAD_BALANCER = "AWS::ElasticLoadBalancingV2::LoadBalancer"

APPLICATION = Is("Type", ("application",), default="application")
"""CloudFormation's default ``Type`` is ``application``."""
NETWORK = Is("Type", ("network",), default="application")
PRICED_TYPES = Is("Type", ("application", "network"), default="application")
"""Gateway load balancers are not modeled."""
INTERNET_FACING = Is("Scheme", ("internet-facing",), default="internet-facing")


def nlb_public_ipv4(resource: Resource, stack: Stack, found: Findings) -> None:
    """An internet-facing NLB's public IPv4 addresses, one per AZ (subnet).

    A subnet mapping with an ``AllocationId`` uses an Elastic IP, priced on the EIP itself; an
    internal NLB has no public address at all."""
    props = resource.properties
    if not (NETWORK.holds(props) and INTERNET_FACING.holds(props)):
        return
    mappings = [m for m in props.get("SubnetMappings") or [] if isinstance(m, dict)]
    own = list_length(props.get("Subnets")) or sum("AllocationId" not in m for m in mappings)
    if not own and not mappings:
        found.cannot_price(resource, "internet-facing NLB without Subnets to count its IPv4s")
        return
    if own:
        found.add(
            LineKind.PUBLIC_IPV4_NLB,
            "Public IPv4: internet-facing NLB, 1 per AZ",
            own,
            "address",
            PriceId.PUBLIC_IPV4_HOUR,
            Period.HOUR,
        )
