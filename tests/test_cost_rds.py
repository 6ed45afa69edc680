"""`make cost` on the database engines beside Aurora PostgreSQL Serverless v2: Aurora MySQL
Serverless v2, single RDS DB instances (RDS for PostgreSQL and MySQL, Single-AZ or Multi-AZ, gp3)
and RDS Proxy on such an instance, on hand-made templates shaped as CDK renders them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cost.estimate import Estimate
from cost.lines import CostLine, LineKind
from cost.prices import PriceId, load_prices
from cost.rds import ENGINES, RDS_PROXY_MIN_VCPUS, VCPUS
from cost.usage import UsageKind
from tests.cost_helpers import HOURS, cents, estimate_of, resource, write_assembly
from tests.template_queries import ref

ACU_HOUR = Decimal("0.12")
PROXY_ACU_HOUR = Decimal("0.015")
PROXY_VCPU_HOUR = Decimal("0.015")
GP3_SINGLE_AZ = Decimal("0.115")
GP3_MULTI_AZ = Decimal("0.23")

SINGLE_AZ_HOUR = {
    ("postgres", "db.t4g.micro"): Decimal("0.016"),
    ("postgres", "db.t4g.small"): Decimal("0.032"),
    ("postgres", "db.t4g.medium"): Decimal("0.065"),
    ("postgres", "db.m7g.large"): Decimal("0.176"),
    ("postgres", "db.r7g.large"): Decimal("0.248"),
    ("mysql", "db.t4g.micro"): Decimal("0.016"),
    ("mysql", "db.t4g.small"): Decimal("0.032"),
    ("mysql", "db.t4g.medium"): Decimal("0.065"),
    ("mysql", "db.m7g.large"): Decimal("0.168"),
    ("mysql", "db.r7g.large"): Decimal("0.237"),
}
"""The list prices of the file, written out: a changed price must change this test too."""


def db_instance(
    engine: str = "postgres",
    instance_class: str = "db.t4g.micro",
    *,
    multi_az: Any = False,
    **overrides: Any,
) -> dict[str, Any]:
    """An RDS DB instance as CDK's ``rds.DatabaseInstance`` renders it (AllocatedStorage is a
    string, MultiAZ a boolean, MaxAllocatedStorage a number)."""
    properties: dict[str, Any] = {
        "Engine": engine,
        "EngineVersion": "16.4" if engine == "postgres" else "8.0.39",
        "DBInstanceClass": instance_class,
        "MultiAZ": multi_az,
        "StorageType": "gp3",
        "AllocatedStorage": "20",
        "MaxAllocatedStorage": 100,
        "StorageEncrypted": True,
        "DBSubnetGroupName": ref("SubnetGroup"),
        "CopyTagsToSnapshot": True,
        "BackupRetentionPeriod": 7,
    }
    properties.update(overrides)
    return resource(
        "AWS::RDS::DBInstance", **{k: v for k, v in properties.items() if v is not None}
    )


def proxy(engine_family: str, **targets: Any) -> dict[str, dict[str, Any]]:
    """An RDS Proxy and its default target group, as CDK's ``rds.DatabaseProxy`` renders them."""
    return {
        "Proxy": resource(
            "AWS::RDS::DBProxy",
            EngineFamily=engine_family,
            RequireTLS=True,
            Auth=[{"AuthScheme": "SECRETS", "IAMAuth": "DISABLED"}],
        ),
        "ProxyTargets": resource(
            "AWS::RDS::DBProxyTargetGroup",
            DBProxyName=ref("Proxy"),
            TargetGroupName="default",
            ConnectionPoolConfigurationInfo={},
            **targets,
        ),
    }


def priced(tmp_path: Path, resources: dict[str, dict[str, Any]], name: str = "db") -> Estimate:
    write_assembly(
        tmp_path,
        name,
        {"Data": {"SubnetGroup": resource("AWS::RDS::DBSubnetGroup"), **resources}},
    )
    return estimate_of(tmp_path, name)


def lines_of(result: Estimate, kind: LineKind) -> list[CostLine]:
    return [line for line in result.lines if line.kind is kind]


# --- Single RDS DB instances -----------------------------------------------------------------


CASES = [
    ("postgres", "db.t4g.micro", False, "20"),
    ("postgres", "db.t4g.small", True, "20"),
    ("mysql", "db.t4g.micro", False, "20"),
    ("mysql", "db.m7g.large", True, "100"),
    ("postgres", "db.r7g.large", "true", "50"),  # MultiAZ as a string is the same
    ("mysql", "db.t4g.medium", False, "400"),
]


@pytest.mark.parametrize(("engine", "instance_class", "multi_az", "storage"), CASES)
def test_an_rds_instance_is_its_class_hours_and_its_gp3_storage(
    engine: str, instance_class: str, multi_az: Any, storage: str, tmp_path: Path
) -> None:
    multi = multi_az in (True, "true")
    result = priced(
        tmp_path,
        {"Db": db_instance(engine, instance_class, multi_az=multi_az, AllocatedStorage=storage)},
    )

    assert result.unpriced == ()
    (instance,) = lines_of(result, LineKind.RDS_INSTANCE)
    (disk,) = lines_of(result, LineKind.RDS_STORAGE)
    hourly = SINGLE_AZ_HOUR[(engine, instance_class)] * (2 if multi else 1)
    assert instance.unit_price_usd == hourly
    assert instance.monthly_usd == cents(hourly * HOURS)
    assert instance.description == (
        f"RDS {ENGINES[engine]} {instance_class}" + (" Multi-AZ" if multi else "")
    )
    assert disk.quantity == Decimal(storage)
    assert disk.unit_price_usd == (GP3_MULTI_AZ if multi else GP3_SINGLE_AZ)
    assert disk.monthly_usd == cents(Decimal(storage) * disk.unit_price_usd)
    assert result.total_usd == instance.monthly_usd + disk.monthly_usd


def test_multi_az_bills_twice_the_instance_hour_and_twice_the_storage(tmp_path: Path) -> None:
    single = priced(tmp_path, {"Db": db_instance("postgres", "db.t4g.small")}, "single")
    multi = priced(tmp_path, {"Db": db_instance("postgres", "db.t4g.small", multi_az=True)}, "az")

    assert multi.total_usd == 2 * single.total_usd == Decimal("51.32")  # 2 x (23.36 + 2.30)
    (line,) = lines_of(multi, LineKind.RDS_INSTANCE)
    assert line.details == ("Db: a primary and its standby in another AZ",)


def test_the_lines_say_what_grows_with_use(tmp_path: Path) -> None:
    """Storage autoscaling, backups and CPU credits are usage: said on the lines, listed with
    their unit prices."""
    result = priced(
        tmp_path,
        {
            "Small": db_instance("postgres", "db.t4g.small"),
            "Large": db_instance("mysql", "db.m7g.large", multi_az=True, MaxAllocatedStorage=None),
        },
    )

    notes = {line.description: line.note for line in result.lines}
    assert notes["RDS PostgreSQL db.t4g.small"] == (
        "burstable (Unlimited mode): CPU above the baseline bills surplus credits (usage)"
    )
    assert notes["RDS MySQL db.m7g.large Multi-AZ"] is None
    assert notes["RDS gp3 storage"] == (
        "storage autoscaling up to MaxAllocatedStorage 100 GiB and backup storage beyond the "
        "DB's size are usage"
    )
    assert notes["RDS gp3 storage, Multi-AZ"] == "backup storage beyond the DB's size is usage"
    usage = {item.description: [p.id for p in item.prices] for item in result.usage}
    assert usage["RDS gp3 storage grown by autoscaling (Single-AZ)"] == [
        PriceId.RDS_GP3_SINGLE_AZ_GB_MONTH
    ]
    assert "RDS gp3 storage grown by autoscaling (Multi-AZ)" not in usage  # no Max on it
    assert usage["RDS backup storage beyond 100% of the DB's storage"] == [
        PriceId.RDS_BACKUP_GB_MONTH
    ]
    kinds = {item.kind for item in result.usage}
    assert UsageKind.RDS_CPU_CREDITS in kinds
    assert not kinds & {
        UsageKind.AURORA_STORAGE_IO,
        UsageKind.AURORA_ACU_ABOVE_MINIMUM,
        UsageKind.RDS_PROXY_ABOVE_MINIMUM,
    }


def test_no_cpu_credits_without_a_burstable_class(tmp_path: Path) -> None:
    result = priced(tmp_path, {"Db": db_instance("postgres", "db.r7g.large")})

    assert UsageKind.RDS_CPU_CREDITS not in {item.kind for item in result.usage}


REFUSED = [
    pytest.param(
        {"DBInstanceClass": "db.x2g.large"},
        "no price for RDS PostgreSQL db.x2g.large (Single-AZ) in the price file",
        id="unknown-class",
    ),
    pytest.param(
        {"DBInstanceClass": "db.t4g.large", "MultiAZ": True},
        "no price for RDS PostgreSQL db.t4g.large (Multi-AZ) in the price file",
        id="unknown-class-multi-az",
    ),
    pytest.param(
        {"Engine": "mariadb"},
        "DB instance engine 'mariadb': only postgres and mysql instances are priced "
        "(Aurora instances are priced with their cluster)",
        id="unknown-engine",
    ),
    pytest.param(
        {"Engine": "aurora-mysql", "DBInstanceClass": "db.r7g.large"},
        "DB instance engine 'aurora-mysql': only postgres and mysql instances are priced "
        "(Aurora instances are priced with their cluster)",
        id="aurora-engine-without-cluster",
    ),
    pytest.param(
        {"DBInstanceClass": {"Ref": "InstanceClass"}},
        "DB instance class {'Ref': 'InstanceClass'} is not a literal class",
        id="class-not-literal",
    ),
    pytest.param(
        {"MultiAZ": {"Ref": "HighAvailability"}},
        "MultiAZ {'Ref': 'HighAvailability'} is not a literal true or false",
        id="multi-az-not-literal",
    ),
    pytest.param(
        {"DBInstanceClass": "db.serverless"},
        "a db.serverless instance without an Aurora cluster",
        id="serverless-without-cluster",
    ),
    pytest.param(
        {"SourceDBInstanceIdentifier": ref("Primary")},
        "read replicas (SourceDBInstanceIdentifier) are not modeled",
        id="read-replica",
    ),
]


@pytest.mark.parametrize(("changes", "reason"), REFUSED)
def test_an_instance_the_model_cannot_price_is_reported_with_its_reason(
    changes: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    result = priced(tmp_path, {"Db": db_instance(**changes)})

    assert [(u.logical_id, u.reason) for u in result.unpriced] == [("Db", reason)]
    assert result.lines == ()


STORAGE_REFUSED = [
    pytest.param({"StorageType": "gp2"}, "storage type 'gp2': only gp3 is modeled", id="gp2"),
    pytest.param({"StorageType": "io1"}, "storage type 'io1': only gp3 is modeled", id="io1"),
    pytest.param({"StorageType": None}, "storage type None: only gp3 is modeled", id="default"),
    pytest.param(
        {"AllocatedStorage": {"Ref": "Size"}},
        "AllocatedStorage {'Ref': 'Size'} is not a literal size in GiB",
        id="size-not-literal",
    ),
    pytest.param(
        {"AllocatedStorage": None},
        "AllocatedStorage None is not a literal size in GiB",
        id="no-size",
    ),
    pytest.param(
        {"AllocatedStorage": "400", "Iops": 15000, "StorageThroughput": 600},
        "Iops and StorageThroughput set: gp3 IOPS and throughput above the baseline are not "
        "modeled",
        id="provisioned-iops",
    ),
]


@pytest.mark.parametrize(("changes", "reason"), STORAGE_REFUSED)
def test_storage_the_model_cannot_price_is_reported_beside_the_instance_hours(
    changes: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    result = priced(tmp_path, {"Db": db_instance(**changes)})

    assert [(u.logical_id, u.reason) for u in result.unpriced] == [("Db", reason)]
    assert [line.kind for line in result.lines] == [LineKind.RDS_INSTANCE]


def test_aurora_provisioned_instances_stay_unmodelled(tmp_path: Path) -> None:
    result = priced(
        tmp_path,
        {
            "Cluster": resource("AWS::RDS::DBCluster", Engine="aurora-mysql"),
            "Writer": resource(
                "AWS::RDS::DBInstance",
                DBClusterIdentifier=ref("Cluster"),
                DBInstanceClass="db.r7g.large",
                Engine="aurora-mysql",
            ),
        },
    )

    assert [(u.logical_id, u.reason) for u in result.unpriced] == [
        (
            "Writer",
            "DB instance class 'db.r7g.large': of an Aurora cluster's instances only "
            "db.serverless is modeled",
        )
    ]


def test_a_multi_az_db_cluster_of_rds_is_reported_not_priced_at_zero(tmp_path: Path) -> None:
    result = priced(
        tmp_path,
        {
            "Cluster": resource(
                "AWS::RDS::DBCluster",
                Engine="postgres",
                DBClusterInstanceClass="db.m7g.large",
                StorageType="gp3",
                AllocatedStorage=100,
            )
        },
    )

    assert [(u.logical_id, u.reason) for u in result.unpriced] == [
        (
            "Cluster",
            "DB cluster engine 'postgres': only Aurora clusters are modeled "
            "(not Multi-AZ DB clusters of RDS for PostgreSQL or MySQL)",
        )
    ]


def test_every_priced_class_has_both_deployments_both_engines_and_its_vcpus() -> None:
    """The classes the platform offers, priced for each engine Single-AZ and Multi-AZ (twice),
    each entry with its unit and source, each class with the vCPUs RDS Proxy bills."""
    prices = load_prices()
    classes = {"db.t4g.micro", "db.t4g.small", "db.t4g.medium", "db.m7g.large", "db.r7g.large"}
    expected = {f"{engine}/{c}" for engine in ENGINES for c in classes}

    assert set(prices.rds_instance_hour) == expected
    assert set(prices.rds_multi_az_instance_hour) == expected
    assert set(VCPUS) == classes
    for key, single in prices.rds_instance_hour.items():
        multi = prices.rds_multi_az_instance_hour[key]
        engine, instance_class = key.split("/")
        assert single.usd == SINGLE_AZ_HOUR[(engine, instance_class)]
        assert multi.usd == 2 * single.usd, key
        for price, deployment in ((single, "Single-AZ"), (multi, "Multi-AZ")):
            assert price.unit.startswith("DB instance-hour"), key
            assert deployment in price.unit, key
            assert f"RDS for {ENGINES[engine]}" in price.unit, key
            assert price.source == f"https://aws.amazon.com/rds/{ENGINES[engine].lower()}/pricing/"
    assert prices[PriceId.RDS_GP3_MULTI_AZ_GB_MONTH].usd == 2 * GP3_SINGLE_AZ
    assert prices[PriceId.RDS_GP3_SINGLE_AZ_GB_MONTH].usd == GP3_SINGLE_AZ


@pytest.mark.parametrize("database", ["instance", "aurora"])
def test_aws_backup_storage_is_priced_at_the_snapshot_rate_of_the_database(
    database: str, tmp_path: Path
) -> None:
    """AWS Backup bills an RDS DB instance's snapshots at RDS's backup rate, an Aurora
    cluster's at Aurora's, none of it free."""
    resources = (
        {"Db": db_instance("mysql")}
        if database == "instance"
        else serverless_cluster("aurora-mysql", 0)
    )
    result = priced(tmp_path, {**resources, "Vault": resource("AWS::Backup::BackupVault")})

    (item,) = [item for item in result.usage if item.kind is UsageKind.BACKUP_STORAGE]
    snapshots = (
        PriceId.RDS_SNAPSHOT_GB_MONTH
        if database == "instance"
        else PriceId.AURORA_SNAPSHOT_GB_MONTH
    )
    assert [price.id for price in item.prices] == [snapshots, PriceId.DYNAMODB_BACKUP_GB_MONTH]
    assert item.prices[0].usd == (Decimal("0.095") if database == "instance" else Decimal("0.021"))


# --- Aurora MySQL Serverless v2: priced as Aurora PostgreSQL -----------------------------------


def serverless_cluster(engine: str, min_capacity: float) -> dict[str, dict[str, Any]]:
    return {
        "Cluster": resource(
            "AWS::RDS::DBCluster",
            Engine=engine,
            EngineVersion="8.0.mysql_aurora.3.08.0" if engine == "aurora-mysql" else "16.4",
            ServerlessV2ScalingConfiguration={"MinCapacity": min_capacity, "MaxCapacity": 4},
            StorageEncrypted=True,
        ),
        "Writer": resource(
            "AWS::RDS::DBInstance",
            DBClusterIdentifier=ref("Cluster"),
            DBInstanceClass="db.serverless",
            Engine=engine,
            PromotionTier=0,
        ),
    }


@pytest.mark.parametrize(
    ("engine", "family"), [("aurora-mysql", "MYSQL"), ("aurora-postgresql", "POSTGRESQL")]
)
def test_aurora_mysql_serverless_v2_is_priced_as_aurora_postgresql(
    engine: str, family: str, tmp_path: Path
) -> None:
    result = priced(
        tmp_path,
        {
            **serverless_cluster(engine, 0.5),
            **proxy(family, DBClusterIdentifiers=[ref("Cluster")]),
        },
    )

    assert result.unpriced == ()
    (acus,) = lines_of(result, LineKind.AURORA_MIN_CAPACITY)
    (proxied,) = lines_of(result, LineKind.RDS_PROXY_MIN_CAPACITY)
    assert (acus.description, acus.unit_price_usd) == (
        "Aurora Serverless v2 min capacity",
        ACU_HOUR,
    )
    assert acus.details == (f"{engine}: 1 instance(s) x 0.5 ACU",)
    assert acus.monthly_usd == cents(Decimal("0.5") * ACU_HOUR * HOURS) == Decimal("43.80")
    assert proxied.monthly_usd == cents(8 * PROXY_ACU_HOUR * HOURS) == Decimal("87.60")
    assert "PostgreSQL" not in " ".join(line.description for line in result.lines)
    usage = {item.kind for item in result.usage}
    assert {UsageKind.AURORA_STORAGE_IO, UsageKind.RDS_PROXY_ABOVE_MINIMUM} <= usage


def test_aurora_mysql_can_pause_at_0_acu(tmp_path: Path) -> None:
    result = priced(tmp_path, serverless_cluster("aurora-mysql", 0))

    (acus,) = lines_of(result, LineKind.AURORA_MIN_CAPACITY)
    assert acus.monthly_usd == 0
    assert acus.note == "0 ACU: the cluster pauses when idle; ACU-hours while it runs are usage"


# --- RDS Proxy on an RDS DB instance: the class's vCPUs, 2 at least ---------------------------


@pytest.mark.parametrize(
    ("engine", "family", "instance_class", "multi_az"),
    [
        ("postgres", "POSTGRESQL", "db.t4g.micro", False),
        ("postgres", "POSTGRESQL", "db.t4g.small", True),
        ("mysql", "MYSQL", "db.t4g.micro", False),
        ("mysql", "MYSQL", "db.r7g.large", True),
    ],
)
def test_a_proxy_on_an_instance_bills_its_class_vcpus(
    engine: str, family: str, instance_class: str, multi_az: bool, tmp_path: Path
) -> None:
    result = priced(
        tmp_path,
        {
            "Db": db_instance(engine, instance_class, multi_az=multi_az),
            **proxy(family, DBInstanceIdentifiers=[ref("Db")]),
        },
    )

    assert result.unpriced == ()
    (line,) = lines_of(result, LineKind.RDS_PROXY_VCPU)
    assert line.description == "RDS Proxy on RDS DB instances"
    assert (line.quantity, line.unit, line.unit_price_usd) == (Decimal(2), "vCPU", PROXY_VCPU_HOUR)
    assert line.monthly_usd == cents(2 * PROXY_VCPU_HOUR * HOURS) == Decimal("21.90")
    assert line.details == (
        f"Db: {instance_class}, 2 vCPUs"
        + (" (Multi-AZ: the primary's only, assumed)" if multi_az else ""),
        "billed: max(2-vCPU minimum, 2 vCPUs of its targets)",
    )
    usage = {item.kind for item in result.usage}
    assert UsageKind.RDS_PROXY_ABOVE_MINIMUM not in usage  # a fixed floor, nothing above it
    assert LineKind.RDS_PROXY_MIN_CAPACITY not in {line.kind for line in result.lines}


def test_the_proxy_vcpu_minimum_is_two() -> None:
    assert RDS_PROXY_MIN_VCPUS == 2
    assert min(VCPUS.values()) >= RDS_PROXY_MIN_VCPUS


def test_a_proxy_target_named_by_its_identifier_is_found(tmp_path: Path) -> None:
    result = priced(
        tmp_path,
        {
            "Db": db_instance(DBInstanceIdentifier="app-db"),
            **proxy("POSTGRESQL", DBInstanceIdentifiers=["app-db"]),
        },
    )

    assert result.unpriced == ()
    assert [line.quantity for line in lines_of(result, LineKind.RDS_PROXY_VCPU)] == [2]


PROXY_REFUSED = [
    pytest.param(
        {"Db": db_instance(DBInstanceClass="db.x2g.large")},
        {"DBInstanceIdentifiers": [ref("Db")]},
        "its target Db: no price for RDS PostgreSQL db.x2g.large (Single-AZ) in the price file",
        id="unknown-class",
    ),
    pytest.param(
        {},
        {"DBInstanceIdentifiers": ["db-of-another-stack"]},
        "a DB instance target that is not an RDS DB instance of its stack "
        "(Aurora instances are targeted through their cluster)",
        id="not-in-its-stack",
    ),
    pytest.param(
        serverless_cluster("aurora-postgresql", 0.5),
        {"DBInstanceIdentifiers": [ref("Writer")]},
        "a DB instance target that is not an RDS DB instance of its stack "
        "(Aurora instances are targeted through their cluster)",
        id="aurora-instance",
    ),
    pytest.param(
        {},
        {},
        "only a proxy on Aurora Serverless v2 clusters or on RDS DB instances of its stack is "
        "modeled (Aurora provisioned targets are billed per vCPU)",
        id="no-target",
    ),
]


@pytest.mark.parametrize(("resources", "targets", "reason"), PROXY_REFUSED)
def test_a_proxy_the_model_cannot_price_is_reported_with_its_reason(
    resources: dict[str, dict[str, Any]],
    targets: dict[str, Any],
    reason: str,
    tmp_path: Path,
) -> None:
    result = priced(tmp_path, {**resources, **proxy("POSTGRESQL", **targets)})

    assert ("Proxy", reason) in [(u.logical_id, u.reason) for u in result.unpriced]
    assert not lines_of(result, LineKind.RDS_PROXY_VCPU)


# --- Enhanced Monitoring on an instance ------------------------------------------------------


@pytest.mark.parametrize("multi_az", [False, True])
def test_enhanced_monitoring_is_priced_per_instance(multi_az: bool, tmp_path: Path) -> None:
    """One sample every 60 s of 12 KiB (assumed), as for an Aurora instance: 43,800 samples a
    month, 0.50 GB of log ingestion at 0.50 USD per GB; counted once for a Multi-AZ instance too
    (assumed: its standby's host is not sampled)."""
    result = priced(
        tmp_path, {"Db": db_instance(multi_az=multi_az, MonitoringInterval=60)}, "monitored"
    )

    (line,) = lines_of(result, LineKind.RDS_ENHANCED_MONITORING)
    assert line.quantity == Decimal(43800 * 12) / (1024 * 1024)
    assert line.monthly_usd == Decimal("0.25")
    assert line.details == ("Db: 43800 samples (every 60 s) x 12 KiB (assumed)",)
    points = {row.point.split(" ", 1)[0]: row.usd for row in result.hardening}
    assert points["4"] == line.monthly_usd


# --- The README's comparison, from the model itself ------------------------------------------


def test_the_database_choices_always_on_figures(tmp_path: Path) -> None:
    """What each planned shipped size costs always-on (730 h), proxy or not, beside Aurora
    Serverless v2: the figures the README quotes."""

    def floor(resources: dict[str, dict[str, Any]], name: str) -> Decimal:
        result = priced(tmp_path, resources, name)
        assert result.unpriced == (), result.unpriced
        return result.total_usd

    shapes = {
        "pg-micro": db_instance("postgres", "db.t4g.micro"),
        "pg-small-multi-az": db_instance("postgres", "db.t4g.small", multi_az=True),
        "mysql-micro": db_instance("mysql", "db.t4g.micro"),
    }
    family = {"pg-micro": "POSTGRESQL", "pg-small-multi-az": "POSTGRESQL", "mysql-micro": "MYSQL"}
    figures = {name: floor({"Db": body}, name) for name, body in shapes.items()}
    figures |= {
        f"{name}+proxy": floor(
            {"Db": body, **proxy(family[name], DBInstanceIdentifiers=[ref("Db")])},
            f"{name}-proxy",
        )
        for name, body in shapes.items()
    }
    figures["aurora-0.5"] = floor(serverless_cluster("aurora-postgresql", 0.5), "aurora-half")
    figures["aurora-0"] = floor(serverless_cluster("aurora-mysql", 0), "aurora-zero")
    figures["aurora-0.5+proxy"] = floor(
        {
            **serverless_cluster("aurora-postgresql", 0.5),
            **proxy("POSTGRESQL", DBClusterIdentifiers=[ref("Cluster")]),
        },
        "aurora-proxy",
    )

    assert figures == {
        "pg-micro": Decimal("13.98"),  # 11.68 instance + 2.30 storage (20 GiB)
        "pg-small-multi-az": Decimal("51.32"),  # 46.72 + 4.60
        "mysql-micro": Decimal("13.98"),
        "pg-micro+proxy": Decimal("35.88"),  # + 21.90 (2 vCPUs)
        "pg-small-multi-az+proxy": Decimal("73.22"),
        "mysql-micro+proxy": Decimal("35.88"),
        "aurora-0.5": Decimal("43.80"),  # storage and I/O are usage
        "aurora-0": Decimal("0.00"),
        "aurora-0.5+proxy": Decimal("131.40"),  # + 87.60 (8-ACU minimum)
    }
