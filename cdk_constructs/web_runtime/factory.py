"""The one place that maps ``WebRuntime`` (config) to the class that implements it.

Adding a runtime: write its module (a construct satisfying ``WebRuntimeService``, with the
class-level ``rollout``, ``build`` and ``deploy_permissions`` of ``WebRuntimeType``), add its row
below, its config spec and its tests. Nothing else names a runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from constructs import Construct

from cdk_constructs.options import WebRuntime
from cdk_constructs.web_runtime.app_runner import AppRunnerService
from cdk_constructs.web_runtime.ec2 import Ec2WebService
from cdk_constructs.web_runtime.express import ExpressWebService
from cdk_constructs.web_runtime.fargate import FargateWebService
from cdk_constructs.web_runtime.interface import (
    RuntimeTraits,
    WebRuntimeProps,
    WebRuntimeService,
    WebRuntimeType,
    WebSettings,
    runtime_traits,
)
from cdk_constructs.web_runtime.static_site import StaticSite

WEB_RUNTIMES: Mapping[WebRuntime, WebRuntimeType] = MappingProxyType(
    {
        WebRuntime.FARGATE: FargateWebService,
        WebRuntime.APP_RUNNER: AppRunnerService,
        WebRuntime.EC2: Ec2WebService,
        WebRuntime.EXPRESS: ExpressWebService,
        WebRuntime.STATIC_SITE: StaticSite,
    }
)
"""Every ``WebRuntime`` and the class that runs it."""


def web_runtime_type(runtime: WebRuntime) -> WebRuntimeType:
    """The class of a runtime: its rollout and deploy permissions, without building it."""
    return WEB_RUNTIMES[runtime]


def web_runtime_traits(runtime: WebRuntime) -> RuntimeTraits:
    """What the web stack must know of a runtime before building it (``RuntimeTraits``)."""
    return runtime_traits(web_runtime_type(runtime))


def build_web_runtime(
    scope: Construct, id_: str, *, props: WebRuntimeProps, settings: WebSettings
) -> WebRuntimeService:
    """The runtime ``settings.runtime`` names, built from the common props and its settings."""
    return web_runtime_type(settings.runtime).build(scope, id_, props=props, settings=settings)
