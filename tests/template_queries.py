"""Small queries over a synthesized CloudFormation template (a dict), by relation not by name."""

from __future__ import annotations

import re
from typing import Any

Resource = dict[str, Any]


def resources(template: dict[str, Any], resource_type: str) -> dict[str, Resource]:
    """Logical id -> resource, for every resource of one type."""
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def only(template: dict[str, Any], resource_type: str) -> tuple[str, Resource]:
    """The single resource of a type (fails when there is not exactly one)."""
    found = resources(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.items()))


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def get_att(logical_id: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def tag(resource: Resource, key: str) -> str | None:
    for item in resource["Properties"].get("Tags", []):
        if item["Key"] == key:
            value: str = item["Value"]
            return value
    return None


def subnets_by_group(template: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Subnet group name (public/app/db) -> AZ -> subnet logical id."""
    groups: dict[str, dict[str, str]] = {}
    for logical_id, subnet in resources(template, "AWS::EC2::Subnet").items():
        group = tag(subnet, "aws-cdk:subnet-name")
        assert group is not None, f"{logical_id} has no subnet group tag"
        zone = subnet["Properties"]["AvailabilityZone"]
        assert zone not in groups.setdefault(group, {}), f"two {group} subnets in {zone}"
        groups[group][zone] = logical_id
    return groups


def route_table_of(template: dict[str, Any], subnet_id: str) -> str:
    """The logical id of the route table associated with a subnet."""
    tables = [
        association["Properties"]["RouteTableId"]["Ref"]
        for association in resources(template, "AWS::EC2::SubnetRouteTableAssociation").values()
        if association["Properties"]["SubnetId"] == ref(subnet_id)
    ]
    assert len(tables) == 1, f"{subnet_id} has {len(tables)} route tables"
    table: str = tables[0]
    return table


def default_routes(template: dict[str, Any], route_table_id: str) -> list[Resource]:
    """The 0.0.0.0/0 routes of one route table."""
    return [
        route
        for route in resources(template, "AWS::EC2::Route").values()
        if route["Properties"]["RouteTableId"] == ref(route_table_id)
        and route["Properties"].get("DestinationCidrBlock") == "0.0.0.0/0"
    ]


def policy_statements_of_role(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """Every statement of every inline and attached AWS::IAM::Policy that applies to a role."""
    statements: list[dict[str, Any]] = []
    role = template["Resources"][role_id]
    for policy in role["Properties"].get("Policies", []):
        statements.extend(policy["PolicyDocument"]["Statement"])
    for policy in resources(template, "AWS::IAM::Policy").values():
        if ref(role_id) in policy["Properties"].get("Roles", []):
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def imported(value: Any, producer: dict[str, Any]) -> Any:
    """The producer's value behind a cross-stack reference (``Fn::GetStackOutput``/ImportValue)."""
    if isinstance(value, dict) and "Fn::GetStackOutput" in value:
        return producer["Outputs"][value["Fn::GetStackOutput"]["OutputName"]]["Value"]
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        export = value["Fn::ImportValue"]
        for output in producer["Outputs"].values():
            if output.get("Export", {}).get("Name") == export:
                return output["Value"]
    raise AssertionError(f"{value} is not a reference to the producer stack")


def security_group_rules(
    template: dict[str, Any], group_id: str, rule_type: str
) -> list[dict[str, Any]]:
    """Ingress or egress rules of a security group: inline ones and separate resources."""
    inline_key = "SecurityGroupIngress" if rule_type == "ingress" else "SecurityGroupEgress"
    rules = list(template["Resources"][group_id]["Properties"].get(inline_key, []))
    resource_type = (
        "AWS::EC2::SecurityGroupIngress"
        if rule_type == "ingress"
        else "AWS::EC2::SecurityGroupEgress"
    )
    rules += [
        rule["Properties"]
        for rule in resources(template, resource_type).values()
        if rule["Properties"]["GroupId"] == get_att(group_id, "GroupId")
    ]
    return rules


def references(value: Any) -> set[str]:
    """Logical ids a value refers to with ``Ref``, ``Fn::GetAtt`` or ``Fn::Sub`` (pseudo
    parameters left out)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str) and not value["Ref"].startswith("AWS::"):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else target.split(".", 1)[0])
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            names = re.findall(r"\$\{([^}!]+)\}", text)
            found |= {name.split(".", 1)[0] for name in names if not name.startswith("AWS::")}
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def direct_dependencies(template: dict[str, Any], logical_id: str) -> set[str]:
    """What CloudFormation creates before a resource: its DependsOn, Refs and GetAtts."""
    resource = template["Resources"][logical_id]
    depends_on = resource.get("DependsOn", [])
    explicit = {depends_on} if isinstance(depends_on, str) else set(depends_on)
    implicit = references(resource.get("Properties", {}))
    return (explicit | implicit) & set(template["Resources"])


def all_dependencies(template: dict[str, Any], logical_id: str) -> set[str]:
    """Every resource created before this one, directly or through others."""
    seen: set[str] = set()
    pending = [logical_id]
    while pending:
        for dependency in direct_dependencies(template, pending.pop()):
            if dependency not in seen:
                seen.add(dependency)
                pending.append(dependency)
    return seen


def output_value(template: dict[str, Any], name: str) -> Any:
    """The value of the template's output ``name`` (a literal, or a token's JSON)."""
    return template["Outputs"][name]["Value"]
