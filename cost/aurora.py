"""Rules that compute: Aurora Serverless v2 minimum capacity (Aurora PostgreSQL and Aurora
MySQL alike), which DB instance rule prices an instance, the RDS Proxy (on Serverless v2 clusters
or on RDS DB instances), and RDS Enhanced Monitoring's log data."""

from __future__ import annotations

from decimal import Decimal

from cost.lines import HOURS_PER_MONTH, Findings, LineKind, Period, plain_number
from cost.prices import PriceId
from cost.rds import RDS_PROXY_MIN_VCPUS, is_standalone, proxy_vcpus, rds_instance
from cost.templates import Resource, Stack, literal_decimal

RDS_PROXY_MIN_ACU = Decimal(8)
"""RDS Proxy on Aurora Serverless v2 bills the target's ACUs, but never fewer than 8."""

AURORA_ENGINE_PREFIX = "aurora"
"""``aurora-postgresql``, ``aurora-mysql`` (and the legacy ``aurora``): one ACU price for all."""

SERVERLESS_INSTANCE_CLASS = "db.serverless"

ENHANCED_MONITORING_KIB_PER_SAMPLE = Decimal(12)
"""Assumed size of one instance's Enhanced Monitoring sample in ``RDSOSMetrics``: about 2 KiB of
OS counters plus the process list (some 50 processes of ~200 bytes for PostgreSQL, one process
per connection; MySQL, one process with threads, lists fewer, so the figure is on the high side
there). AWS documents no figure; the log group's ``IncomingBytes`` metric gives the real one."""
KIB_PER_GB = Decimal(1024 * 1024)
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600


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


def aurora_cluster(resource: Resource, stack: Stack, found: Findings) -> None:
    """The minimum ACUs of its db.serverless instances, every hour (0 when it can pause): the
    same ACU price for Aurora PostgreSQL and Aurora MySQL."""
    props = resource.properties
    engine = props.get("Engine")
    if not isinstance(engine, str) or not engine.startswith(AURORA_ENGINE_PREFIX):
        found.cannot_price(
            resource,
            f"DB cluster engine {engine!r}: only Aurora clusters are modeled "
            "(not Multi-AZ DB clusters of RDS for PostgreSQL or MySQL)",
        )
        return
    if not _serverless_instances(resource, stack):
        return  # provisioned instances are reported by the DB instance rule
    engine_mode = props.get("EngineMode", "provisioned")  # "serverless" is Serverless v1
    if engine_mode != "provisioned":
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
        details=[f"{engine}: {instances} instance(s) x {plain_number(minimum)} ACU"],
        note=(
            "0 ACU: the cluster pauses when idle; ACU-hours while it runs are usage"
            if minimum == 0
            else None
        ),
    )


def db_instance(resource: Resource, stack: Stack, found: Findings) -> None:
    """An Aurora cluster's db.serverless instance is priced with its cluster, and an RDS DB
    instance of its own by the RDS rule; Aurora provisioned instances are not modeled."""
    instance_class = resource.properties.get("DBInstanceClass")
    if is_standalone(resource):
        if instance_class == SERVERLESS_INSTANCE_CLASS:
            found.cannot_price(resource, "a db.serverless instance without an Aurora cluster")
        else:
            rds_instance(resource, found)
        return
    if instance_class == SERVERLESS_INSTANCE_CLASS and _cluster_of(resource, stack) is not None:
        return
    found.cannot_price(
        resource,
        f"DB instance class {instance_class!r}: of an Aurora cluster's instances only "
        "db.serverless is modeled",
    )


def _proxy_targets(proxy: Resource, stack: Stack, key: str) -> list[Resource | None]:
    """The resources its target groups list under ``key`` (None where not in its stack)."""
    return [
        _resolve(identifier, stack, key)
        for group in stack.of_type("AWS::RDS::DBProxyTargetGroup")
        if stack.target_of(group.properties.get("DBProxyName")) is proxy
        for identifier in group.properties.get(key) or []
    ]


_IDENTIFIER_TYPES = {
    "DBClusterIdentifiers": ("AWS::RDS::DBCluster", "DBClusterIdentifier"),
    "DBInstanceIdentifiers": ("AWS::RDS::DBInstance", "DBInstanceIdentifier"),
}


def _resolve(identifier: object, stack: Stack, key: str) -> Resource | None:
    """A target by ``Ref``, or by the literal identifier a resource of its stack declares."""
    target = stack.target_of(identifier)
    if target is not None or not isinstance(identifier, str):
        return target
    resource_type, name = _IDENTIFIER_TYPES[key]
    return next(
        (r for r in stack.of_type(resource_type) if r.properties.get(name) == identifier), None
    )


def db_proxy(resource: Resource, stack: Stack, found: Findings) -> None:
    """On Aurora Serverless v2 clusters: their ACUs, never fewer than 8. On RDS DB instances:
    their classes' vCPUs, never fewer than 2 (https://aws.amazon.com/rds/proxy/pricing/)."""
    clusters = _proxy_targets(resource, stack, "DBClusterIdentifiers")
    instances = _proxy_targets(resource, stack, "DBInstanceIdentifiers")
    if instances and not clusters:
        _proxy_on_instances(resource, instances, found)
        return
    acus = [_min_acus(t, stack) if t is not None else None for t in clusters]
    if not clusters or instances or any(a is None or a[1] == 0 for a in acus):
        found.cannot_price(
            resource,
            "only a proxy on Aurora Serverless v2 clusters or on RDS DB instances of its stack "
            "is modeled (Aurora provisioned targets are billed per vCPU)",
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


def _proxy_on_instances(proxy: Resource, instances: list[Resource | None], found: Findings) -> None:
    """The vCPUs of its DB instance targets' classes, never fewer than 2."""
    billed: list[tuple[int, str]] = []
    for instance in instances:
        if instance is None or not is_standalone(instance):
            found.cannot_price(
                proxy,
                "a DB instance target that is not an RDS DB instance of its stack "
                "(Aurora instances are targeted through their cluster)",
            )
            return
        vcpus = proxy_vcpus(instance, found)
        if isinstance(vcpus, str):
            found.cannot_price(proxy, f"its target {instance.logical_id}: {vcpus}")
            return
        billed.append(vcpus)
    total = Decimal(sum(count for count, _ in billed))
    found.add(
        LineKind.RDS_PROXY_VCPU,
        "RDS Proxy on RDS DB instances",
        max(RDS_PROXY_MIN_VCPUS, total),
        "vCPU",
        PriceId.RDS_PROXY_VCPU_HOUR,
        Period.HOUR,
        details=[
            *(how for _, how in billed),
            f"billed: max(2-vCPU minimum, {plain_number(total)} vCPUs of its targets)",
        ],
    )


def _instances_of(cluster: Resource, stack: Stack) -> list[Resource]:
    return [i for i in stack.of_type("AWS::RDS::DBInstance") if _cluster_of(i, stack) is cluster]


def enhanced_monitoring(resource: Resource, stack: Stack, found: Findings) -> None:
    """The OS metrics RDS writes to CloudWatch Logs for each monitored instance, billed as log
    ingestion (``MonitoringInterval`` on an instance, or on a cluster for all its instances).
    An RDS DB instance counts once, Multi-AZ or not (assumed: its standby's host is not
    sampled)."""
    raw = resource.properties.get("MonitoringInterval")
    interval = literal_decimal(raw) if raw is not None else Decimal(0)
    if interval is None or interval < 0:
        found.cannot_price(
            resource, f"MonitoringInterval {raw!r} is not a literal number of seconds"
        )
        return
    if interval == 0:
        return
    cluster_level = resource.type == "AWS::RDS::DBCluster"
    count = len(_instances_of(resource, stack)) if cluster_level else 1
    samples = SECONDS_PER_MONTH / interval
    found.add(
        LineKind.RDS_ENHANCED_MONITORING,
        "Enhanced Monitoring (RDSOSMetrics logs)",
        count * samples * ENHANCED_MONITORING_KIB_PER_SAMPLE / KIB_PER_GB,
        "GB",
        PriceId.LOGS_INGESTION_GB,
        Period.MONTH,
        details=[
            f"{resource.logical_id}: "
            + (f"{count} instance(s) x " if cluster_level else "")
            + f"{plain_number(samples)} samples (every {plain_number(interval)} s) x "
            f"{plain_number(ENHANCED_MONITORING_KIB_PER_SAMPLE)} KiB (assumed)"
        ],
        note="billed as log ingestion; plus its storage, 30 days by default (logs usage); "
        "the free 5 GB of log data per account is not subtracted",
    )
