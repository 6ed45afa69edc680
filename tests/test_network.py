"""The network tier of every shipped environment, asserted on relations between resources."""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from typing import Any

import pytest

from cdk_constructs.options import ApiKind, NatMode, SubnetGroup
from tests.synth import Synthesized, SynthesizedEnv
from tests.template_queries import (
    default_routes,
    get_att,
    only,
    policy_statements_of_role,
    ref,
    resources,
    route_table_of,
    subnets_by_group,
)


def test_shipped_environments_cover_every_nat_mode(synthesized: Synthesized) -> None:
    modes = {env.config.network.nat_mode for env in synthesized.envs.values()}
    assert modes == set(NatMode)


def test_three_subnet_tiers_one_per_az(env: SynthesizedEnv) -> None:
    template = env.network_json
    groups = subnets_by_group(template)
    zones = set(env.config.availability_zones)
    assert set(groups) == {group.value for group in SubnetGroup}
    for group, by_zone in groups.items():
        assert set(by_zone) == zones, f"{group} subnets are not one per configured AZ"

    expected_type = {"public": "Public", "app": "Private", "db": "Isolated"}
    all_subnets = resources(template, "AWS::EC2::Subnet")
    vpc_cidr = ipaddress.IPv4Network(env.config.network.vpc_cidr)
    for group, by_zone in groups.items():
        for subnet_id in by_zone.values():
            subnet = all_subnets[subnet_id]
            tags = {item["Key"]: item["Value"] for item in subnet["Properties"]["Tags"]}
            assert tags["aws-cdk:subnet-type"] == expected_type[group]
            assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
            subnet_cidr = ipaddress.IPv4Network(subnet["Properties"]["CidrBlock"])
            assert subnet_cidr.subnet_of(vpc_cidr)
            assert subnet_cidr.prefixlen <= 24


def test_every_app_subnet_has_a_default_route_to_a_nat_of_the_configured_mode(
    env: SynthesizedEnv,
) -> None:
    template = env.network_json
    groups = subnets_by_group(template)
    public_zone_of = {subnet: zone for zone, subnet in groups["public"].items()}
    targets: dict[str, Any] = {}
    for zone, subnet_id in groups["app"].items():
        routes = default_routes(template, route_table_of(template, subnet_id))
        assert len(routes) == 1, f"app subnet in {zone} has {len(routes)} default routes"
        targets[zone] = routes[0]["Properties"]

    mode = env.config.network.nat_mode
    if mode is NatMode.INSTANCE:
        instance_id, instance = only(template, "AWS::EC2::Instance")
        assert all(
            target == {**target, "InstanceId": ref(instance_id)} for target in targets.values()
        )
        assert instance["Properties"]["SourceDestCheck"] is False
        assert not resources(template, "AWS::EC2::NatGateway")
        return

    gateways = resources(template, "AWS::EC2::NatGateway")
    gateway_zone = {
        gateway_id: public_zone_of[gateway["Properties"]["SubnetId"]["Ref"]]
        for gateway_id, gateway in gateways.items()
    }
    used = {zone: target["NatGatewayId"]["Ref"] for zone, target in targets.items()}
    if mode is NatMode.SINGLE_GATEWAY:
        assert len(gateways) == 1
        assert set(used.values()) == set(gateways)
    else:
        assert len(gateways) == 2
        for zone, gateway_id in used.items():
            assert gateway_zone[gateway_id] == zone, f"app subnet in {zone} crosses AZs for NAT"
    assert not resources(template, "AWS::EC2::Instance")


def test_db_subnets_have_no_route_out_and_public_subnets_use_the_internet_gateway(
    env: SynthesizedEnv,
) -> None:
    template = env.network_json
    groups = subnets_by_group(template)
    gateway_id, _ = only(template, "AWS::EC2::InternetGateway")
    for subnet_id in groups["db"].values():
        assert default_routes(template, route_table_of(template, subnet_id)) == []
    for subnet_id in groups["public"].values():
        (route,) = default_routes(template, route_table_of(template, subnet_id))
        assert route["Properties"]["GatewayId"] == ref(gateway_id)


def test_nat_instance_is_small_arm_hardened_and_admits_only_the_vpc(
    synthesized: Synthesized,
) -> None:
    instance_envs = [
        e for e in synthesized.envs.values() if e.config.network.nat_mode is NatMode.INSTANCE
    ]
    assert {e.config.name for e in instance_envs} == {"dev", "spa"}
    for env in instance_envs:
        assert_nat_instance(env)


def assert_nat_instance(env: SynthesizedEnv) -> None:
    """One NAT instance: Graviton, IMDSv2, encrypted, forwarding only the VPC's traffic."""
    template = env.network_json
    _, instance = only(template, "AWS::EC2::Instance")
    properties = instance["Properties"]
    assert properties["InstanceType"].startswith("t4g.")  # Graviton (ARM)
    image_parameter = template["Parameters"][properties["ImageId"]["Ref"]]
    assert "arm64" in image_parameter["Default"]
    assert properties["MetadataOptions"]["HttpTokens"] == "required"
    assert all(mapping["Ebs"]["Encrypted"] for mapping in properties["BlockDeviceMappings"])
    # It forwards the app subnets' traffic to the internet: a public IP in a public subnet.
    (interface,) = properties["NetworkInterfaces"]
    assert interface["AssociatePublicIpAddress"] is True
    public_subnets = set(subnets_by_group(template)["public"].values())
    assert interface["SubnetId"]["Ref"] in public_subnets
    assert properties["SourceDestCheck"] is False
    (group_ref,) = interface["GroupSet"]
    group = template["Resources"][group_ref["Fn::GetAtt"][0]]
    ingress = group["Properties"]["SecurityGroupIngress"]
    assert [rule["CidrIp"] for rule in ingress] == [env.config.network.vpc_cidr]


def test_flow_log_records_all_traffic_into_an_encrypted_group_its_role_can_write(
    env: SynthesizedEnv,
) -> None:
    template = env.network_json
    _, flow_log = only(template, "AWS::EC2::FlowLog")
    properties = flow_log["Properties"]
    assert properties["ResourceId"] == ref(only(template, "AWS::EC2::VPC")[0])
    assert properties["TrafficType"] == "ALL"
    assert properties["LogDestinationType"] == "cloud-watch-logs"

    group_id = properties["LogGroupName"]["Ref"]
    group = template["Resources"][group_id]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == env.config.log_retention_days
    key_id = group["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]
    key = template["Resources"][key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    logs_statements = [
        statement
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if "logs." in json.dumps(statement.get("Principal", {}))
    ]
    (logs_statement,) = logs_statements
    admitted = logs_statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    name = group["Properties"]["LogGroupName"]
    arn = f"arn:aws:logs:{env.config.region}:{env.config.account}:log-group:{name}"
    assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in admitted)

    role_id = properties["DeliverLogsPermissionArn"]["Fn::GetAtt"][0]
    role = template["Resources"][role_id]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": env.config.account}
    statements = policy_statements_of_role(template, role_id)
    assert statements, "the flow log role has no permissions"
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert statement["Resource"] == get_att(group_id, "Arn"), "role reaches beyond its group"
        assert all(
            action.startswith("logs:") and "*" not in action for action in statement["Action"]
        )
    granted = {action for statement in statements for action in statement["Action"]}
    assert {"logs:CreateLogStream", "logs:PutLogEvents"} <= granted


def test_stateful_network_resources_follow_the_data_policy(env: SynthesizedEnv) -> None:
    template = env.network_json
    retained = env.config.retain_data
    # Kept, except when the create that made them rolls back (test_first_deploy.py).
    expected = "RetainExceptOnCreate" if retained else "Delete"
    for resource_type in ("AWS::Logs::LogGroup", "AWS::KMS::Key", "AWS::ECR::Repository"):
        for logical_id, resource in resources(template, resource_type).items():
            assert resource.get("DeletionPolicy") == expected, logical_id
            assert resource.get("UpdateReplacePolicy") == ("Retain" if retained else "Delete")
    assert env.stage.network.termination_protection is env.config.retain_data


def test_gateway_endpoints_serve_the_private_route_tables(env: SynthesizedEnv) -> None:
    template = env.network_json
    groups = subnets_by_group(template)
    private_tables = sorted(
        route_table_of(template, subnet_id)
        for group in ("app", "db")
        for subnet_id in groups[group].values()
    )
    gateway_endpoints = [
        endpoint
        for endpoint in resources(template, "AWS::EC2::VPCEndpoint").values()
        if endpoint["Properties"].get("VpcEndpointType") == "Gateway"
    ]
    services = set()
    for endpoint in gateway_endpoints:
        services.add(json.dumps(endpoint["Properties"]["ServiceName"]))
        tables = sorted(table["Ref"] for table in endpoint["Properties"]["RouteTableIds"])
        assert tables == private_tables
    assert len(services) == 2
    assert any(".s3" in service for service in services)
    assert any(".dynamodb" in service for service in services)


def test_interface_endpoints_match_config_in_app_subnets_with_private_dns(
    env: SynthesizedEnv,
) -> None:
    template = env.network_json
    groups = subnets_by_group(template)
    app_subnets = sorted(groups["app"].values())
    interface_endpoints = [
        endpoint["Properties"]
        for endpoint in resources(template, "AWS::EC2::VPCEndpoint").values()
        if endpoint["Properties"].get("VpcEndpointType") == "Interface"
    ]
    names = set()
    for endpoint in interface_endpoints:
        service = endpoint["ServiceName"]
        names.add(service.split(f"com.amazonaws.{env.config.region}.", 1)[1])
        assert endpoint["PrivateDnsEnabled"] is True
        assert sorted(subnet["Ref"] for subnet in endpoint["SubnetIds"]) == app_subnets
        assert "PolicyDocument" not in endpoint or endpoint["PolicyDocument"]
    expected = {endpoint.value for endpoint in env.config.network.interface_endpoints}
    expected.update(endpoint.value for endpoint in env.config.api.interface_endpoints)
    assert names == expected


def test_endpoint_security_group_admits_only_https_from_the_vpc(env: SynthesizedEnv) -> None:
    template = env.network_json
    group_ids = {
        group["Fn::GetAtt"][0]
        for endpoint in resources(template, "AWS::EC2::VPCEndpoint").values()
        for group in endpoint["Properties"].get("SecurityGroupIds", [])
    }
    assert len(group_ids) == 1
    group = template["Resources"][group_ids.pop()]["Properties"]
    assert group["SecurityGroupIngress"] == [
        {
            "CidrIp": env.config.network.vpc_cidr,
            "Description": "HTTPS from inside the VPC",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    # allow_all_outbound=False: CDK's placeholder rule that matches no traffic.
    assert group["SecurityGroupEgress"] == [
        {
            "CidrIp": "255.255.255.255/32",
            "Description": "Disallow all traffic",
            "FromPort": 252,
            "IpProtocol": "icmp",
            "ToPort": 86,
        }
    ]


def test_default_security_group_is_stripped_of_its_rules(env: SynthesizedEnv) -> None:
    template = env.network_json
    vpc_id, _ = only(template, "AWS::EC2::VPC")
    _, restrict = only(template, "Custom::VpcRestrictDefaultSG")
    assert restrict["Properties"]["DefaultSecurityGroupId"] == get_att(
        vpc_id, "DefaultSecurityGroup"
    )


@pytest.mark.parametrize("image", ["api", "web"])
def test_ecr_repository_settings(env: SynthesizedEnv, image: str) -> None:
    template = env.network_json
    name = f"three-tier/{env.config.name}/{image}"
    (repository,) = [
        resource
        for resource in resources(template, "AWS::ECR::Repository").values()
        if resource["Properties"]["RepositoryName"] == name
    ]
    properties = repository["Properties"]
    assert properties["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert properties["ImageTagMutability"] == "IMMUTABLE"
    assert properties["EncryptionConfiguration"] == {"EncryptionType": "KMS"}
    assert properties.get("EmptyOnDelete", False) is (not env.config.retain_data)

    rules = json.loads(properties["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    by_status = {rule["selection"]["tagStatus"]: rule["selection"] for rule in rules}
    assert by_status["untagged"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countNumber": 7,
        "countUnit": "days",
    }
    assert by_status["tagged"]["countType"] == "imageCountMoreThan"
    assert by_status["tagged"]["countNumber"] == env.config.registry.keep_tagged_images
    assert by_status["tagged"]["tagPatternList"] == ["*"]


def test_public_api_shape_has_no_execute_api_endpoint(synthesized: Synthesized) -> None:
    """With private DNS, an execute-api endpoint answers the VPC's calls to every public API
    with 403; the public services API needs none, so spa's network has none."""
    spa = synthesized.envs["spa"]
    assert spa.config.api.kind is ApiKind.PUBLIC_SERVICES
    services = [
        str(endpoint["Properties"]["ServiceName"])
        for endpoint in resources(spa.network_json, "AWS::EC2::VPCEndpoint").values()
    ]
    assert services, "spa still has its gateway endpoints"
    assert not [service for service in services if service.endswith(".execute-api")]
