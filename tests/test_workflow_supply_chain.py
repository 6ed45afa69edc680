"""The workflows' supply chain: actions pinned to commits, no persisted token, only the role
jobs write, Dependabot over every pin, and zizmor (in ``make lint``) finding nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT
from tests.test_workflows import WORKFLOWS, load, step_using

USES = re.compile(r"\s*(?:- )?uses: ([\w.-]+/[\w./-]+@[0-9a-f]{40}) # v\d+\.\d+\.\d+")
ZIZMOR = Path(sys.executable).with_name("zizmor")
ZIZMOR_COMMAND = "zizmor --offline --quiet --config .github/zizmor.yml .github/"
"""What make lint and the pre-commit hook run from .venv/bin, at the repository's root."""
# A step as the workflows had it before issue 15 (a movable tag, the token kept in .git), and a
# Dependabot entry proposing releases on the day they come out.
UNPINNED_STEP = "on: push\npermissions: {}\njobs:\n  test:\n    runs-on: ubuntu-24.04\n"
UNPINNED_STEP += "    steps:\n      - uses: actions/checkout@v5\n"
NO_COOLDOWN = (
    "version: 2\nupdates: [{package-ecosystem: pip, directory: /, schedule: {interval: weekly}}]"
)


def every_uses(workflow: dict[str, Any]) -> list[str]:
    """Every ``uses`` (reusable workflows' and steps'), in file order."""
    jobs = workflow["jobs"].values()
    nested = [[job.get("uses"), *[s.get("uses") for s in job.get("steps", [])]] for job in jobs]
    return [uses for group in nested for uses in group if uses]


def run_zizmor(github: Path) -> set[str]:
    """The audits zizmor reports on a ``.github`` folder, run as make lint runs it."""
    _, *options, _ = ZIZMOR_COMMAND.split()
    result = subprocess.run(
        [str(ZIZMOR), *options, "--format=json", str(github)],
        cwd=REPO_ROOT,  # where --config .github/zizmor.yml points
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0 or result.returncode >= 10, result.stderr  # 10+: findings
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    assert (result.returncode == 0) == (not findings), result.stdout
    return {finding["ident"] for finding in findings}


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    """A tag can be moved to other code, a commit cannot; Dependabot bumps the SHA and its
    ``# vX.Y.Z`` comment together."""
    for name in ("ci.yml", "deploy.yml"):
        lines = [line for line in (WORKFLOWS / name).read_text().splitlines() if "uses:" in line]
        pinned = [match[1] for line in lines if (match := USES.fullmatch(line))]
        assert pinned == every_uses(load(name)), name  # every line pinned, none missed
        assert pinned, name


def test_checkouts_do_not_keep_the_token_and_only_role_jobs_write() -> None:
    """No step pushes to git, so no checkout leaves the token in .git/config (for later steps or
    the uploaded artifact to read); the only write is the id-token of jobs assuming the role."""
    checkouts = 0
    for name in ("ci.yml", "deploy.yml"):
        workflow = load(name)
        assert workflow["permissions"] in ({}, {"contents": "read"}), name
        for job_name, job in workflow["jobs"].items():
            where = (name, job_name)
            permissions = job.get("permissions", workflow["permissions"])
            assert isinstance(permissions, dict), where  # not read-all, write-all
            assert set(permissions.values()) <= {"read", "write", "none"}, where
            writes = {scope for scope, access in permissions.items() if access == "write"}
            uses = [step.get("uses", "") for step in job["steps"]]
            assumes = any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
            assert writes == ({"id-token"} if assumes else set()), where
            for step in job["steps"]:
                assert "git push" not in step.get("run", ""), where
                if step.get("uses", "").startswith("actions/checkout@"):
                    checkouts += 1
                    assert step.get("with", {}).get("persist-credentials") is False, where
    assert checkouts == 6


def directories_holding(file_name: str) -> set[str]:
    """Directories, as Dependabot writes them, holding a file whose name matches the regex."""
    found = set()
    for folder, subfolders, files in os.walk(REPO_ROOT):
        skipped = ("node_modules", "cdk.out", "__pycache__")
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d not in skipped]
        if any(re.fullmatch(file_name, file) for file in files):
            found.add("/" + Path(folder).relative_to(REPO_ROOT).as_posix().removeprefix("."))
    return found


def test_dependabot_covers_every_requirements_file_package_json_and_the_workflows() -> None:
    config = yaml.safe_load((REPO_ROOT / ".github" / "dependabot.yml").read_text())
    assert config["version"] == 2
    updates = {update["package-ecosystem"]: update for update in config["updates"]}
    assert len(updates) == len(config["updates"])
    covered = {
        ecosystem: set(update.get("directories") or [update["directory"]])
        for ecosystem, update in updates.items()
    }
    pip = directories_holding(r"requirements.*\.txt")
    assert {"/", "/lambda_src/api", "/web_app"} <= pip  # the walk sees the repository
    assert covered == {
        "pip": pip,
        "npm": directories_holding(r"package\.json"),
        "github-actions": {"/"},
    }
    for update in updates.values():
        assert update["schedule"]["interval"] == "weekly"
        assert 0 < update["open-pull-requests-limit"] <= 5
        assert update["cooldown"]["default-days"] >= 7  # zizmor: dependabot-cooldown


def test_zizmor_finds_nothing_and_make_lint_and_pre_commit_run_it() -> None:
    """Every finding fails, whatever its severity, at zizmor's default persona (regular)."""
    assert run_zizmor(REPO_ROOT / ".github") == set()
    lint_recipe = (REPO_ROOT / "Makefile").read_text().split("\nlint:")[1].split("\n\n")[0]
    assert f"\t$(VENV)/bin/{ZIZMOR_COMMAND}" in lint_recipe.splitlines()
    (repo,) = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text())["repos"]
    (hook,) = [hook for hook in repo["hooks"] if hook["id"] == "zizmor"]
    assert (hook["entry"], hook["pass_filenames"]) == (f".venv/bin/{ZIZMOR_COMMAND}", False)


def test_zizmor_reports_an_unpinned_checkout_and_passes_it_pinned(tmp_path: Path) -> None:
    """The linter catches what the workflows had before issue 15, and only that."""
    workflow = tmp_path / ".github" / "workflows" / "ci.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(UNPINNED_STEP)
    (tmp_path / ".github" / "dependabot.yml").write_text(NO_COOLDOWN)
    found = run_zizmor(tmp_path / ".github")
    assert found == {"unpinned-uses", "artipacked", "dependabot-cooldown"}
    pinned = step_using(load("ci.yml")["jobs"]["test"], "actions/checkout")["uses"]
    fixed = f"{pinned}\n        with: {{persist-credentials: false}}"
    workflow.write_text(UNPINNED_STEP.replace("actions/checkout@v5", fixed))
    (tmp_path / ".github" / "dependabot.yml").unlink()
    assert run_zizmor(tmp_path / ".github") == set()
