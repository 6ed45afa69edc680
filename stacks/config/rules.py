"""The rules of single values that a type and a range cannot say, each with what it allows."""

from __future__ import annotations

import ipaddress
import re
from pathlib import PurePosixPath

from cdk_constructs.options import LOG_RETENTION_DAYS
from stacks.config.constraints import Rule

SUBNETS_PER_VPC = 6
"""2 AZs x (public, app, db)."""
LARGEST_VPC_PREFIX = 21
"""A /21 is the smallest VPC that holds six /24 subnets (a /22 holds only four)."""
SMALLEST_VPC_PREFIX = 16
"""AWS does not allow a VPC CIDR larger than a /16."""


def matching(pattern: str, what: str, allowed: str) -> Rule:
    """A string that matches ``pattern`` (else "'x' is not <what>")."""
    compiled = re.compile(pattern)
    return Rule(allowed, lambda value: None if compiled.match(value) else f"'{value}' is {what}")


NAME = matching(r"^[a-z][a-z0-9-]{0,19}$", "not a valid name", "[a-z][a-z0-9-]{0,19}")
ACCOUNT = matching(r"^\d{12}$", "not an account id", "12 digits")
BRANCH = matching(
    r"^(?!/)(?!.*//)(?!.*\.\.)[A-Za-z0-9._/-]+(?<!/)(?<!\.lock)$",
    "not a git branch name",
    "a git branch name, e.g. main, release/1",
)
EMAIL = matching(
    r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$",
    "not an e-mail address",
    "name@domain.tld",
)
IMAGE_TAG = matching(
    r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
    "not an image tag",
    "an ECR tag: letters, digits, _ . - (up to 128, not first . -)",
)
DOMAIN = matching(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
    "not a domain name",
    "a domain name such as www.example.com",
)
REPOSITORY = matching(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$",
    "not a GitHub repository",
    "OWNER/REPO (letters, digits, '-' in OWNER; letters, digits, '.', '_', '-' in REPO)",
)
HEALTH_PATH = Rule(
    "a path starting with /, e.g. /healthz",
    lambda path: None if path.startswith("/") else f"'{path}' does not start with /",
)
LOG_RETENTION = Rule(
    f"an integer CloudWatch Logs accepts: {', '.join(map(str, LOG_RETENTION_DAYS))}",
    lambda days: (
        None if days in LOG_RETENTION_DAYS else f"{days} is not a CloudWatch Logs retention"
    ),
)


def _vpc_cidr_problem(cidr: str) -> str | None:
    try:
        vpc = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as error:
        return f"'{cidr}' is not a valid CIDR ({error})"
    if vpc.prefixlen > LARGEST_VPC_PREFIX:
        return f"'{cidr}' is too small for {SUBNETS_PER_VPC} /24 subnets"
    if vpc.prefixlen < SMALLEST_VPC_PREFIX or not vpc.is_private:
        return f"'{cidr}' is not allowed"
    return None


VPC_CIDR = Rule(
    f"a private IPv4 CIDR from /{SMALLEST_VPC_PREFIX} to /{LARGEST_VPC_PREFIX} "
    f"(room for {SUBNETS_PER_VPC} subnets of /24 or larger)",
    _vpc_cidr_problem,
)


def _ingress_problem(cidrs: tuple[str, ...]) -> str | None:
    if not cidrs:
        return "no CIDR is allowed in"
    for cidr in cidrs:
        try:
            ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            return f"'{cidr}' is not an IPv4 CIDR"
    return None


INGRESS_CIDRS = Rule("one or more IPv4 CIDRs such as 0.0.0.0/0 or 203.0.113.0/24", _ingress_problem)


def is_relative_folder(source: str) -> bool:
    """A folder inside the repository: relative, never climbing out with ``..``."""
    path = PurePosixPath(source)
    return not path.is_absolute() and ".." not in path.parts
