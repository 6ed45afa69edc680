"""BASE, the release still serving: which commit it is, and its tree's files in a temporary
directory. Read with ``git rev-parse``, ``ls-tree`` and ``archive`` only: the user's work tree,
index and HEAD are never touched."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

EXPORTED = ("lambda_src", "devkit")
"""What the check takes from BASE: its API code and migration runner, and its smoke if any."""
GIT_TIMEOUT_SECONDS = 60


class CheckError(Exception):
    """The check could not run at all (no such BASE, no repository): one line, exit 2."""


@dataclass(frozen=True)
class Base:
    ref: str
    """As the user wrote it."""
    sha: str
    short: str


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    git = shutil.which("git")
    if git is None:
        raise CheckError("git is not on the PATH")
    return subprocess.run(  # noqa: S603 - git from the PATH with fixed arguments and a checked ref
        [git, *args], cwd=repo, capture_output=True, timeout=GIT_TIMEOUT_SECONDS, check=False
    )


def _stderr(result: subprocess.CompletedProcess[bytes]) -> str:
    lines = result.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def repo_root(cwd: Path) -> Path:
    """The top of the git work tree `cwd` is in: the checkout whose migrations are new."""
    result = _git(cwd, "rev-parse", "--show-toplevel")
    if result.returncode != 0:
        raise CheckError(f"{cwd} is not in a git repository: {_stderr(result)}")
    return Path(result.stdout.decode().strip())


def resolve(repo: Path, ref: str) -> Base:
    """The commit `ref` names (a branch, tag, sha, ``origin/main``, ``HEAD~1``, ...)."""
    if not ref or ref.startswith("-"):
        raise CheckError(f"BASE {ref!r} is not a git ref")
    result = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if result.returncode != 0:
        raise CheckError(
            f"unknown BASE {ref!r}: no such commit in {repo} "
            "(fetch it first, e.g. git fetch origin main)"
        )
    sha = result.stdout.decode().strip()
    short = _git(repo, "rev-parse", "--short", sha).stdout.decode().strip() or sha[:12]
    return Base(ref=ref, sha=sha, short=short)


def export(repo: Path, base: Base, into: Path) -> Path:
    """BASE's ``lambda_src`` (and ``devkit`` where it has one) written under `into`."""
    listed = _git(repo, "ls-tree", "--name-only", base.sha, "--", *EXPORTED)
    present = listed.stdout.decode().split()
    if listed.returncode != 0 or "lambda_src" not in present:
        raise CheckError(f"BASE {base.ref} ({base.short}) has no lambda_src: nothing to check")
    archive = _git(repo, "archive", "--format=tar", base.sha, "--", *present)
    if archive.returncode != 0:
        raise CheckError(f"git archive of {base.short} failed: {_stderr(archive)}")
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into
