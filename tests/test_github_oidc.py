"""The GitHub OIDC stack of each account: exact trust, no `*` action, only the bootstrap roles of
the environment's own account and region, ECR push and App Runner only where used, and reading
and recording the environment's own releases (``python -m release``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template

from cdk_constructs.github_deploy_role import (
    CDK_BOOTSTRAP_ROLES,
    ECR_PUSH_ACTIONS,
    RELEASE_READ_ACTIONS,
)
from cdk_constructs.options import ApiKind, Image, WebRuntime
from cdk_constructs.web_runtime.app_runner import APP_RUNNER_DEPLOY_ACTIONS
from release.contract import (
    FUNCTION_NAME_OUTPUT,
    RELEASE_OUTPUT,
    ApiRelease,
    WebRelease,
    watches_ecs,
)
from stacks.config import (
    APP_CONFIG,
    AppConfig,
    EnvironmentConfig,
    deploy_role_name,
    repository_name,
    stack_name,
)
from stacks.config.sections import GitHubConfig
from stacks.github_oidc_stack import GitHubOidcStage
from stacks.platform_app import (
    add_quality_gates,
    build_platform,
    oidc_stages,
    unacknowledged_findings,
)
from stacks.web_stack import web_service_name
from tests.synth import CONTAINER_SHAPE_ENV_NAMES, Synthesized, scratch_app
from tests.template_queries import policy_statements_of_role, ref, resources

HOST = "token.actions.githubusercontent.com"
ACCOUNT = "444455556666"
EXISTING_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"


def roles(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Role name -> (logical id, properties) of every role in the template."""
    return {
        role["Properties"]["RoleName"]: {"id": logical_id, **role["Properties"]}
        for logical_id, role in resources(template, "AWS::IAM::Role").items()
    }


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def statement_resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def shipped_role_statements(
    synthesized: Synthesized,
) -> Iterator[tuple[EnvironmentConfig, list[dict[str, Any]]]]:
    """Each shipped environment and every statement of its deploy role."""
    for account, envs in APP_CONFIG.accounts().items():
        template = synthesized.oidc[account]
        for env in envs:
            role = roles(template)[deploy_role_name(APP_CONFIG, env)]
            yield env, policy_statements_of_role(template, role["id"])


def release_actions(*, ecs: bool) -> list[list[str]]:
    """The release statements' actions, in order (no ECS statement without an ECS service)."""
    return [
        sorted(actions)
        for sid, actions in RELEASE_READ_ACTIONS.items()
        if ecs or sid != "WatchWebReleases"
    ]


def synth_oidc(
    tmp_path: Path, config: AppConfig, account: str, qualifier: str = "hnb659fds"
) -> dict[str, Any]:
    """The OIDC template of one account of ``config``, synthesized alone (with the nag packs)."""
    app = scratch_app(tmp_path)
    stage = GitHubOidcStage(
        app,
        app=config,
        account=account,
        environments=config.accounts()[account],
        bootstrap_qualifier=qualifier,
    )
    add_quality_gates(app)
    app.synth()
    assert unacknowledged_findings(tmp_path) == []
    template: dict[str, Any] = json.loads(
        (tmp_path / stage.artifact_id / stage.stack.template_file).read_text()
    )
    return template


# --- shipped config ----------------------------------------------------------------------------


def test_one_oidc_stack_per_account_with_a_role_per_environment(
    synthesized: Synthesized,
) -> None:
    assert set(synthesized.oidc) == set(APP_CONFIG.accounts())
    for account, envs in APP_CONFIG.accounts().items():
        template = synthesized.oidc[account]
        assert set(roles(template)) == {deploy_role_name(APP_CONFIG, env) for env in envs}
        (provider,) = resources(template, "AWS::IAM::OIDCProvider").values()
        properties = provider["Properties"]
        assert properties["ClientIdList"] == ["sts.amazonaws.com"]
        assert properties["Url"] == f"https://{HOST}"
        assert "ThumbprintList" not in properties  # IAM trusts GitHub's CA itself
        # Kept, except when the create that made it rolls back (test_first_deploy.py).
        assert provider["DeletionPolicy"] == "RetainExceptOnCreate"
        assert {output.removesuffix("DeployRoleArn").lower() for output in template["Outputs"]} == {
            env.name for env in envs
        }


def test_trust_is_exactly_the_repository_environment_and_sts_audience(
    synthesized: Synthesized,
) -> None:
    for account, envs in APP_CONFIG.accounts().items():
        template = synthesized.oidc[account]
        (provider_id,) = resources(template, "AWS::IAM::OIDCProvider")
        for env in envs:
            role = roles(template)[deploy_role_name(APP_CONFIG, env)]
            assert role["AssumeRolePolicyDocument"]["Statement"] == [
                {
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Effect": "Allow",
                    "Principal": {"Federated": ref(provider_id)},
                    "Condition": {
                        "StringEquals": {
                            f"{HOST}:aud": "sts.amazonaws.com",
                            f"{HOST}:sub": f"repo:{APP_CONFIG.github.repository}:"
                            f"environment:{env.name}",
                        }
                    },
                }
            ]
            # Long enough for a first deploy: the CLI refreshes the bootstrap roles' sessions
            # from this one while Aurora and the proxy are created.
            assert role["MaxSessionDuration"] == APP_CONFIG.github.deploy_session_hours * 3600


def test_no_statement_grants_a_wildcard_action(synthesized: Synthesized) -> None:
    for template in synthesized.oidc.values():
        for policy in resources(template, "AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow"
                assert not [action for action in actions(statement) if "*" in action]
        for role in resources(template, "AWS::IAM::Role").values():
            assert "ManagedPolicyArns" not in role["Properties"]
            assert "Policies" not in role["Properties"]


def test_role_assumes_only_the_bootstrap_roles_of_its_own_account_and_region(
    synthesized: Synthesized,
) -> None:
    for env, statements in shipped_role_statements(synthesized):
        assumed = [s for s in statements if "sts:AssumeRole" in actions(s)]
        (assume,) = assumed
        assert actions(assume) == ["sts:AssumeRole"]
        pattern = re.compile(
            rf"arn:aws:iam::{env.account}:role/cdk-hnb659fds-([a-z-]+)-{env.account}-"
            rf"{re.escape(env.region)}"
        )
        kinds = []
        for arn in statement_resources(assume):
            match = pattern.fullmatch(arn)
            assert match, arn
            kinds.append(match.group(1))
        assert sorted(kinds) == sorted(CDK_BOOTSTRAP_ROLES)
        assert "cfn-exec-role" not in kinds
        # Nothing else may reach IAM or STS.
        for statement in statements:
            if statement is not assume:
                assert not [a for a in actions(statement) if a.split(":")[0] in {"iam", "sts"}]


def test_ecr_push_only_to_the_environments_sourced_repositories(synthesized: Synthesized) -> None:
    """The sourced images' repositories plus, for the public services API, one per
    microservice (``three-tier/<env>/services/<name>``), all in the environment's own account."""
    sourced = set(APP_CONFIG.github.image_sources)
    assert sourced == {Image.WEB}  # as shipped: the API deploys from its zip
    services_seen = False
    for env, statements in shipped_role_statements(synthesized):
        push = [s for s in statements if "ecr:PutImage" in actions(s)]
        (push_statement,) = push
        assert sorted(actions(push_statement)) == sorted(ECR_PUSH_ACTIONS)
        names = [repository_name(APP_CONFIG, env, image) for image in sourced]
        names += [f"three-tier/{env.name}/services/{service.name}" for service in env.api.services]
        services_seen = services_seen or bool(env.api.services)
        assert sorted(statement_resources(push_statement)) == sorted(
            f"arn:aws:ecr:{env.region}:{env.account}:repository/{name}" for name in names
        )
        token = [s for s in statements if "ecr:GetAuthorizationToken" in actions(s)]
        assert [actions(s) for s in token] == [["ecr:GetAuthorizationToken"]]
        # Shipped envs run Fargate, EC2 or a static site: no App Runner permission at all.
        assert not [s for s in statements if any(a.startswith("apprunner:") for a in actions(s))]
    assert services_seen  # spa's microservices are among the shipped repositories


def test_the_role_reads_and_records_only_its_own_environments_releases(
    synthesized: Synthesized,
) -> None:
    """What verify and explain read (the stacks' outputs, the service's deployments, the
    CodeDeploy group, the alias, the alarms' history) and the two records they write, each
    scoped to the environment's names (test_release_verify.py checks the calls fit them).
    The S3M shape (a static site, public microservices) has nothing to watch or record: verify
    only reads its web stack's Release output (release/verify.py, release/web.py)."""
    shapes, watched = set(), set()
    for env, statements in shipped_role_statements(synthesized):
        by_sid = {s["Sid"]: s for s in statements if s.get("Sid") in RELEASE_READ_ACTIONS}
        where = f"{env.region}:{env.account}"
        if env.name not in CONTAINER_SHAPE_ENV_NAMES:
            shapes.add("s3m")
            assert env.web.runtime == WebRuntime.STATIC_SITE
            assert env.api.kind is ApiKind.PUBLIC_SERVICES
            assert {sid: statement_resources(s) for sid, s in by_sid.items()} == {
                "ReadReleaseStacks": [
                    f"arn:aws:cloudformation:{where}:stack/{stack_name(APP_CONFIG, env, 'web')}/*"
                ]
            }
            assert not [
                s
                for s in statements
                if any(
                    a.split(":")[0] in {"codedeploy", "lambda", "ecs", "ssm"} for a in actions(s)
                )
            ]
            continue
        shapes.add("container")
        # The container shape: all of them where verify watches ECS service deployments
        # (Fargate); no ECS statement where the runtime releases otherwise (the EC2 runtime's
        # instance refresh runs within the stack update; App Runner's own workflow step).
        ecs = watches_ecs(env.web.runtime)
        assert set(by_sid) == set(RELEASE_READ_ACTIONS) - (set() if ecs else {"WatchWebReleases"})
        if not ecs:
            assert not [s for s in statements if any(a.startswith("ecs:") for a in actions(s))]
        for sid, statement in by_sid.items():
            assert sorted(actions(statement)) == sorted(RELEASE_READ_ACTIONS[sid]), sid
        prefix = f"three-tier-{env.name}"
        cluster = web_service_name(APP_CONFIG, env)
        api_stack = stack_name(APP_CONFIG, env, "api")
        expected = {
            "ReadReleaseStacks": [
                f"arn:aws:cloudformation:{where}:stack/{stack_name(APP_CONFIG, env, tier)}/*"
                for tier in ("web", "api")
            ],
            "WatchApiReleases": [
                f"arn:aws:codedeploy:{where}:deploymentgroup:{prefix}-api/{prefix}-api"
            ],
            "ReadApiAlias": [f"arn:aws:lambda:{where}:function:{api_stack}-*"],
            "ReadReleaseAlarmHistory": [
                f"arn:aws:cloudwatch:{where}:alarm:{prefix}-{tier}-release-*"
                for tier in ("web", "api")
            ],
            "RecordReleases": [
                f"arn:aws:ssm:{where}:parameter/three-tier/{env.name}/release/{tier}"
                for tier in ("web", "api")
            ],
        }
        if ecs:
            expected["WatchWebReleases"] = [
                f"arn:aws:ecs:{where}:{kind}/{cluster}/*"
                for kind in ("service", "service-deployment", "service-revision")
            ]
        assert {sid: sorted(statement_resources(s)) for sid, s in by_sid.items()} == {
            sid: sorted(arns) for sid, arns in expected.items()
        }
        watched.add(ecs)
    assert shapes == {"container", "s3m"}
    assert watched == {True, False}  # both kinds of container runtime are shipped


def test_the_release_names_the_role_may_read_are_the_stacks_own(
    synthesized: Synthesized,
) -> None:
    """The role's release resources match what the web and API stacks write in their Release
    outputs (the names verify reads) and the API function's generated name; the public
    services API has neither a CodeDeploy release nor a function (its Release output is of
    another shape), and a static site no release alarm."""
    for env, statements in shipped_role_statements(synthesized):
        by_sid = {s.get("Sid"): statement_resources(s) for s in statements}
        stacks = synthesized.envs[env.name]
        if env.name not in CONTAINER_SHAPE_ENV_NAMES:
            release = json.loads(stacks.api_json["Outputs"][RELEASE_OUTPUT]["Value"])
            assert release["kind"] == ApiKind.PUBLIC_SERVICES
            assert "alarms" not in release
            assert "deployment_group" not in release
            assert FUNCTION_NAME_OUTPUT not in stacks.api_json["Outputs"]
            assert not {"WatchApiReleases", "ReadApiAlias"} & set(by_sid)
            web = WebRelease.from_json(stacks.web_json["Outputs"][RELEASE_OUTPUT]["Value"])
            assert web.alarms == ()
            assert "ReadReleaseAlarmHistory" not in by_sid
            continue
        web = WebRelease.from_json(stacks.web_json["Outputs"][RELEASE_OUTPUT]["Value"])
        api = ApiRelease.from_json(stacks.api_json["Outputs"][RELEASE_OUTPUT]["Value"])
        where = f"{env.region}:{env.account}"
        assert by_sid["WatchApiReleases"] == [
            f"arn:aws:codedeploy:{where}:deploymentgroup:{api.application}/{api.deployment_group}"
        ]
        alarms = [*web.alarms, *api.alarms]
        assert alarms
        for alarm in alarms:
            arn = f"arn:aws:cloudwatch:{where}:alarm:{alarm}"
            assert [p for p in by_sid["ReadReleaseAlarmHistory"] if fnmatchcase(arn, p)], alarm
        # The function has no fixed name: CloudFormation names it <stack>-<logical id>-<suffix>.
        (function_id,) = stacks.api_json["Outputs"][FUNCTION_NAME_OUTPUT]["Value"].values()
        function = stacks.api_json["Resources"][function_id]
        assert function["Type"] == "AWS::Lambda::Function"
        assert "FunctionName" not in function["Properties"]
        api_stack = stack_name(APP_CONFIG, env, "api")
        assert by_sid["ReadApiAlias"] == [f"arn:aws:lambda:{where}:function:{api_stack}-*"]


# --- variants ------------------------------------------------------------------------------------


def shared_account_config(**github: Any) -> AppConfig:
    """dev and staging in one account (dev on App Runner), prod and spa elsewhere."""
    dev, staging = APP_CONFIG.environment("dev"), APP_CONFIG.environment("staging")
    moved = {
        "dev": replace(
            dev,
            account=ACCOUNT,
            web=replace(dev.web, runtime=WebRuntime.APP_RUNNER, spot=False),
        ),
        "staging": replace(staging, account=ACCOUNT),
    }
    return replace(
        APP_CONFIG,
        environments=tuple(moved.get(env.name, env) for env in APP_CONFIG.environments),
        github=replace(APP_CONFIG.github, **github),
    )


def test_one_env_selected_still_keeps_every_role_of_its_account(tmp_path: Path) -> None:
    """``-c env=dev`` synthesizes dev's account stack whole: deploying it must not delete the
    roles of the account's other environments."""
    config = shared_account_config()
    app = scratch_app(tmp_path)
    build_platform(app, config, (config.environment("dev"),))
    stages = oidc_stages(app)
    assert set(stages) == {ACCOUNT}  # prod's account is not selected
    template = dict(Template.from_stack(stages[ACCOUNT].stack).to_json())
    assert set(roles(template)) == {
        "three-tier-dev-github-deploy",
        "three-tier-staging-github-deploy",
    }


def test_app_runner_environment_may_deploy_its_own_service_only(tmp_path: Path) -> None:
    config = shared_account_config(
        image_sources={Image.WEB: "web_app", Image.API: "lambda_src/api"}
    )
    template = synth_oidc(tmp_path, config, ACCOUNT)
    by_name = roles(template)
    for env_name, app_runner in (("dev", True), ("staging", False)):
        env = config.environment(env_name)
        statements = policy_statements_of_role(
            template, by_name[deploy_role_name(config, env)]["id"]
        )
        runner = [s for s in statements if any(a.startswith("apprunner:") for a in actions(s))]
        if not app_runner:
            assert runner == []
            continue
        (statement,) = runner
        assert sorted(actions(statement)) == sorted(APP_RUNNER_DEPLOY_ACTIONS)
        assert statement_resources(statement) == [
            f"arn:aws:apprunner:{env.region}:{env.account}:service/three-tier-{env.name}-web/*"
        ]
        (push,) = [s for s in statements if "ecr:PutImage" in actions(s)]
        assert sorted(statement_resources(push)) == [
            f"arn:aws:ecr:{env.region}:{env.account}:repository/three-tier/{env.name}/{image}"
            for image in ("api", "web")
        ]


def test_no_image_source_means_no_ecr_permission(tmp_path: Path) -> None:
    config = shared_account_config(image_sources={})
    template = synth_oidc(tmp_path, config, ACCOUNT)
    for env_name, expected in (
        ("staging", [["sts:AssumeRole"], *release_actions(ecs=True)]),
        (
            "dev",  # App Runner: its own deploy calls, and no ECS service to watch
            [["sts:AssumeRole"], sorted(APP_RUNNER_DEPLOY_ACTIONS), *release_actions(ecs=False)],
        ),
    ):
        role = roles(template)[deploy_role_name(config, config.environment(env_name))]
        statements = policy_statements_of_role(template, role["id"])
        assert [sorted(actions(statement)) for statement in statements] == expected


def test_an_existing_provider_is_used_not_created(tmp_path: Path) -> None:
    config = shared_account_config(existing_oidc_providers={ACCOUNT: EXISTING_PROVIDER})
    template = synth_oidc(tmp_path, config, ACCOUNT)
    assert resources(template, "AWS::IAM::OIDCProvider") == {}
    for role in roles(template).values():
        (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Federated": EXISTING_PROVIDER}


def test_a_custom_bootstrap_qualifier_is_honoured(tmp_path: Path) -> None:
    config = replace(APP_CONFIG, github=GitHubConfig(repository="acme/platform"))
    dev = config.environment("dev")
    template = synth_oidc(tmp_path, config, dev.account, qualifier="acme1234")
    role = roles(template)[deploy_role_name(config, dev)]
    statements = policy_statements_of_role(template, role["id"])
    (statement,) = [s for s in statements if "sts:AssumeRole" in actions(s)]
    assert all(
        "role/cdk-acme1234-" in arn and "hnb659fds" not in arn
        for arn in statement_resources(statement)
    )
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"]
    assert trust[f"{HOST}:sub"] == "repo:acme/platform:environment:dev"
