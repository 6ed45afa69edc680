"""Named sets of environment variants that test modules read whole. The background job
(tests/background.py) synthesizes each set once per session, right after the shipped app, while
the tests that read neither run; ``synth_set`` does the same in this process when there is no
background job. The fixture ``variant_sets`` (conftest) hands them out."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from cdk_constructs.options import InterfaceEndpoint, NatMode, WebRuntime
from stacks.config import APP_CONFIG, EnvironmentConfig
from stacks.config.sections import WebReleaseConfig
from tests.synth import CfnTemplate, Tier, cfn_lint, synth_variant_tiers
from tests.web_variants import variant_configs as web_variant_configs

VariantTemplates = dict[str, dict[Tier, CfnTemplate]]
"""Variant name -> tier -> template."""

API_IMAGE_TAG = "3f2c1e0"


@dataclass(frozen=True)
class VariantSet:
    """Variants synthesized up to ``tier`` (``synth_variant_tiers``), with cdk-nag and CDK's
    template checks when ``nag``, the ``lint`` tiers then through cfn-lint."""

    configs: Callable[[], dict[str, EnvironmentConfig]]
    tier: Tier = Tier.OPS
    nag: bool = False
    lint: tuple[Tier, ...] = ()


@dataclass(frozen=True)
class SynthesizedSet:
    templates: VariantTemplates
    lint_report: str
    """cfn-lint's findings over the set's ``lint`` tiers, one per line ("" for none)."""

    def to_json(self) -> str:
        return json.dumps({"templates": self.templates, "lint_report": self.lint_report})

    @classmethod
    def from_json(cls, text: str) -> SynthesizedSet:
        data = json.loads(text)
        templates = {
            name: {Tier(tier): template for tier, template in tiers.items()}
            for name, tiers in data["templates"].items()
        }
        return cls(templates=templates, lint_report=data["lint_report"])


def cross_stack_changes() -> dict[str, tuple[str, EnvironmentConfig]]:
    """Name -> (shipped environment, that environment after a config change the project allows)."""
    staging, dev, prod = (APP_CONFIG.environment(name) for name in ("staging", "dev", "prod"))
    return {
        "staging: proxy off, images, port, reader, WAF": (
            "staging",
            replace(
                staging,
                database=replace(staging.database, proxy=False, readers=1),
                api=replace(staging.api, image_tag="v2"),
                web=replace(staging.web, image_tag="v2", container_port=8081, waf=True),
            ),
        ),
        "dev: proxy on, image, NAT gateway, endpoints": (
            "dev",
            replace(
                dev,
                database=replace(dev.database, min_capacity=0.5, proxy=True),
                api=replace(dev.api, image_tag="v2"),
                network=replace(
                    dev.network,
                    nat_mode=NatMode.SINGLE_GATEWAY,
                    interface_endpoints=(
                        InterfaceEndpoint.EXECUTE_API,
                        InterfaceEndpoint.SECRETS_MANAGER,
                    ),
                ),
            ),
        ),
        "prod: App Runner": (
            "prod",
            replace(
                prod,
                web=replace(
                    prod.web,
                    runtime=WebRuntime.APP_RUNNER,
                    release=WebReleaseConfig(),
                    spot=False,
                    domain_name=None,
                    hosted_zone_id=None,
                    hosted_zone_name=None,
                    allow_plain_http=False,
                ),
            ),
        ),
    }


def api_image_mode() -> dict[str, EnvironmentConfig]:
    """dev with ``api.image_tag`` set."""
    dev = APP_CONFIG.environment("dev")
    return {"dev": replace(dev, api=replace(dev.api, image_tag=API_IMAGE_TAG))}


SETS = {
    "api-image": VariantSet(api_image_mode, tier=Tier.API),
    "cross-stack": VariantSet(
        lambda: {label: config for label, (_, config) in cross_stack_changes().items()}
    ),
    "web": VariantSet(
        lambda: {config.name: config for config in web_variant_configs()},
        nag=True,
        lint=(Tier.WEB, Tier.OPS),
    ),
}
"""In the order the background job synthesizes them: that in which the test modules (reading
the shipped synth too, so run last, by name) first ask for them."""


def synth_set(name: str) -> SynthesizedSet:
    """The set ``name`` of ``SETS``, synthesized here (and linted)."""
    variant_set = SETS[name]
    configs = variant_set.configs()
    templates = {
        label: synth_variant_tiers(config, variant_set.tier, nag=variant_set.nag)
        for label, config in configs.items()
    }
    if not variant_set.lint:
        return SynthesizedSet(templates=templates, lint_report="")
    with tempfile.TemporaryDirectory(prefix=f"lint-{name}-") as lint_dir:
        files = []
        for label, tiers in templates.items():
            for tier in variant_set.lint:
                path = Path(lint_dir) / f"{label}-{tier}.template.json"
                path.write_text(json.dumps(tiers[tier]))
                files.append(path)
        regions = sorted({config.region for config in configs.values()})
        return SynthesizedSet(templates=templates, lint_report=cfn_lint(files, regions))
