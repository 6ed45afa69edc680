"""Cross-stack references never block a config change and never go stale.

The mechanism (README, "Cross-stack references"):

(a) Every value crosses stacks as a weak reference, ``Fn::GetStackOutput``; nothing is exported,
    so no ``Fn::ImportValue`` can block removing or replacing what a stack produces.
(b) A producer that a config change replaces gets a new logical id, and the output a consumer
    reads is named after that id. So the consumer's template changes in the very property that
    reads it, ``cdk deploy '<env>/*'`` deploys it after its producer (stack dependencies), and
    CloudFormation updates that property with the new value.

Each config change (``cross_stack_changes``, tests/variant_sets.py) is synthesized and compared
with the shipped environment: any producer read by another stack whose create-only properties
(the CloudFormation registry schema's ``createOnlyProperties``: changing one replaces the
resource) differ must carry a new logical id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from stacks.config import APP_CONFIG, EnvironmentConfig, stack_name
from tests.synth import TIERS, CfnTemplate, Synthesized, Tier
from tests.template_queries import references
from tests.variant_sets import SynthesizedSet, cross_stack_changes

Templates = dict[Tier, CfnTemplate]
"""Tier -> template of one environment."""


def shipped_templates(synthesized: Synthesized, name: str) -> Templates:
    env = synthesized.envs[name]
    return {tier: env.template(tier) for tier in TIERS}


@pytest.fixture(scope="module")
def variants(
    variant_sets: Callable[[str], SynthesizedSet],
) -> dict[str, tuple[str, Templates]]:
    """Every stack of each changed environment: the outputs a producer publishes exist only
    while its consumers are synthesized with it."""
    templates = variant_sets("cross-stack").templates
    return {label: (base, templates[label]) for label, (base, _) in cross_stack_changes().items()}


def stack_outputs_read(template: dict[str, Any]) -> list[dict[str, str]]:
    """Every ``Fn::GetStackOutput`` in a template."""
    found: list[dict[str, str]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "Fn::GetStackOutput" in value:
                found.append(value["Fn::GetStackOutput"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(template)
    return found


def create_only(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource's properties that CloudFormation cannot change without replacing it."""
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource["Type"]).schema
    names = {path.split("/")[2] for path in schema.get("createOnlyProperties", [])}
    return {key: value for key, value in resource.get("Properties", {}).items() if key in names}


def stale_references(
    env_config: EnvironmentConfig, before: Templates, after: Templates
) -> list[str]:
    """Consumers of ``after`` that would keep reading a producer the change replaced."""
    tier_of = {stack_name(APP_CONFIG, env_config, tier): tier for tier in TIERS}
    problems: list[str] = []
    for consumer_tier, template in after.items():
        for read in stack_outputs_read(template):
            producer_tier = tier_of[read["StackName"]]
            output = after[producer_tier]["Outputs"][read["OutputName"]]
            for producer_id in references(output["Value"]):
                old = before[producer_tier]["Resources"].get(producer_id)
                new = after[producer_tier]["Resources"][producer_id]
                if old is not None and create_only(old) != create_only(new):
                    problems.append(
                        f"{consumer_tier} reads {producer_tier}'s {producer_id} ({new['Type']}), "
                        "replaced under the same logical id"
                    )
    return problems


def test_nothing_is_exported_or_imported(
    synthesized: Synthesized, variants: dict[str, tuple[str, Templates]]
) -> None:
    """(a): an export in use blocks any update that removes or replaces what it exports.

    "After another stack imports an output value, you can't delete the stack that is exporting
    the output value or modify the exported output value."
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-stack-exports.html)
    """
    templates = [json.loads(path.read_text()) for path in synthesized.template_files()]
    templates += [t for _, variant in variants.values() for t in variant.values()]
    for template in templates:
        text = json.dumps(template)
        assert "Fn::ImportValue" not in text
        assert all("Export" not in output for output in template.get("Outputs", {}).values())


@pytest.mark.parametrize("label", list(cross_stack_changes()))
def test_every_consumer_of_a_replaced_producer_changes_with_it(
    synthesized: Synthesized, variants: dict[str, tuple[str, Templates]], label: str
) -> None:
    """(b): "If the referenced stack or output is later deleted or modified, the consuming stack
    is not automatically updated or notified."
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-getstackoutput.html)
    and the CDK CLI skips a stack whose template did not change."""
    base, after = variants[label]
    before = shipped_templates(synthesized, base)
    config = APP_CONFIG.environment(base)
    assert stale_references(config, before, after) == []
    assert stale_references(config, after, before) == []  # and the change back


def test_switching_the_api_to_an_image_changes_what_ops_reads(
    synthesized: Synthesized, variants: dict[str, tuple[str, Templates]]
) -> None:
    """Lambda cannot change a function's package type: the image function is a new function,
    and the alarms and dashboard of the ops stack follow it in the same deploy."""
    _, after = variants["staging: proxy off, images, port, reader, WAF"]
    before = shipped_templates(synthesized, "staging")

    def functions(template: dict[str, Any]) -> set[str]:
        return {
            logical_id
            for logical_id, resource in template["Resources"].items()
            if resource["Type"] == "AWS::Lambda::Function"
            and "/ItemsFunction/" in resource.get("Metadata", {}).get("aws:cdk:path", "")
        }

    assert functions(before[Tier.API]).isdisjoint(functions(after[Tier.API]))
    read_before = {read["OutputName"] for read in stack_outputs_read(before[Tier.OPS])}
    read_after = {read["OutputName"] for read in stack_outputs_read(after[Tier.OPS])}
    assert read_before != read_after


def test_turning_the_proxy_off_and_on_rewires_the_api(
    synthesized: Synthesized, variants: dict[str, tuple[str, Templates]]
) -> None:
    """The API logs in through the proxy while there is one, else to the writer: its template
    reads a different producer either way, so it is deployed in the same run."""
    for base, label in (
        ("staging", "staging: proxy off, images, port, reader, WAF"),
        ("dev", "dev: proxy on, image, NAT gateway, endpoints"),
    ):
        before = shipped_templates(synthesized, base)
        _, after = variants[label]
        had_proxy = bool(
            [r for r in before[Tier.DATA]["Resources"].values() if r["Type"] == "AWS::RDS::DBProxy"]
        )
        has_proxy = bool(
            [r for r in after[Tier.DATA]["Resources"].values() if r["Type"] == "AWS::RDS::DBProxy"]
        )
        assert had_proxy != has_proxy
        reads = {
            tier: {read["OutputName"] for read in stack_outputs_read(t)}
            for tier, t in (("before", before[Tier.API]), ("after", after[Tier.API]))
        }
        assert reads["before"] != reads["after"]
