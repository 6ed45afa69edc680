"""The synthesized templates of cdk.out, grouped by nested cloud assembly (one per stage)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

Properties = Mapping[str, Any]
"""A resource's ``Properties``, as the template has them."""


class CdkOutError(Exception):
    """``cdk.out`` is missing or unreadable; ``str()`` is the one line shown to the user."""


@dataclass(frozen=True)
class Resource:
    """One resource of one stack's template."""

    stack: str
    """The stack's name: its template file's, without ``.template.json``."""
    logical_id: str
    type: str
    properties: Properties


def _reference_target(value: Any) -> str | None:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` points at, or None for anything else."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    if isinstance(value.get("Ref"), str):
        target: str = value["Ref"]
        return target
    get_att = value.get("Fn::GetAtt")
    if isinstance(get_att, list) and get_att and isinstance(get_att[0], str):
        head: str = get_att[0]
        return head
    if isinstance(get_att, str):
        return get_att.split(".", 1)[0]
    return None


def references(value: Any) -> Iterator[str]:
    """Every logical id a (nested) property value refers to."""
    target = _reference_target(value)
    if target is not None:
        yield target
    elif isinstance(value, dict):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


@dataclass(frozen=True)
class Stack:
    """One synthesized template: references resolve within it."""

    name: str
    resources: Mapping[str, Resource]

    @classmethod
    def from_template(cls, name: str, template: Mapping[str, Any]) -> Stack:
        resources = {
            logical_id: Resource(
                stack=name,
                logical_id=logical_id,
                type=str(body.get("Type", "")),
                properties=body.get("Properties") or {},
            )
            for logical_id, body in (template.get("Resources") or {}).items()
        }
        return cls(name=name, resources=resources)

    def of_type(self, *resource_types: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type in resource_types]

    def target_of(self, value: Any) -> Resource | None:
        """The resource of this stack a ``Ref``/``Fn::GetAtt`` value points at."""
        target = _reference_target(value)
        return None if target is None else self.resources.get(target)


@dataclass(frozen=True)
class Assembly:
    """One nested cloud assembly of cdk.out: an environment's stage, or account-level stacks."""

    name: str
    stacks: tuple[Stack, ...]

    def resources(self) -> Iterator[Resource]:
        for stack in self.stacks:
            yield from stack.resources.values()

    def of_type(self, *resource_types: str) -> list[Resource]:
        return [r for r in self.resources() if r.type in resource_types]


ASSEMBLY_PREFIX = "assembly-"


def load_assemblies(cdk_out: Path) -> list[Assembly]:
    """Every ``assembly-<name>/*.template.json`` of a cdk.out folder, by name."""
    if not cdk_out.is_dir():
        raise CdkOutError(f"{cdk_out} not found: run `make synth` first (or pass --cdk-out DIR)")
    folders = sorted(p for p in cdk_out.glob(f"{ASSEMBLY_PREFIX}*") if p.is_dir())
    if not folders:
        raise CdkOutError(f"{cdk_out} has no {ASSEMBLY_PREFIX}*/ folders: run `make synth` first")
    assemblies = []
    for folder in folders:
        stacks = []
        for path in sorted(folder.glob("*.template.json")):
            try:
                template = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as error:
                raise CdkOutError(f"cannot read template {path}: {error}") from error
            stacks.append(Stack.from_template(path.name.removesuffix(".template.json"), template))
        assemblies.append(
            Assembly(name=folder.name.removeprefix(ASSEMBLY_PREFIX), stacks=tuple(stacks))
        )
    return assemblies


def literal_decimal(value: Any) -> Decimal | None:
    """A literal number (or numeric string) of a template as a Decimal; None for intrinsics."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def list_length(value: Any) -> int:
    """How many items a list property has (0 when absent or not a literal list)."""
    return len(value) if isinstance(value, list) else 0
