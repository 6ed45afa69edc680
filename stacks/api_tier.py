"""What the web and ops stacks use of the API tier, whichever its kind (``api.kind``).

The stage builds the API tier through ``build_api_tier`` (``stacks/api_tiers.py``, the one place
that maps ``ApiKind`` to a stack class) and the later tiers talk to it through ``ApiTier`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager

from cdk_constructs.web_runtime.interface import WebAlarm


@dataclass(frozen=True)
class SignIn:
    """The users' sign-in that the web tier's browser client joins."""

    user_pool: cognito.IUserPool
    domain_url: str
    """``https://<prefix>.auth.<region>.amazoncognito.com``: managed login and the OAuth
    endpoints (``/oauth2/authorize``, ``/oauth2/token``, ``/logout``)."""
    clients_parameter: str
    """The SSM parameter the web stack writes the browser client's id to; the authorizer reads
    the allowed client ids from it."""


@dataclass(frozen=True)
class SiteApi:
    """The public API as the static site's distribution routes ``/api/*`` to it."""

    domain_name: str
    """``<rest api id>.execute-api.<region>.amazonaws.com`` (a token)."""
    stage_name: str
    """The stage, also the path the site routes to it: ``/<stage>/*``."""


@dataclass(frozen=True)
class ApiMonitoring:
    """What the ops stack alarms on and graphs of the API tier."""

    rest_api: apigateway.IRestApi
    stage_name: str
    function: lambda_.IFunction
    """The function the API's Lambda alarms watch (the items function, or the authorizer)."""
    function_timeout: Duration
    errors_are_refusals: bool = False
    """The function's errors are mostly its answers (a Lambda authorizer refuses a bad token by
    raising ``Unauthorized``, which Lambda counts as an error): no errors alarm, which bad
    tokens from anyone would set off; a crash still shows as the stage's 5XX rate
    (AUTHORIZER_FAILURE is a 500)."""
    extra_alarms: Sequence[WebAlarm] = ()
    """Alarms (and dashboard graphs) beyond the API's and the function's: the microservices'."""


class ApiTier(Protocol):
    """A built API tier (a stack)."""

    @property
    def web_client_secret(self) -> secretsmanager.ISecret | None:
        """private_lambda: the web app's credentials for the private API; else None."""
        ...

    @property
    def sign_in(self) -> SignIn | None:
        """public_services: the users' sign-in; else None."""
        ...

    @property
    def site_api(self) -> SiteApi | None:
        """public_services: where the static site routes ``/api/*``; else None."""
        ...

    @property
    def monitoring(self) -> ApiMonitoring: ...
