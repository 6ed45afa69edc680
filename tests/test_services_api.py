"""The public services API tier (``api.kind`` public_services) as synthesized for the ``spa``
environment: the authorizer on every method, the gateway responses, the VPC link to the internal
NLB, the role table, the authorizer's exact permissions and the services' database login."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template as CdkTemplate

from cdk_constructs.data_engine.choices import EngineFamily
from cdk_constructs.options import AuthorizerType
from cdk_constructs.public_api import PublicApiProps, PublicRestApi
from cdk_constructs.vpc_function import ENI_ACTIONS
from stacks.config import APP_CONFIG, deploy_role_name, repository_name
from stacks.config.names import service_repository_name, sign_in_clients_parameter
from stacks.data_stack import API_DB_USER, READONLY_DB_USER
from stacks.github_oidc_stack import GitHubOidcStage
from stacks.services_api_stack import AUTHORIZER_HANDLER, STAGE_NAME
from tests.synth import Tier, scratch_app, synth_variant, synth_variant_tiers
from tests.template_queries import (
    get_att,
    imported,
    only,
    output_value,
    policy_statements_of_role,
    ref,
    resources,
    security_group_rules,
    subnets_by_group,
)
from tests.test_data_helpers import database_in, front_group_in, resource_id_attribute

SPA = APP_CONFIG.environment("spa")
Template = dict[str, Any]


@pytest.fixture(scope="module")
def tiers() -> dict[Tier, Template]:
    return synth_variant_tiers(SPA, Tier.API)


@pytest.fixture(scope="module")
def api(tiers: dict[Tier, Template]) -> Template:
    return tiers[Tier.API]


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def authorizer_function(api: Template) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, function)
        for logical_id, function in resources(api, "AWS::Lambda::Function").items()
        if function["Properties"].get("Handler") == AUTHORIZER_HANDLER
    ]
    return found


def app_subnet_ids(tiers: dict[Tier, Template], subnet_refs: list[Any]) -> set[str]:
    """The subnet group names of subnets the API stack imports from the network stack."""
    network = tiers[Tier.NETWORK]
    groups = {
        subnet: group
        for group, by_zone in subnets_by_group(network).items()
        for subnet in by_zone.values()
    }
    return {groups[imported(subnet, network)["Ref"]] for subnet in subnet_refs}


def uri_text(uri: Any) -> str:
    """An ``Fn::Join`` URI with the NLB's DNS name shown as ``<nlb>``."""
    parts = uri["Fn::Join"][1]
    return "".join(part if isinstance(part, str) else "<nlb>" for part in parts)


def path_of(api: Template, method: dict[str, Any]) -> str:
    parts: list[str] = []
    resource_ref = method["Properties"]["ResourceId"]
    while "Ref" in resource_ref:
        resource = api["Resources"][resource_ref["Ref"]]["Properties"]
        parts.insert(0, resource["PathPart"])
        resource_ref = resource["ParentId"]
    return "/" + "/".join(parts)


# --- the authorizer on every method ----------------------------------------------------------


def test_every_method_is_behind_the_one_lambda_authorizer(api: Template) -> None:
    authorizer_id, authorizer = only(api, "AWS::ApiGateway::Authorizer")
    methods = resources(api, "AWS::ApiGateway::Method").values()
    expected = {
        path
        for service in SPA.api.services
        for path in (f"/{service.path_prefix}", f"/{service.path_prefix}/{{proxy+}}")
    }
    assert {path_of(api, method) for method in methods} == expected
    for method in methods:
        props = method["Properties"]
        assert props["AuthorizationType"] == "CUSTOM"
        assert props["AuthorizerId"] == ref(authorizer_id)
        assert props.get("ApiKeyRequired") is False
    function_id, _ = authorizer_function(api)
    assert function_id in json.dumps(authorizer["Properties"]["AuthorizerUri"])


def test_authorizer_type_cache_and_identity_source_follow_config(api: Template) -> None:
    _, authorizer = only(api, "AWS::ApiGateway::Authorizer")
    props = authorizer["Properties"]
    assert props["Type"] == SPA.api.authorizer.type.value.upper()
    assert props["AuthorizerResultTtlInSeconds"] == SPA.api.authorizer.cache_ttl_seconds
    assert props["IdentitySource"] == "method.request.header.Authorization"


@pytest.mark.parametrize(("kind", "ttl"), [(AuthorizerType.TOKEN, 0), (AuthorizerType.REQUEST, 60)])
def test_public_api_builds_the_configured_authorizer_type(kind: AuthorizerType, ttl: int) -> None:
    stack = Stack(scratch_app(), "Api")
    function = lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): return None"),
    )
    public_api = PublicRestApi(
        stack,
        "Api",
        props=PublicApiProps(
            name="api",
            description="test",
            stage_name="api",
            authorizer_function=function,
            authorizer_type=kind,
            authorizer_cache_ttl=Duration.seconds(ttl),
            throttle_rate_limit=1,
            throttle_burst_limit=1,
            log_retention=logs.RetentionDays.ONE_DAY,
            removal_policy=RemovalPolicy.DESTROY,
        ),
    )
    public_api.rest_api.root.add_method("GET", authorizer=public_api.authorizer)
    template = dict(CdkTemplate.from_stack(stack).to_json())
    _, authorizer = only(template, "AWS::ApiGateway::Authorizer")
    assert authorizer["Properties"]["Type"] == kind.value.upper()
    assert authorizer["Properties"]["AuthorizerResultTtlInSeconds"] == ttl
    assert authorizer["Properties"]["IdentitySource"] == "method.request.header.Authorization"


# --- the stage, no CORS, the gateway responses -------------------------------------------------


def test_api_is_regional_with_stage_api_throttled_traced_and_logged(api: Template) -> None:
    _, rest_api = only(api, "AWS::ApiGateway::RestApi")
    assert rest_api["Properties"]["EndpointConfiguration"]["Types"] == ["REGIONAL"]
    assert "Policy" not in rest_api["Properties"]
    _, stage = only(api, "AWS::ApiGateway::Stage")
    props = stage["Properties"]
    assert props["StageName"] == STAGE_NAME
    assert props["TracingEnabled"] is True
    (settings,) = props["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == SPA.api.throttle_rate_limit
    assert settings["ThrottlingBurstLimit"] == SPA.api.throttle_burst_limit
    assert settings["DataTraceEnabled"] is False
    assert "DestinationArn" in props["AccessLogSetting"]
    # No CORS: no OPTIONS method, and no Access-Control-* header anywhere.
    assert "Access-Control" not in json.dumps(api)
    methods = resources(api, "AWS::ApiGateway::Method").values()
    assert {method["Properties"]["HttpMethod"] for method in methods} == {"ANY"}


EXPECTED_RESPONSES = {
    "UNAUTHORIZED": ("401", "UNAUTHORIZED"),
    "ACCESS_DENIED": ("403", "FORBIDDEN"),
    "MISSING_AUTHENTICATION_TOKEN": ("404", "ROUTE_NOT_FOUND"),
    "DEFAULT_4XX": (None, "$context.error.responseType"),
    "DEFAULT_5XX": (None, "$context.error.responseType"),
}


def test_gateway_responses_answer_in_the_platform_error_shape(api: Template) -> None:
    responses = {
        response["Properties"]["ResponseType"]: response["Properties"]
        for response in resources(api, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == set(EXPECTED_RESPONSES)
    for response_type, (status, code) in EXPECTED_RESPONSES.items():
        props = responses[response_type]
        assert props.get("StatusCode") == status, response_type
        template = props["ResponseTemplates"]["application/json"]
        # API Gateway fills messageString with a JSON string: the body is JSON once it does.
        body = json.loads(template.replace("$context.error.messageString", '"a message"'))
        assert body == {"error": {"code": code, "message": "a message"}}


# --- the VPC link, the NLB and the integrations ----------------------------------------------


def test_vpc_link_targets_the_internal_nlb_in_the_app_subnets(
    tiers: dict[Tier, Template], api: Template
) -> None:
    nlb_id, nlb = only(api, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    _, link = only(api, "AWS::ApiGateway::VpcLink")
    assert link["Properties"]["TargetArns"] == [ref(nlb_id)]
    props = nlb["Properties"]
    assert (props["Type"], props["Scheme"]) == ("network", "internal")
    assert app_subnet_ids(tiers, props["Subnets"]) == {"app"}


def test_nlb_admits_nothing_and_privatelink_traffic_skips_its_inbound_rules(
    api: Template,
) -> None:
    _, nlb = only(api, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    props = nlb["Properties"]
    assert props["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "off"
    (group,) = props["SecurityGroups"]
    assert security_group_rules(api, group["Fn::GetAtt"][0], "ingress") == []


def service_groups(api: Template) -> dict[int, str]:
    """Container port -> the logical id of the security group of the service running it."""
    groups = {}
    for service in resources(api, "AWS::ECS::Service").values():
        (load_balancer,) = service["Properties"]["LoadBalancers"]
        network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        (group,) = network["SecurityGroups"]
        groups[load_balancer["ContainerPort"]] = group["Fn::GetAtt"][0]
    return groups


def test_each_service_admits_only_its_port_and_only_from_the_nlb(api: Template) -> None:
    _, nlb = only(api, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    (nlb_group,) = nlb["Properties"]["SecurityGroups"]
    groups = service_groups(api)
    assert set(groups) == {service.port for service in SPA.api.services}
    for port, group in groups.items():
        (rule,) = security_group_rules(api, group, "ingress")
        assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (port, port, "tcp")
        assert rule["SourceSecurityGroupId"] == nlb_group
    nlb_egress = security_group_rules(api, nlb_group["Fn::GetAtt"][0], "egress")
    assert {
        (rule["FromPort"], rule["DestinationSecurityGroupId"]["Fn::GetAtt"][0])
        for rule in nlb_egress
    } == set(groups.items())


def test_services_run_in_the_app_subnets_without_public_ips(
    tiers: dict[Tier, Template], api: Template
) -> None:
    services = resources(api, "AWS::ECS::Service").values()
    assert len(services) == len(SPA.api.services)
    for service in services:
        network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED"
        assert app_subnet_ids(tiers, network["Subnets"]) == {"app"}


def test_integrations_proxy_each_service_over_the_vpc_link_with_the_caller_headers(
    api: Template,
) -> None:
    link_id, _ = only(api, "AWS::ApiGateway::VpcLink")
    by_path = {
        path_of(api, method): method["Properties"]["Integration"]
        for method in resources(api, "AWS::ApiGateway::Method").values()
    }
    for service in SPA.api.services:
        base = f"http://<nlb>:{service.port}/{service.path_prefix}"
        for path, uri in (
            (f"/{service.path_prefix}", base),
            (f"/{service.path_prefix}/{{proxy+}}", f"{base}/{{proxy}}"),
        ):
            integration = by_path[path]
            assert integration["Type"] == "HTTP_PROXY"
            assert integration["ConnectionType"] == "VPC_LINK"
            assert integration["ConnectionId"] == ref(link_id)
            assert integration["TimeoutInMillis"] <= 29000
            assert uri_text(integration["Uri"]) == uri
            parameters = integration["RequestParameters"]
            assert parameters["integration.request.header.X-User-Id"] == (
                "context.authorizer.userId"
            )
            assert parameters["integration.request.header.X-User-Roles"] == (
                "context.authorizer.roles"
            )
            if "proxy" in uri:
                assert parameters["integration.request.path.proxy"] == "method.request.path.proxy"


# --- the role table and the authorizer function ----------------------------------------------


def test_role_table_is_keyed_by_subject_with_pitr_and_the_environment_key(
    tiers: dict[Tier, Template], api: Template
) -> None:
    table_id, table = only(api, "AWS::DynamoDB::GlobalTable")
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "subject", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "subject", "AttributeType": "S"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    (replica,) = props["Replicas"]
    assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    key = imported(replica["SSESpecification"]["KMSMasterKeyId"], tiers[Tier.NETWORK])
    assert tiers[Tier.NETWORK]["Resources"][key["Fn::GetAtt"][0]]["Type"] == "AWS::KMS::Key"
    assert output_value(api, "RoleTableName") == ref(table_id)


def test_authorizer_settings_and_network(tiers: dict[Tier, Template], api: Template) -> None:
    _, function = authorizer_function(api)
    props = function["Properties"]
    variables = props["Environment"]["Variables"]
    assert json.loads(variables["ROUTE_ROLES"]) == {
        route: list(roles) for route, roles in SPA.api.route_roles.items()
    }
    assert variables["CLIENT_IDS_PARAMETER"] == sign_in_clients_parameter(APP_CONFIG, SPA)
    assert variables["ROLE_TABLE"] == ref(only(api, "AWS::DynamoDB::GlobalTable")[0])
    (pool_id, _) = only(api, "AWS::Cognito::UserPool")
    # ProviderURL: cognito-idp.<region>.amazonaws.com/<pool id>, the tokens' iss without scheme.
    assert variables["ISSUER"] == {"Fn::Join": ["", ["https://", get_att(pool_id, "ProviderURL")]]}
    assert 256 <= props["MemorySize"] <= 512
    assert props["Timeout"] == 10
    assert app_subnet_ids(tiers, props["VpcConfig"]["SubnetIds"]) == {"app"}
    (group,) = props["VpcConfig"]["SecurityGroupIds"]
    (egress,) = security_group_rules(api, group["Fn::GetAtt"][0], "egress")
    assert (egress["FromPort"], egress["ToPort"], egress["IpProtocol"]) == (443, 443, "tcp")
    assert security_group_rules(api, group["Fn::GetAtt"][0], "ingress") == []


def test_authorizer_may_read_one_item_of_the_role_table_and_the_one_parameter(
    tiers: dict[Tier, Template], api: Template
) -> None:
    _, function = authorizer_function(api)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    table_id, _ = only(api, "AWS::DynamoDB::GlobalTable")
    parameter = sign_in_clients_parameter(APP_CONFIG, SPA)
    granted: dict[str, Any] = {}
    for statement in policy_statements_of_role(api, role_id):
        assert statement["Effect"] == "Allow"
        for action in actions(statement):
            assert action not in granted, f"{action} granted twice"
            granted[action] = statement
    log_actions = {"logs:CreateLogStream", "logs:PutLogEvents"}
    tracing = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert set(granted) == {
        *ENI_ACTIONS, *tracing, *log_actions, "dynamodb:GetItem", "kms:Decrypt",
        "ssm:GetParameter",
    }  # fmt: skip
    assert granted["dynamodb:GetItem"]["Resource"] == get_att(table_id, "Arn")
    assert granted["ssm:GetParameter"]["Resource"] == (
        f"arn:aws:ssm:{SPA.region}:{SPA.account}:parameter{parameter}"
    )
    decrypt = granted["kms:Decrypt"]
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": f"dynamodb.{SPA.region}.amazonaws.com"}
    }
    key = imported(decrypt["Resource"], tiers[Tier.NETWORK])
    assert tiers[Tier.NETWORK]["Resources"][key["Fn::GetAtt"][0]]["Type"] == "AWS::KMS::Key"


# --- the services' database login --------------------------------------------------------------


def test_only_the_database_service_logs_in_to_the_database(
    tiers: dict[Tier, Template], api: Template
) -> None:
    data = tiers[Tier.DATA]
    # What clients reach: the proxy when there is one, else the database (cluster or instance).
    assert bool(resources(data, "AWS::RDS::DBProxy")) is SPA.database.proxy
    front_group = front_group_in(data)
    port = SPA.database.spec.family.port
    groups = service_groups(api)
    definitions = resources(api, "AWS::ECS::TaskDefinition")
    by_port = {}
    for ecs_service in resources(api, "AWS::ECS::Service").values():
        (load_balancer,) = ecs_service["Properties"]["LoadBalancers"]
        by_port[load_balancer["ContainerPort"]] = definitions[
            ecs_service["Properties"]["TaskDefinition"]["Ref"]
        ]
    for service in SPA.api.services:
        definition = by_port[service.port]["Properties"]
        task_role = definition["TaskRoleArn"]["Fn::GetAtt"][0]
        connects = [
            statement
            for statement in policy_statements_of_role(api, task_role)
            if "rds-db:connect" in actions(statement)
        ]
        egress = security_group_rules(api, groups[service.port], "egress")
        to_database = [
            rule
            for rule in egress
            if "DestinationSecurityGroupId" in rule
            and imported(rule["DestinationSecurityGroupId"], data) == front_group
        ]
        (container,) = [c for c in definition["ContainerDefinitions"] if c["Name"] == "web"]
        variables = {item["Name"]: item["Value"] for item in container.get("Environment", [])}
        if service.database:
            (statement,) = connects
            assert json.dumps(statement["Resource"]).endswith(f'/{API_DB_USER}"]]}}')
            assert [(rule["FromPort"], rule["ToPort"]) for rule in to_database] == [(port, port)]
            assert variables["DB_USER"] == API_DB_USER
            assert variables["DB_PORT"] == str(port)
            assert variables["DB_SSLMODE"] == ("verify-full" if SPA.database.proxy else "require")
            assert {"DB_HOST", "DB_NAME"} <= set(variables)
            # A PostgreSQL client's configuration names no family (the default).
            if SPA.database.spec.family is EngineFamily.POSTGRESQL:
                assert "DB_ENGINE_FAMILY" not in variables
        else:
            assert connects == []
            assert to_database == []
            assert not any(name.startswith("DB_") for name in variables)


def test_the_proxy_logs_in_to_the_database_as_the_services_user(
    tiers: dict[Tier, Template],
) -> None:
    """End-to-end IAM through the proxy: the proxy's role may log in to the database itself (a
    cluster's ``cluster-…`` or an instance's ``db-…`` resource id) as the service's user, and as
    the operators' read-only user where operator access is on; no other."""
    data = tiers[Tier.DATA]
    proxies = resources(data, "AWS::RDS::DBProxy")
    if not SPA.database.proxy:
        assert proxies == {}
        return
    ((_, proxy),) = proxies.items()
    role_id = proxy["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    database_id, database = database_in(data)
    connect = [
        statement["Resource"]
        for statement in policy_statements_of_role(data, role_id)
        if "rds-db:connect" in actions(statement)
    ]
    users = [API_DB_USER, *([READONLY_DB_USER] if SPA.operator_access.enabled else [])]
    logins = [
        {
            "Fn::Join": [
                "",
                [
                    f"arn:aws:rds-db:{SPA.region}:{SPA.account}:dbuser:",
                    get_att(database_id, resource_id_attribute(database)),
                    f"/{user}",
                ],
            ]
        }
        for user in users
    ]
    assert connect == [logins if len(logins) > 1 else logins[0]]


# --- outputs -----------------------------------------------------------------------------------


def test_outputs_name_the_api_the_sign_in_the_roles_and_the_services(api: Template) -> None:
    assert {
        "ApiUrl",
        "UserPoolId",
        "RoleTableName",
        "SignInUrl",
        "ServiceNames",
        "ClusterName",
    } <= set(api["Outputs"])
    assert output_value(api, "ServiceNames") == ",".join(s.name for s in SPA.api.services)
    release = json.loads(output_value(api, "Release"))
    assert (release["strategy"], release["circuit_breaker_rollback"]) == ("rolling", True)
    assert release["cluster"] == output_value(api, "ClusterName")
    assert not any(name.startswith("ApiFunction") for name in api["Outputs"])


# --- the ops stack: the services' alarms and dashboard row --------------------------------------


def test_ops_alarms_on_each_service_and_graphs_them_in_a_services_row() -> None:
    ops = synth_variant(SPA, Tier.OPS)
    alarms = [alarm["Properties"] for alarm in resources(ops, "AWS::CloudWatch::Alarm").values()]
    for service in SPA.api.services:
        described = [a for a in alarms if a["AlarmDescription"].startswith(f"{service.name}: ")]
        assert len(described) == 3, service.name
        text = json.dumps(described)
        assert all(metric in text for metric in ("UnHealthyHostCount", "RunningTaskCount"))
        assert "CPUUtilization" in text
        # Every dimension a plain cross-stack value: no ARN parsed with Fn::Split.
        assert "Fn::Split" not in text
        for alarm in described:
            assert alarm["AlarmActions"], alarm["AlarmDescription"]
    (dashboard,) = resources(ops, "AWS::CloudWatch::Dashboard").values()
    assert "## 8. Services" in json.dumps(dashboard["Properties"]["DashboardBody"])
    # The authorizer refuses bad tokens by raising: no "Errors" alarm that anyone's bad token
    # sets off; its throttles and duration are watched, and a crash is the stage's 5XX rate.
    watched = {a.get("MetricName") for a in alarms}
    assert "Errors" not in watched
    assert {"Throttles", "Duration", "5XXError"} <= watched


# --- the deploy role pushes the services' images ----------------------------------------------


def test_deploy_role_may_push_to_each_service_repository_and_no_other(tmp_path: Path) -> None:
    app = scratch_app(tmp_path)
    stage = GitHubOidcStage(
        app,
        app=APP_CONFIG,
        account=SPA.account,
        environments=[SPA],
        bootstrap_qualifier="hnb659fds",
    )
    template = dict(CdkTemplate.from_stack(stage.stack).to_json())
    (role_id,) = [
        logical_id
        for logical_id, role in resources(template, "AWS::IAM::Role").items()
        if role["Properties"].get("RoleName") == deploy_role_name(APP_CONFIG, SPA)
    ]
    (push,) = [
        statement
        for statement in policy_statements_of_role(template, role_id)
        if "ecr:PutImage" in actions(statement)
    ]
    expected = [
        *(repository_name(APP_CONFIG, SPA, image) for image in APP_CONFIG.github.image_sources),
        *(service_repository_name(APP_CONFIG, SPA, s.name) for s in SPA.api.services),
    ]
    assert sorted(push["Resource"]) == sorted(
        f"arn:aws:ecr:{SPA.region}:{SPA.account}:repository/{name}" for name in expected
    )
