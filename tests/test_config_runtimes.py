"""The web runtimes' rules are one spec per ``WebRuntime`` (``stacks/config/runtimes.py``):
validation, the CPU architecture and ``make preflight`` read it, and nothing else branches on
the runtime."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from cdk_constructs.options import ApiKind, CpuArchitecture, WebRuntime
from preflight.__main__ import RUNTIME_CHECKS, selected
from stacks.config import APP_CONFIG, RUNTIME_SPECS, WebRuntimeSpec, runtime_spec
from stacks.config.sections import WebConfig, WebReleaseConfig
from tests.config_helpers import assert_one_line, error_of, with_web
from tests.conftest import REPO_ROOT


def test_every_runtime_has_one_spec() -> None:
    assert set(RUNTIME_SPECS) == set(WebRuntime)


@pytest.mark.parametrize("runtime", list(WebRuntime))
def test_the_spec_decides_sizes_spot_domain_and_architecture(runtime: WebRuntime) -> None:
    spec = runtime_spec(runtime)
    if spec.runs_container:
        cpu, memories = next(iter(spec.cpu_memory.items()))
        web = WebConfig(runtime=runtime, cpu=cpu, memory_mib=memories[0])
    else:
        web = WebConfig(runtime=runtime)
    assert web.cpu_architecture is spec.architecture
    if spec.spot_architecture is None:
        error = error_of(lambda: with_web(_env_of(spec), runtime=runtime, spot=True))
        assert_one_line(error, _env_of(spec), "web.spot", f"spot=False with {runtime}")
    else:
        assert replace(web, spot=True).cpu_architecture is spec.spot_architecture
    domain: dict[str, Any] = {
        "domain_name": "www.example.com",
        "hosted_zone_id": "Z1",
        "hosted_zone_name": "example.com",
    }
    if spec.custom_domain:
        assert replace(web, **domain).domain_name == "www.example.com"
    else:
        error = error_of(lambda: with_web("dev", runtime=runtime, spot=False, **domain))
        assert_one_line(error, "dev", "web.domain_name", f"domain_name=None with {runtime}")


def test_fargate_spot_is_x86_and_app_runner_x86_only() -> None:
    """https://docs.aws.amazon.com/AmazonECS/latest/userguide/fargate-capacity-providers.html:
    "Fargate Spot only supports Linux tasks with the X86_64 architecture." """
    fargate, app_runner = runtime_spec(WebRuntime.FARGATE), runtime_spec(WebRuntime.APP_RUNNER)
    assert (fargate.architecture, fargate.spot_architecture) == (
        CpuArchitecture.ARM64,
        CpuArchitecture.X86_64,
    )
    assert (app_runner.architecture, app_runner.spot_architecture) == (CpuArchitecture.X86_64, None)


def _env_of(spec: WebRuntimeSpec) -> str:
    """A shipped environment whose API kind goes with the runtime (staging for a container)."""
    return "staging" if spec.api_kind is ApiKind.PRIVATE_LAMBDA else "spa"


@pytest.mark.parametrize("runtime", list(WebRuntime))
def test_preflight_runs_the_checks_the_runtime_spec_names(runtime: WebRuntime) -> None:
    spec = runtime_spec(runtime)
    assert set(spec.preflight_checks) <= set(RUNTIME_CHECKS)
    staging = APP_CONFIG.environment(_env_of(spec))
    web = replace(staging.web, runtime=runtime, release=WebReleaseConfig())
    env = replace(staging, web=web)
    names = [name for name, _ in selected(env, ci=False)]
    for check in RUNTIME_CHECKS:
        assert (check in names) == (check in spec.preflight_checks)


def test_nothing_else_branches_on_the_runtime() -> None:
    """Config and preflight name no runtime member outside the spec table (adding a runtime is
    one spec row there, plus its construct)."""
    branching = re.compile(r"(\bis( not)?|[!=]=|\bcase|\bin)\s+\(?WebRuntime\.")
    found = [
        f"{path.relative_to(REPO_ROOT)}:{number}"
        for folder in ("stacks/config", "preflight")
        for path in sorted((REPO_ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if branching.search(line)
    ]
    assert found == []
