"""Builds the platform into a CDK app: one stage per selected environment, nag on all of them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from aws_cdk import App, DefaultStackSynthesizer, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from cdk_constructs.compliance import add_compliance_pack
from stacks.config import AppConfig, EnvironmentConfig
from stacks.github_oidc_stack import GitHubOidcStage
from stacks.platform_stage import PlatformStage

VALIDATION_REPORT = "validation-report.json"


BOOTSTRAP_QUALIFIER_CONTEXT = "@aws-cdk/core:bootstrapQualifier"


def build_platform(
    app: App, config: AppConfig, environments: Sequence[EnvironmentConfig]
) -> dict[str, PlatformStage]:
    """Add a stage per environment, the GitHub OIDC stage of each of their accounts and the
    quality gates; returns the environments' stages by name."""
    stages = {env.name: PlatformStage(app, app=config, env_config=env) for env in environments}
    qualifier = str(
        app.node.try_get_context(BOOTSTRAP_QUALIFIER_CONTEXT)
        or DefaultStackSynthesizer.DEFAULT_QUALIFIER
    )
    selected_accounts = {env.account for env in environments}
    for account, account_envs in config.accounts().items():
        if account in selected_accounts:
            # Every environment of the account, even with -c env=NAME: deploying the stack
            # for one environment must not delete the roles of the others.
            GitHubOidcStage(
                app,
                app=config,
                account=account,
                environments=account_envs,
                bootstrap_qualifier=qualifier,
            )
    add_quality_gates(app)
    for env in environments:
        add_compliance_pack(stages[env.name], env.security.compliance)
    for account, stage in oidc_stages(app).items():
        # The deploy roles of an account are as strict as its strictest environment.
        for profile in {env.security.compliance for env in config.accounts()[account]}:
            add_compliance_pack(stage, profile)
    return stages


def oidc_stages(app: App) -> dict[str, GitHubOidcStage]:
    """The GitHub OIDC stages ``build_platform`` added, by account."""
    return {
        str(child.account): child
        for child in app.node.children
        if isinstance(child, GitHubOidcStage)
    }


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
