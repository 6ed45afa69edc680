"""What the preflight tests share: no test reaches AWS (moto answers, botocore's Stubber where
moto lacks an API: Lambda's GetAccountSettings, App Runner), a fake account made ready step by
step, and the shipped environments moved into it. Test modules import the fixtures
(``fake_aws``, ``account_fixture``) to use them."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from cdk_constructs.options import NatMode, WebRuntime
from preflight.__main__ import main
from preflight.checks import BOOTSTRAP_VERSION, bootstrap_settings
from stacks.config import APP_CONFIG, AppConfig, EnvironmentConfig
from stacks.config.sections import ApiConfig, NetworkConfig, WebConfig

ACCOUNT = "123456789012"
"""moto's default account: the environments under test are moved there."""
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fake credentials, no profile, config file or endpoint override, and moto answering every
    call: no test can reach AWS (and GITHUB_ACTIONS of a CI runner does not leak in)."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "GITHUB_ACTIONS":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with mock_aws():
        yield


_MODELS = botocore.loaders.create_loader()
"""One cache of botocore's service models for every session of the module (keeps it fast)."""


def core_session() -> botocore.session.Session:
    session = botocore.session.get_session()
    session.register_component("data_loader", _MODELS)
    return session


class StubbedSession(boto3.Session):
    """A boto3 Session that hands out the given (Stubber-backed) clients; moto answers the rest."""

    def __init__(self, given: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(botocore_session=core_session(), **kwargs)
        self.given = given

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name in self.given:
            return self.given[service_name]
        # The stubs type client() per service name literal; this passes any name through.
        return super().client(service_name, *args, **kwargs)  # type: ignore[call-overload]


class FakeAccount:
    """The moto account, made ready for a deploy step by step; Stubbers for what moto lacks."""

    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}
        self.session = boto3.Session(botocore_session=core_session(), region_name=REGION)

    def stubber(self, service: str) -> Stubber:
        """The Stubber that answers every call preflight makes to this service, in order."""
        if service not in self.stubbers:
            self.clients[service] = self.session.client(service)  # type: ignore[call-overload]
            self.stubbers[service] = Stubber(self.clients[service])
            self.stubbers[service].activate()
        return self.stubbers[service]

    def bootstrap(self, version: int | None = BOOTSTRAP_VERSION, region: str = REGION) -> None:
        qualifier, toolkit_stack = bootstrap_settings()
        parameter = {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Type": "String",
                "Name": f"/cdk-bootstrap/{qualifier}/version",
                "Value": str(version),
            },
        }
        resources = {"CdkBootstrapVersion": parameter} if version else {"Empty": OTHER_RESOURCE}
        self.session.client("cloudformation", region_name=region).create_stack(
            StackName=toolkit_stack, TemplateBody=json.dumps({"Resources": resources})
        )

    def unreserved_concurrency(self, executions: int = 1000) -> Stubber:
        stubber = self.stubber("lambda")
        limit = {"UnreservedConcurrentExecutions": executions, "ConcurrentExecutions": 1000}
        stubber.add_response("get_account_settings", {"AccountLimit": limit}, {})
        return stubber

    def hosted_zone(self, name: str, *, private: bool = False) -> str:
        route53 = self.session.client("route53")
        options: dict[str, Any] = {}
        if private:
            vpc = self.session.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
            options = {
                "HostedZoneConfig": {"PrivateZone": True},
                "VPC": {"VPCRegion": REGION, "VPCId": vpc},
            }
        zone = route53.create_hosted_zone(Name=name, CallerReference=name, **options)
        return str(zone["HostedZone"]["Id"].rsplit("/", 1)[-1])

    def run(
        self,
        capsys: pytest.CaptureFixture[str],
        config: AppConfig,
        env_name: str,
        *flags: str,
        environ: Mapping[str, str] | None = None,
    ) -> tuple[int, list[str]]:
        factory = partial(StubbedSession, self.clients)
        code = main([env_name, *flags], config, factory, environ or {})
        return code, capsys.readouterr().out.splitlines()


OTHER_RESOURCE = {
    "Type": "AWS::SSM::Parameter",
    "Properties": {"Type": "String", "Name": "/some/other/parameter", "Value": "x"},
}


@pytest.fixture(name="account")
def account_fixture() -> FakeAccount:
    return FakeAccount()


OWN_DOMAIN = "acme-widgets.com"
"""Stands in for the shipped example names, which only a deploy (and so preflight) refuses."""


def own_env(env_name: str) -> EnvironmentConfig:
    """A shipped environment moved to moto's account, with real-looking e-mail and domain."""
    env = APP_CONFIG.environment(env_name)
    web = env.web
    if web.domain_name is not None:
        web = replace(
            web,
            domain_name=f"www.{OWN_DOMAIN}",
            hosted_zone_name=OWN_DOMAIN,
            hosted_zone_id="Z0000000000000MISSING",
        )
    return replace(env, account=ACCOUNT, alert_email=f"alerts-{env_name}@{OWN_DOMAIN}", web=web)


def moved(env_name: str, **changes: Any) -> AppConfig:
    """The shipped config with one environment moved to moto's account (and changed), and the
    GitHub repository a real one."""
    env = replace(own_env(env_name), **changes)
    return replace(
        APP_CONFIG,
        github=replace(APP_CONFIG.github, repository="acme-widgets/serverless-three-tier"),
        environments=tuple(env if e.name == env_name else e for e in APP_CONFIG.environments),
    )


def ready(account: FakeAccount, env_name: str, unreserved: int = 1000, **changes: Any) -> AppConfig:
    """A config whose environment the moto account is ready for (bootstrapped, its zone there,
    room for everything), with Lambda's account settings stubbed."""
    env = own_env(env_name)
    # Its region, and us-east-1 where its web edge stack deploys (the static site's).
    for region in dict.fromkeys((REGION, env.region, env.edge_region or REGION)):
        account.bootstrap(region=region)
    account.unreserved_concurrency(unreserved)
    web = env.web
    if web.hosted_zone_name and "web" not in changes:
        changes["web"] = replace(web, hosted_zone_id=account.hosted_zone(web.hosted_zone_name))
    return moved(env_name, **changes)


def with_web(env_name: str, **web: Any) -> WebConfig:
    return replace(own_env(env_name).web, **web)


def with_nat(env_name: str, nat_mode: NatMode) -> NetworkConfig:
    return replace(own_env(env_name).network, nat_mode=nat_mode)


def reserving(env_name: str, executions: int | None) -> ApiConfig:
    return replace(own_env(env_name).api, reserved_concurrency=executions)


def with_domain(env_name: str, zone_id: str) -> WebConfig:
    domain = {"domain_name": f"www.{OWN_DOMAIN}", "hosted_zone_name": OWN_DOMAIN}
    return with_web(env_name, runtime=WebRuntime.FARGATE, hosted_zone_id=zone_id, **domain)


def line_of(lines: list[str], check: str) -> str:
    (line,) = [line for line in lines if re.match(rf"(PASS|FAIL) {check}: ", line)]
    return line


def names(lines: list[str]) -> list[str]:
    return [line.split(":", 1)[0].split(" ", 1)[1] for line in lines]
