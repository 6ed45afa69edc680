"""No log group without the environment's retention: every one the app creates, and every one
Lambda, custom resources, the canary, the proxy, API Gateway, Container Insights, secret
rotation or App Runner would otherwise create on their own with no expiry (the EC2 runtime's
Docker writes to one the app creates)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cdk_constructs.options import ApiKind, WebRuntime
from stacks.config import APP_CONFIG
from tests.synth import Synthesized
from tests.template_queries import all_dependencies, ref, resources
from tests.web_variants import boot_script, container_log_group_id

AWS_CUSTOM_RESOURCE_TYPE = "Custom::AWS"


def environment_templates(outdir: Path) -> dict[str, list[dict[str, Any]]]:
    """Environment name -> its templates, walking the assembly directories."""
    templates: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(outdir.glob("assembly-*/*.template.json")):
        name = path.parent.name.removeprefix("assembly-")
        templates.setdefault(name, []).append(json.loads(path.read_text()))
    return templates


def log_group_problems(template: dict[str, Any], days: int) -> list[str]:
    """Every log group without ``days`` of retention and every function without its own
    log group (``LoggingConfig.LogGroup``, or a group named ``/aws/lambda/<that function>``)."""
    problems: list[str] = []
    groups = resources(template, "AWS::Logs::LogGroup")
    for logical_id, group in groups.items():
        retention = group["Properties"].get("RetentionInDays")
        if retention != days:
            problems.append(f"log group {logical_id}: retention {retention}, expected {days}")
    named_for = {json.dumps(group["Properties"].get("LogGroupName")) for group in groups.values()}
    for logical_id, function in resources(template, "AWS::Lambda::Function").items():
        config = function["Properties"].get("LoggingConfig", {})
        if "LogGroup" in config:
            assert config["LogGroup"]["Ref"] in groups, logical_id
            continue
        default = {"Fn::Join": ["", ["/aws/lambda/", ref(logical_id)]]}
        if json.dumps(default) not in named_for:
            problems.append(f"function {logical_id} has no log group of its own")
    return problems


def sdk_call(value: Any) -> dict[str, Any]:
    """An AwsCustomResource SDK call: a JSON string, or one joined with deploy-time tokens."""
    if isinstance(value, dict):
        value = "".join(part if isinstance(part, str) else "<id>" for part in value["Fn::Join"][1])
    call: dict[str, Any] = json.loads(value)
    return call


def implicit_log_group_retention(template: dict[str, Any]) -> dict[str, int]:
    """Log group name -> retention set by ImplicitLogGroup's putRetentionPolicy calls."""
    found: dict[str, int] = {}
    for custom in resources(template, AWS_CUSTOM_RESOURCE_TYPE).values():
        create = custom["Properties"].get("Create")
        if create is None:
            continue
        call = sdk_call(create)
        if call["action"] == "putRetentionPolicy":
            parameters = call["parameters"]
            found[parameters["logGroupName"]] = parameters["retentionInDays"]
    return found


def test_every_log_group_has_the_environments_retention(synthesized: Synthesized) -> None:
    by_env = environment_templates(synthesized.outdir)
    for env in APP_CONFIG.environments:
        problems = [
            problem
            for template in by_env[env.name]
            for problem in log_group_problems(template, env.log_retention_days)
        ]
        assert problems == [], env.name


def test_services_own_log_groups_exist_first_with_retention(synthesized: Synthesized) -> None:
    """Groups a service would create by itself under a name known at synth time."""
    for env in APP_CONFIG.environments:
        templates = environment_templates(synthesized.outdir)[env.name]
        names = {
            json.dumps(group["Properties"].get("LogGroupName"))
            for template in templates
            for group in resources(template, "AWS::Logs::LogGroup").values()
        }
        prefix = f"{APP_CONFIG.app_name}-{env.name}"
        # Container Insights of each ECS cluster: the web service's (Fargate), and the public
        # API's microservices' (``<app>-<env>-services``); a static site has no cluster, nor
        # does the EC2 runtime, whose Docker writes to a group of its own (below).
        expected = []
        if env.web.runtime in (WebRuntime.FARGATE, WebRuntime.EXPRESS):
            expected.append(f"/aws/ecs/containerinsights/{prefix}-web/performance")
        if env.api.kind is ApiKind.PUBLIC_SERVICES:
            expected.append(f"/aws/ecs/containerinsights/{prefix}-services/performance")
        if env.web.runtime == WebRuntime.EC2:
            # Docker's awslogs driver writes to the stack's group, named by reference in the
            # boot script (so it exists first), and is never asked to create one.
            web = synthesized.envs[env.name].web_json
            assert container_log_group_id(web) in resources(web, "AWS::Logs::LogGroup")
            assert "awslogs-create-group" not in boot_script(web)
        else:
            assert expected, env.name  # every other shipped environment runs an ECS cluster
        if env.database.proxy:
            expected.append(f"/aws/rds/proxy/{prefix}-proxy")
        for name in expected:
            assert json.dumps(name) in names, (env.name, name)
        assert any("API-Gateway-Execution-Logs_" in name for name in names), env.name
        rotation = [
            app["Properties"]["Parameters"]["functionName"]
            for template in templates
            for app in resources(template, "AWS::Serverless::Application").values()
        ]
        for function_name in rotation:
            assert json.dumps(f"/aws/lambda/{function_name}") in names


def test_canary_log_group_gets_retention_at_deploy_time(synthesized: Synthesized) -> None:
    for env in APP_CONFIG.environments:
        web = synthesized.envs[env.name].web_json
        calls = implicit_log_group_retention(web)
        assert calls == {f"/aws/lambda/cwsyn-{env.name}-web-health-<id>": env.log_retention_days}


def test_api_gateway_welcome_log_group_gets_retention_before_the_account_role_is_set(
    synthesized: Synthesized,
) -> None:
    """Setting the account's API Gateway CloudWatch role (AWS::ApiGateway::Account) makes API
    Gateway create /aws/apigateway/welcome with no expiry; AWS documents neither the group nor
    its absence, so it is created (or adopted) first with the environment's retention."""
    for env in APP_CONFIG.environments:
        api = synthesized.envs[env.name].api_json
        accounts = resources(api, "AWS::ApiGateway::Account")
        assert len(accounts) == 1, env.name
        calls = implicit_log_group_retention(api)
        assert calls.get("/aws/apigateway/welcome") == env.log_retention_days, env.name
        retention_ids = [
            logical_id
            for logical_id, custom in resources(api, AWS_CUSTOM_RESOURCE_TYPE).items()
            if "/aws/apigateway/welcome" in json.dumps(custom["Properties"].get("Create"))
            and "putRetentionPolicy" in json.dumps(custom["Properties"].get("Create"))
        ]
        ((account_id, _),) = accounts.items()
        assert set(retention_ids) <= all_dependencies(api, account_id), env.name
        # Account-wide: deleting one environment's stack never deletes it.
        for custom in resources(api, AWS_CUSTOM_RESOURCE_TYPE).values():
            if "/aws/apigateway/welcome" in json.dumps(custom["Properties"]):
                assert "deleteLogGroup" not in json.dumps(custom["Properties"].get("Delete"))
