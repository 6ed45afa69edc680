"""Read-only checks of an environment's AWS account, run before any deploy.

``python -m preflight ENV [--ci]`` (``make preflight ENV=x``; ``make deploy`` and the deploy
workflow run it first) prints one line per check and exits non-zero on any FAIL. It makes only
read calls, with the caller's credentials (in ``--ci``, through the CDK bootstrap's read-only
lookup role, since the GitHub deploy role may only assume bootstrap roles). It imports no CDK
code and is never run by synth or by the tests against real AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto


class Status(Enum):
    PASS = auto()
    FAIL = auto()


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``PASS <check>: <detail>`` or
    ``FAIL <check>: <detail>; fix: <fix>``."""

    check: str
    status: Status
    detail: str
    fix: str = ""

    @classmethod
    def passed(cls, check: str, detail: str) -> CheckResult:
        return cls(check, Status.PASS, detail)

    @classmethod
    def failed(cls, check: str, detail: str, fix: str) -> CheckResult:
        return cls(check, Status.FAIL, detail, fix)

    @property
    def line(self) -> str:
        line = f"{self.status.name} {self.check}: {self.detail}"
        return line if self.status is Status.PASS else f"{line}; fix: {self.fix}"
