"""`make cost` on the shipped environments (the session's synth) and its command line."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cdk_constructs.options import NatMode
from cost.__main__ import main
from cost.estimate import Estimate
from cost.lines import LineKind
from cost.prices import PriceId, load_prices
from cost.report import group_estimates, render_json
from cost.templates import load_assemblies
from cost.usage import UsageKind
from stacks.config import APP_CONFIG
from tests.cost_helpers import HOURS, estimate_of, resource, write_assembly
from tests.cost_helpers import shipped as shipped  # the fixture, for pytest
from tests.synth import REPO_ROOT, Synthesized

DEV_FLOOR_TARGET_USD = Decimal(63)
"""The project's target for the always-on cost of dev. It was 60 while dev's Spot task was
priced as ARM64 Spot (59.81), a task Fargate Spot never runs; as the X86_64 Spot task it really
is, dev's floor was 60.36. The alarms that roll a web or API release back add about 1 USD (each
alarm metric 0.10): a release that serves errors is stopped in dev too. The operator access
instance's stopped disk adds 0.64 (62.10): the SSM-only way into the database and containers
is worth more than the target's round number."""

SPA_FLOOR_TARGET_USD = Decimal(135)
"""The S3M shape's always-on floor (spa) stays under this: 131.45 (with the operator access
instance's stopped disk, 0.64). The shape itself was 57.49
(NLB 16.43, two ARM64 tasks 14.42, CloudFront web ACL 9.00, NAT instance 7.36, keys, alarms,
dashboard, canary; no execute-api endpoint, which the public API doesn't use); spa also carries
the instance-engine example: a Multi-AZ db.t4g.small (46.72), its gp3 storage (4.60) and RDS
Proxy at its 2-vCPU minimum (21.90). README: Choosing a shape, Database engines."""

# Fargate Spot runs X86_64 tasks only, at a documented discount (see test_cost.py).
X86_SPOT_PRICE_IDS = {PriceId.FARGATE_SPOT_X86_VCPU_HOUR, PriceId.FARGATE_SPOT_X86_GB_HOUR}


def test_dev_floor_is_under_the_project_target(shipped: dict[str, Estimate]) -> None:
    dev = shipped["dev"]
    breakdown = "\n".join(f"{line.monthly_usd:>8} {line.description}" for line in dev.lines)
    assert dev.total_usd < DEV_FLOOR_TARGET_USD, f"dev floor {dev.total_usd} USD:\n{breakdown}"


def test_spa_floor_is_its_nlb_services_and_edge_web_acl(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    """The S3M shape: an internal NLB (never an ALB), each service's minimum tasks, the web ACL
    of its us-east-1 edge stack counted with spa (one stage, one assembly), no M2M client."""
    spa = shipped["spa"]
    lines = {line.kind: line for line in spa.lines}
    breakdown = "\n".join(f"{line.monthly_usd:>8} {line.description}" for line in spa.lines)
    assert spa.unpriced == ()
    assert spa.total_usd < SPA_FLOOR_TARGET_USD, f"spa floor {spa.total_usd} USD:\n{breakdown}"
    assert lines[LineKind.NLB].quantity == 1
    assert not set(lines) & {
        LineKind.ALB,
        LineKind.PUBLIC_IPV4_ALB,
        LineKind.PUBLIC_IPV4_NLB,
        LineKind.COGNITO_M2M_CLIENTS,
        LineKind.NAT_GATEWAY,
        LineKind.INTERFACE_ENDPOINT,
    }
    services = synthesized.envs["spa"].config.api.services
    vcpus = sum(
        (line.quantity for line in spa.lines if line.kind is LineKind.FARGATE_VCPU), Decimal(0)
    )
    assert vcpus == sum(Decimal(s.min_tasks * s.cpu) / 1024 for s in services)
    (assembly,) = [a for a in load_assemblies(synthesized.outdir) if a.name == "spa"]
    (acl,) = assembly.of_type("AWS::WAFv2::WebACL")
    assert acl.properties["Scope"] == "CLOUDFRONT"
    assert acl.stack in spa.stacks
    assert lines[LineKind.WAF_WEB_ACL].quantity == 1
    usage = {item.kind for item in spa.usage}
    assert {UsageKind.CLOUDFRONT, UsageKind.CLOUDFRONT_FUNCTIONS, UsageKind.NLB_NLCU} <= usage
    assert UsageKind.ALB_LCU not in usage


@pytest.mark.parametrize(
    ("env_name", "instance_class", "multi_az", "proxy_vcpus"),
    [("spa", "db.t4g.small", True, 2), ("classic", "db.t4g.micro", False, None)],
)
def test_instance_engines_are_priced_by_class_storage_and_proxy_vcpus(
    shipped: dict[str, Estimate],
    env_name: str,
    instance_class: str,
    multi_az: bool,
    proxy_vcpus: int | None,
) -> None:
    """An RDS instance is its class's hours (twice for Multi-AZ) and its allocated gp3 GiB; a
    proxy in front bills per vCPU of the class, 2 at least; no ACU line without Aurora."""
    estimate = shipped[env_name]
    lines = {line.kind: line for line in estimate.lines}
    assert estimate.unpriced == ()
    instance = lines[LineKind.RDS_INSTANCE]
    assert instance_class in " ".join((instance.description, *instance.details))
    assert lines[LineKind.RDS_STORAGE].quantity == 20
    single = shipped["classic"].lines
    single_hour = {line.kind: line for line in single}[LineKind.RDS_INSTANCE].monthly_usd
    if multi_az:
        assert instance.monthly_usd == 2 * single_hour * 2  # small = 2 x micro, Multi-AZ x2
    if proxy_vcpus is None:
        assert LineKind.RDS_PROXY_VCPU not in lines
    else:
        assert lines[LineKind.RDS_PROXY_VCPU].quantity == proxy_vcpus
    assert LineKind.AURORA_MIN_CAPACITY not in lines
    assert LineKind.RDS_PROXY_MIN_CAPACITY not in lines


def test_every_environment_is_priced_and_floors_grow_from_dev_to_prod(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    dev, staging, prod = (shipped[name].total_usd for name in ("dev", "staging", "prod"))

    assert Decimal(0) < dev < staging < prod
    for name in synthesized.envs:
        assert shipped[name].unpriced == (), shipped[name].unpriced


def test_account_level_stacks_cost_nothing_always_on(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    account_level = [e for name, e in shipped.items() if name not in synthesized.envs]

    assert len(account_level) == len(synthesized.oidc)
    assert all(e.lines == () and e.unpriced == () for e in account_level)


def test_floor_follows_the_synthesized_nat_mode_and_canary_schedule(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    gateways = {NatMode.GATEWAY_PER_AZ: 2, NatMode.SINGLE_GATEWAY: 1, NatMode.INSTANCE: 0}
    for name, env in synthesized.envs.items():
        quantities = {line.kind: line.quantity for line in shipped[name].lines}
        assert quantities.get(LineKind.NAT_GATEWAY, 0) == gateways[env.config.network.nat_mode]
        interval = env.config.web.canary_interval_minutes
        assert quantities[LineKind.CANARY_RUNS] == HOURS * 60 / interval


def canary_variables(url_tail: str) -> dict[str, Any]:
    return {"HEALTH_URL": {"Fn::Join": ["", ["http://", {"Ref": "Lb"}, url_tail]]}}


def test_the_canary_line_says_what_it_costs_in_database_time(
    shipped: dict[str, Estimate], tmp_path: Path
) -> None:
    """Dev's database auto-pauses; its canary must not keep it awake (web_stack), and the cost
    report says so: 0 ACU-hours of database time."""
    (dev_canary,) = [line for line in shipped["dev"].lines if line.kind is LineKind.CANARY_RUNS]
    assert "database time: 0 ACU-hours" in " ".join(dev_canary.details)
    canary = resource(
        "AWS::Synthetics::Canary",
        Schedule={"Expression": "rate(5 minutes)"},
        RunConfig={"EnvironmentVariables": canary_variables("/healthz/deep")},
    )
    write_assembly(tmp_path, "deep", {"Web": {"Canary": canary}})
    (line,) = [
        line for line in estimate_of(tmp_path, "deep").lines if line.kind is LineKind.CANARY_RUNS
    ]
    assert "reaches the database" in " ".join(line.details)


def test_waf_is_priced_only_where_a_web_acl_is_synthesized(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    for name, env in synthesized.envs.items():
        kinds = {line.kind for line in shipped[name].lines}
        usage = {item.kind for item in shipped[name].usage}
        assert (LineKind.WAF_WEB_ACL in kinds) is env.config.web.waf
        assert (UsageKind.WAF_REQUESTS in usage) is env.config.web.waf


def test_enhanced_monitoring_is_priced_where_the_config_turns_it_on(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    for name, env in synthesized.envs.items():
        lines = [
            line for line in shipped[name].lines if line.kind is LineKind.RDS_ENHANCED_MONITORING
        ]
        assert bool(lines) is bool(env.config.database.enhanced_monitoring_interval_seconds), name
    # prod: writer and reader every 60 s, 43,800 samples each of 12 KiB (assumed) at 0.50 USD/GB
    (prod,) = [
        line for line in shipped["prod"].lines if line.kind is LineKind.RDS_ENHANCED_MONITORING
    ]
    assert len(prod.details) == 2
    assert prod.monthly_usd == Decimal("0.50")


def test_json_round_trips_and_totals_are_the_sum_of_the_lines(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    environments, account_level = group_estimates(list(shipped.values()), list(synthesized.envs))
    document = json.loads(
        render_json(environments, account_level, load_prices()), parse_float=Decimal
    )

    assert list(document["environments"]) == list(synthesized.envs)
    for name, env in document["environments"].items():
        assert env["total_usd"] == shipped[name].total_usd
        assert env["total_usd"] == sum(Decimal(line["monthly_usd"]) for line in env["always_on"])
        assert [line["kind"] for line in env["always_on"]] == [
            line.kind for line in shipped[name].lines
        ]


def test_shipped_spot_tasks_are_priced_as_x86_spot(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    for name, env in synthesized.envs.items():
        fargate = [
            line
            for line in shipped[name].lines
            if line.kind in (LineKind.FARGATE_VCPU, LineKind.FARGATE_MEMORY)
        ]
        spot = {line.price_id for line in fargate if "Spot" in line.description}
        assert bool(spot) is env.config.web.spot, name
        assert spot <= X86_SPOT_PRICE_IDS, name
    dev = {line.kind: line for line in shipped["dev"].lines}
    assert dev[LineKind.FARGATE_VCPU].description == "Fargate Spot X86_64 vCPU"
    assert dev[LineKind.FARGATE_VCPU].unit_price_usd == Decimal("0.012144")
    assert dev[LineKind.FARGATE_MEMORY].unit_price_usd == Decimal("0.0013335")


# --- The command line ----------------------------------------------------------------------------


def test_cli_prints_a_table_per_environment_with_a_total(
    synthesized: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--cdk-out", str(synthesized.outdir)]) == 0

    out = capsys.readouterr().out
    assert "us-east-1" in out
    assert "730 hours" in out
    for name in synthesized.envs:
        assert f"== {name} (environment" in out
        assert f"Total always-on floor, {name} " in out


def test_cli_json_is_valid_json(
    synthesized: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--cdk-out", str(synthesized.outdir), "--json"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert set(document["environments"]) == set(synthesized.envs)


def test_cli_fails_when_a_resource_cannot_be_priced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_assembly(tmp_path, "dev", {"Network": {"Hub": resource("AWS::EC2::TransitGateway")}})

    assert main(["--cdk-out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "AWS::EC2::TransitGateway" in captured.out
    assert "not priced (AWS::EC2::TransitGateway)" in captured.err


def test_cli_without_cdk_out_gives_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cost", "--cdk-out", str(tmp_path / "cdk.out")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "make synth" in result.stderr
    assert "Traceback" not in result.stderr


def test_always_free_allowances_count_once_per_account(shipped: dict[str, Estimate]) -> None:
    """The first environment of each account gets CloudWatch's 3 dashboards and 10 alarm
    metrics and Synthetics' 100 runs, capped at what it uses; spa shares dev's account, so it
    gets none."""
    first = {envs[0].name for envs in APP_CONFIG.accounts().values()}
    assert "spa" not in first
    for name, env in shipped.items():
        if name not in APP_CONFIG.environment_names:
            continue
        used = {line.kind: line.quantity for line in env.lines if line.quantity > 0}
        free = {
            line.description: line.quantity
            for line in env.lines
            if line.kind is LineKind.ALWAYS_FREE_TIER
        }
        if name not in first:
            assert free == {}, name
            continue
        assert free == {
            "Always-free tier: CloudWatch dashboards": -min(Decimal(3), used[LineKind.DASHBOARDS]),
            "Always-free tier: CloudWatch alarms, standard resolution": -min(
                Decimal(10), used[LineKind.ALARMS_STANDARD]
            ),
            "Always-free tier: Synthetics canary runs": -min(
                Decimal(100), used[LineKind.CANARY_RUNS]
            ),
        }
