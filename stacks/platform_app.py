"""Builds the platform into a CDK app: one stage per selected environment, nag on all of them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from stacks.config import AppConfig, EnvironmentConfig
from stacks.platform_stage import PlatformStage

VALIDATION_REPORT = "validation-report.json"


def build_platform(
    app: App, config: AppConfig, environments: Sequence[EnvironmentConfig]
) -> dict[str, PlatformStage]:
    """Add a stage per environment and the quality gates; returns the stages by env name."""
    stages = {env.name: PlatformStage(app, app=config, env_config=env) for env in environments}
    add_quality_gates(app)
    return stages


def add_quality_gates(app: App) -> None:
    """Run the cdk-nag packs on every synth; an unacknowledged error fails the synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))


def unacknowledged_findings(assembly_dir: str | Path) -> list[str]:
    """Every finding (error or warning) left in the synth's validation report, one line each.

    CDK fails the synth on validation errors only; warnings must not pass silently either.
    """
    report_file = Path(assembly_dir) / VALIDATION_REPORT
    if not report_file.exists():
        return []
    report = json.loads(report_file.read_text())
    return [
        f"{violation['severity'].upper()} {violation['ruleName']} ({plugin['pluginName']}) at "
        f"{construct['constructPath']}: {violation['description']}"
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs", [])
    ]
