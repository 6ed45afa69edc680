"""The README's configuration tables are the schema's: every field, its default and what it
allows (type, range, rule) as the code states it, once."""

from __future__ import annotations

import re
from dataclasses import fields

from stacks.config import AppConfig, EnvironmentConfig, sections
from stacks.config.docs import field_docs, readme_tables, rows, tables
from tests.conftest import REPO_ROOT

MODELS = (
    AppConfig,
    EnvironmentConfig,
    sections.NetworkConfig,
    sections.DatabaseConfig,
    sections.ApiConfig,
    sections.WebConfig,
    sections.RegistryConfig,
    sections.AlarmThresholds,
    sections.GitHubConfig,
)


def test_readme_tables_are_generated_from_the_schema() -> None:
    """A field added, removed or renamed, a default or a range changed: the README disagrees
    until ``python -m stacks.config readme`` writes the tables again."""
    assert readme_tables() != "", "README.md lost the markers of its configuration tables"
    assert readme_tables() == tables(), "run: .venv/bin/python -m stacks.config readme"


def test_each_readme_row_has_the_fields_default_and_range() -> None:
    """Spot checks of what the generated rows say, read back from the README itself."""
    readme = (REPO_ROOT / "README.md").read_text()
    for row in (
        (
            "`web.min_instances`",
            "Fewest tasks (instances) the service scales to.",
            "an integer 1..25",
            "`1`",
        ),
        (
            "`database.max_capacity`",
            "Serverless v2: maximum ACUs per instance, at least `min_capacity`.",
            "a number 1..256 ACUs, a multiple of 0.5",
            "`4`",
        ),
        (
            "`alarms.aurora_cpu_percent`",
            "Aurora maximum CPU.",
            "an integer above 0 and at most 100",
            "`80`",
        ),
    ):
        assert f"| {' | '.join(row)} |" in readme


def test_readme_documents_every_config_knob() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    knobs = [f"`{field.name}`" for field in fields(AppConfig)]
    knobs += [f"`{field.name}`" for field in fields(EnvironmentConfig)]
    knobs += [f"`network.{field.name}`" for field in fields(sections.NetworkConfig)]
    knobs += [f"`database.{field.name}`" for field in fields(sections.DatabaseConfig)]
    knobs += [f"`api.{field.name}`" for field in fields(sections.ApiConfig)]
    knobs += [f"`web.{field.name}`" for field in fields(sections.WebConfig)]
    knobs += [f"`registry.{field.name}`" for field in fields(sections.RegistryConfig)]
    knobs += [f"`github.{field.name}`" for field in fields(sections.GitHubConfig)]
    knobs += [f"`alarms.{field.name}`" for field in fields(sections.AlarmThresholds)]
    missing = [knob for knob in knobs if knob not in readme]
    assert missing == []


def test_every_field_says_what_it_means() -> None:
    undocumented = [
        f"{model.__name__}.{field.name}"
        for model in MODELS
        for field in fields(model)
        if not field_docs(model).get(field.name)
    ]
    assert undocumented == []


def test_each_range_is_stated_once_in_the_annotation() -> None:
    """No docstring restates a range (``1..25``, "1 to 25", "at most 100"): the annotation
    states it and the README's "allowed" column and every error line read it from there."""
    range_words = re.compile(r"\d+\s*\.\.\s*\d+|\bfrom \d+ to \d+|\bat (most|least) \d+|\d+-\d+ ")
    restated = [
        f"{model.__name__}.{name}: {doc}"
        for model in MODELS
        for name, doc in field_docs(model).items()
        if range_words.search(doc)
    ]
    assert restated == []
    ranged = {row[0]: row[2] for model in (AppConfig, EnvironmentConfig) for row in rows(model)}
    assert ranged["web.canary_interval_minutes"] == "an integer 1..60"
    assert ranged["database.backup_retention_days"] == "an integer 1..35"
    assert ranged["database.readers"] == "0 or 1"
