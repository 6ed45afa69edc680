"""cdk-nag acknowledgements in one shape: the rule, the narrowest construct, a reason.

Every acknowledgement in the platform goes through :func:`acknowledge`, so a reviewer finds
them all with one grep, and every finding id that names a resource is rendered the way cdk-nag
prints it (:func:`nag_text`).
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, Stack, Token, Validations
from constructs import IConstruct

LAMBDA_BASIC_EXECUTION = (
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
)
"""The managed policy CDK gives the functions it writes itself (providers, custom resources)."""


NIST = "NIST.800.53.R5-"
"""The rule prefix of cdk-nag's NIST 800-53 rev. 5 pack (``security.compliance``)."""

DEPLOY_TIME_FUNCTION = (
    (
        f"{NIST}LambdaConcurrency",
        "Invoked by CloudFormation during a deploy; a reservation would withhold account "
        "concurrency for nothing.",
    ),
    (
        f"{NIST}LambdaDLQ",
        "Invoked by CloudFormation, which keeps the event and fails the deploy on an error.",
    ),
    (
        f"{NIST}LambdaInsideVPC",
        "Calls AWS APIs only, never the database or the app: outside the VPC it needs no NAT or "
        "endpoint and reaches nothing in it (EXCEPTIONS.md).",
    ),
)
"""The NIST findings of a function CDK or the platform runs at deploy time only."""


def rule_id(rule: str, applies_to: str | None = None) -> str:
    """The validation id of a cdk-nag rule (``AwsSolutions-IAM5`` becomes
    ``AwsSolutions::AwsSolutions-IAM5``), with ``[applies_to]`` for one finding of a rule that
    names resources or policies."""
    finding = f"[{applies_to}]" if applies_to is not None else ""
    if "::" in rule:  # already qualified, e.g. ``CloudFormation-Validate::W3010``
        return f"{rule}{finding}"
    pack = rule.split("-", 1)[0]
    return f"{pack}::{rule}{finding}"


def acknowledge(
    construct: IConstruct, rule: str, reason: str, *, applies_to: str | None = None
) -> None:
    """Acknowledge one cdk-nag rule (``AwsSolutions-S1``, ``Serverless-LambdaDLQ``) on one
    construct, optionally for one finding (``applies_to``: ``Resource::...``/``Policy::...``)."""
    Validations.of(construct).acknowledge(
        Acknowledgment(id=rule_id(rule, applies_to), reason=reason)
    )


def acknowledge_all(construct: IConstruct, findings: Iterable[tuple[str, str]]) -> None:
    """Several ``(rule or rule[applies_to], reason)`` pairs on one construct."""
    for rule, reason in findings:
        name, _, rest = rule.partition("[")
        acknowledge(construct, name, reason, applies_to=rest[:-1] if rest else None)


def nag_text(stack: Stack, value: str) -> str:
    """``value`` as cdk-nag prints it in a finding id: the stack's unresolved partition, region
    and account become ``<AWS::Partition>``, ``<AWS::Region>`` and ``<AWS::AccountId>``."""
    for token, placeholder in (
        (stack.partition, "<AWS::Partition>"),
        (stack.region, "<AWS::Region>"),
        (stack.account, "<AWS::AccountId>"),
    ):
        if Token.is_unresolved(token):
            value = value.replace(token, placeholder)
    return value
