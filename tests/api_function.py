"""The API's function in a synthesized API tier template, found as its consumers see it: by its
description, then its security group's egress and its role's statements. Shared by the API tier
tests and the data engine seam's (whose fake engine must reach the function the same way)."""

from __future__ import annotations

from typing import Any

from tests.template_queries import policy_statements_of_role, resources, security_group_rules

Resource = dict[str, Any]


def api_function(template: dict[str, Any]) -> tuple[str, Resource]:
    """(logical id, resource) of the items API's function."""
    (found,) = [
        (logical_id, function)
        for logical_id, function in resources(template, "AWS::Lambda::Function").items()
        if function["Properties"].get("Description") == "Items API"
    ]
    return found


def api_alias(template: dict[str, Any]) -> tuple[str, Resource]:
    """(logical id, resource) of the function's ``live`` alias: what API Gateway invokes."""
    function_id, _ = api_function(template)
    (found,) = [
        (logical_id, alias)
        for logical_id, alias in resources(template, "AWS::Lambda::Alias").items()
        if alias["Properties"]["FunctionName"] == {"Ref": function_id}
        and alias["Properties"]["Name"] == "live"
    ]
    return found


def function_group(template: dict[str, Any]) -> str:
    """The logical id of the function's security group."""
    (group,) = api_function(template)[1]["Properties"]["VpcConfig"]["SecurityGroupIds"]
    return str(group["Fn::GetAtt"][0])


def function_egress(template: dict[str, Any]) -> list[Resource]:
    """The egress rules of the function's security group."""
    return security_group_rules(template, function_group(template), "egress")


def function_role(template: dict[str, Any]) -> str:
    """The logical id of the function's role."""
    return str(api_function(template)[1]["Properties"]["Role"]["Fn::GetAtt"][0])


def function_statements(template: dict[str, Any]) -> list[Resource]:
    """Every statement of the policies of the function's role."""
    return policy_statements_of_role(template, function_role(template))
