"""cdk-nag and cfn-lint over the synthesized app: zero unacknowledged findings, zero lint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_

from stacks.config import APP_CONFIG
from stacks.platform_app import add_quality_gates, unacknowledged_findings
from tests.synth import Synthesized, cdk_json_context


def test_synth_reports_no_unacknowledged_finding(synthesized: Synthesized) -> None:
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    plugins = {plugin["pluginName"]: plugin for plugin in report["pluginReports"]}
    assert "AwsSolutions" in plugins
    for name, plugin in plugins.items():
        assert plugin["conclusion"] == "success", name
    assert unacknowledged_findings(synthesized.outdir) == []


def test_quality_gates_fail_synth_on_findings_of_both_nag_packs(tmp_path: Path) -> None:
    """A Lambda with every default wrong must trip AwsSolutions and Serverless rules (CDK's own
    template checks are off: they are not what this tests, and take seconds to start)."""
    app = App(
        outdir=str(tmp_path), context=cdk_json_context(), builtin_cloud_formation_validation=False
    )
    stack = Stack(app, "Bad")
    lambda_.Function(
        stack,
        "Function",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): return None"),
    )
    add_quality_gates(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {
        plugin["pluginName"]: {violation["ruleName"] for violation in plugin["violations"]}
        for plugin in report["pluginReports"]
    }
    assert "AwsSolutions-L1" in rules["AwsSolutions"]
    assert "Serverless-LambdaTracing" in rules["Serverless"]  # a warning, not an error
    findings = unacknowledged_findings(tmp_path)
    assert any(line.startswith("WARNING Serverless-LambdaTracing") for line in findings)


def test_cfn_lint_reports_nothing(synthesized: Synthesized, shipped_cfn_lint: str) -> None:
    """cfn-lint (``tests.synth.cfn_lint``) over every template, run right after the synth."""
    templates = synthesized.template_files()
    # network, data, api, web and ops stacks per environment, a us-east-1 web edge stack where
    # the environment has one (spa: CloudFront's certificate and web ACL), and an OIDC stack
    # per account
    edges = [env.name for env in APP_CONFIG.environments if env.edge_region is not None]
    assert edges  # spa's
    edge_templates = [path for path in templates if "WebEdge" in path.name]
    assert sorted(path.parent.name for path in edge_templates) == sorted(
        f"assembly-{name}" for name in edges
    )
    expected = 5 * len(synthesized.envs) + len(edges) + len(synthesized.oidc)
    assert len(templates) == expected
    assert shipped_cfn_lint == ""
