"""EXCEPTIONS.md: every deliberately unmet control has its resources, its reason and, for a
service limitation, the AWS documentation; the README points to it."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT

COLUMNS = ["control", "resources", "reason", "AWS documentation"]
AWS_DOCS = re.compile(r"^https://docs\.aws\.amazon\.com/\S+\.html$")


def rows() -> list[list[str]]:
    lines = (REPO_ROOT / "EXCEPTIONS.md").read_text().splitlines()
    table = [line for line in lines if line.startswith("|")]
    header, separator, *body = (
        [cell.strip() for cell in line.strip("|").split("|")] for line in table
    )
    assert header == COLUMNS
    assert all(set(cell) <= {"-"} for cell in separator)
    return body


def test_every_exception_names_resources_a_reason_and_the_documentation() -> None:
    body = rows()
    assert body, "EXCEPTIONS.md has no rows"
    for row in body:
        assert len(row) == len(COLUMNS), row
        control, resources, reason, link = row
        assert control, row
        assert resources, row
        assert len(reason) > 40, row
        assert AWS_DOCS.match(link), f"{control}: {link!r} is not an AWS documentation page"


def test_each_control_is_listed_once_per_resource() -> None:
    keys = [(row[0], row[1]) for row in rows()]
    assert len(keys) == len(set(keys))


def test_the_readme_points_to_the_exceptions() -> None:
    assert "(EXCEPTIONS.md)" in (REPO_ROOT / "README.md").read_text()
