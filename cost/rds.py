"""Rules that compute: an RDS DB instance outside an Aurora cluster (RDS for PostgreSQL or
MySQL), its storage, and the vCPUs an RDS Proxy on it bills."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from cost.lines import Findings, LineKind, Period, plain_number
from cost.prices import Price, PriceId
from cost.shapes import TRUE
from cost.templates import Resource, literal_decimal

ENGINES: Mapping[str, str] = {"postgres": "PostgreSQL", "mysql": "MySQL"}
"""The ``Engine`` values of the DB instances the model prices, and their names."""

STORAGE_TYPE = "gp3"
"""The one storage type priced: gp2, io1/io2 and magnetic are refused."""

VCPUS: Mapping[str, int] = {
    "db.t4g.micro": 2,
    "db.t4g.small": 2,
    "db.t4g.medium": 2,
    "db.m7g.large": 2,
    "db.r7g.large": 2,
}
"""vCPUs of each priced DB instance class: what RDS Proxy bills on a DB instance target.
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.DBInstanceClass.Summary.html"""

RDS_PROXY_MIN_VCPUS = Decimal(2)
"""RDS Proxy on provisioned instances bills their vCPUs, but never fewer than 2.
https://aws.amazon.com/rds/proxy/pricing/"""

BURSTABLE_PREFIXES = ("db.t4g.", "db.t3.")
"""Classes RDS runs in Unlimited mode: CPU above the baseline bills surplus credits."""


@dataclass(frozen=True)
class DbInstance:
    """A priceable RDS DB instance: its engine, class, deployment and storage."""

    engine: str
    instance_class: str
    multi_az: bool
    price: Price
    storage_gb: Decimal | None
    """``AllocatedStorage`` in GiB, None when the template gives no literal size."""

    @property
    def name(self) -> str:
        """``RDS PostgreSQL db.t4g.small Multi-AZ``."""
        deployment = " Multi-AZ" if self.multi_az else ""
        return f"RDS {ENGINES[self.engine]} {self.instance_class}{deployment}"


def is_standalone(instance: Resource) -> bool:
    """An RDS DB instance of its own, not one of an Aurora cluster's instances."""
    return "DBClusterIdentifier" not in instance.properties


def db_instance_shape(instance: Resource, found: Findings) -> DbInstance | str:
    """The instance's engine, class, deployment and price, or why the model cannot price it."""
    props = instance.properties
    engine = props.get("Engine")
    instance_class = props.get("DBInstanceClass")
    multi_az = props.get("MultiAZ", False)
    if "SourceDBInstanceIdentifier" in props:
        return "read replicas (SourceDBInstanceIdentifier) are not modeled"
    if not isinstance(engine, str) or engine.lower() not in ENGINES:
        return (
            f"DB instance engine {engine!r}: only {' and '.join(ENGINES)} instances are priced "
            "(Aurora instances are priced with their cluster)"
        )
    if not isinstance(instance_class, str):
        return f"DB instance class {instance_class!r} is not a literal class"
    if multi_az not in (*TRUE, False, "false"):
        return f"MultiAZ {multi_az!r} is not a literal true or false"
    engine = engine.lower()
    multi = multi_az in TRUE
    catalog = found.prices.rds_multi_az_instance_hour if multi else found.prices.rds_instance_hour
    price = catalog.get(f"{engine}/{instance_class}")
    if price is None:
        deployment = "Multi-AZ" if multi else "Single-AZ"
        return (
            f"no price for RDS {ENGINES[engine]} {instance_class} ({deployment}) in the price file"
        )
    size = literal_decimal(props.get("AllocatedStorage"))
    return DbInstance(engine, instance_class, multi, price, size)


def rds_instance(resource: Resource, found: Findings) -> None:
    """Its class's hours (Single-AZ or Multi-AZ) and its allocated gp3 storage."""
    shape = db_instance_shape(resource, found)
    if isinstance(shape, str):
        found.cannot_price(resource, shape)
        return
    burstable = shape.instance_class.startswith(BURSTABLE_PREFIXES)
    found.add(
        LineKind.RDS_INSTANCE,
        shape.name,
        1,
        "instance",
        shape.price,
        Period.HOUR,
        details=[
            f"{resource.logical_id}: "
            + ("a primary and its standby in another AZ" if shape.multi_az else "Single-AZ")
        ],
        note=(
            "burstable (Unlimited mode): CPU above the baseline bills surplus credits (usage)"
            if burstable
            else None
        ),
    )
    _storage(resource, shape, found)


def _storage(resource: Resource, shape: DbInstance, found: Findings) -> None:
    props = resource.properties
    storage_type = props.get("StorageType")
    if storage_type != STORAGE_TYPE:
        found.cannot_price(
            resource, f"storage type {storage_type!r}: only {STORAGE_TYPE} is modeled"
        )
        return
    extra = [name for name in ("Iops", "StorageThroughput") if name in props]
    if extra:
        found.cannot_price(
            resource,
            f"{' and '.join(extra)} set: gp3 IOPS and throughput above the baseline are not "
            "modeled",
        )
        return
    if shape.storage_gb is None or shape.storage_gb <= 0:
        found.cannot_price(
            resource,
            f"AllocatedStorage {props.get('AllocatedStorage')!r} is not a literal size in GiB",
        )
        return
    maximum = literal_decimal(props.get("MaxAllocatedStorage"))
    usage = (
        f"storage autoscaling up to MaxAllocatedStorage {plain_number(maximum)} GiB and backup "
        "storage beyond the DB's size are usage"
        if maximum is not None and maximum > shape.storage_gb
        else "backup storage beyond the DB's size is usage"
    )
    found.add(
        LineKind.RDS_STORAGE,
        f"RDS {STORAGE_TYPE} storage" + (", Multi-AZ" if shape.multi_az else ""),
        shape.storage_gb,
        "GB",
        PriceId.RDS_GP3_MULTI_AZ_GB_MONTH if shape.multi_az else PriceId.RDS_GP3_SINGLE_AZ_GB_MONTH,
        Period.MONTH,
        details=[f"{resource.logical_id}: {plain_number(shape.storage_gb)} GiB allocated"],
        note=usage,
    )


def proxy_vcpus(instance: Resource, found: Findings) -> tuple[int, str] | str:
    """(vCPUs RDS Proxy bills on this DB instance target, how), or why it cannot say.

    A Multi-AZ DB instance deployment bills its primary's vCPUs only: the proxy's target is the
    one DB instance (its standby is no target of its own and serves no connections), so the
    class's vCPUs count once. This is an assumption: AWS's pricing page prices "per vCPU of the
    underlying database instance" and says nothing of the standby."""
    shape = db_instance_shape(instance, found)
    if isinstance(shape, str):
        return shape
    vcpus = VCPUS.get(shape.instance_class)
    if vcpus is None:
        return f"vCPUs of DB instance class {shape.instance_class} unknown"
    how = f"{instance.logical_id}: {shape.instance_class}, {vcpus} vCPUs"
    if shape.multi_az:
        how += " (Multi-AZ: the primary's only, assumed)"
    return vcpus, how
