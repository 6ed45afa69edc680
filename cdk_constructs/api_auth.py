"""Cognito for the private API: machine-to-machine tokens (client-credentials grant) with scopes."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from cdk_constructs.nag import acknowledge_all


class ApiAuth(Construct):
    """A user pool that issues access tokens to app clients, not to people.

    No self sign-up and a strict password policy (there are no users today; any created by an
    admin later still get a safe default). One resource server carries the API's scopes; the web
    tier's app client uses the client-credentials grant with a generated secret and gets all of
    them. A retained pool (any ``removal_policy`` but DESTROY) is also deletion-protected.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        domain_prefix: str,
        resource_server_id: str,
        scopes: Sequence[str],
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id_)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(1),
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.NONE,
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=removal_policy is not RemovalPolicy.DESTROY,
            removal_policy=removal_policy,
        )
        no_user_sign_ins = (
            "Only app clients get tokens (client-credentials grant). Threat protection (Plus "
            "plan) scores user sign-ins, of which there are none."
        )
        acknowledge_all(
            self.user_pool,
            [("AwsSolutions-COG3", no_user_sign_ins), ("AwsSolutions-COG8", no_user_sign_ins)],
        )
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix),
        )
        self.scopes = {
            name: cognito.ResourceServerScope(
                scope_name=name, scope_description=f"{name} of the API"
            )
            for name in scopes
        }
        self.resource_server = self.user_pool.add_resource_server(
            "ResourceServer",
            identifier=resource_server_id,
            scopes=list(self.scopes.values()),
        )
        self.web_client = self.user_pool.add_client(
            "WebClient",
            generate_secret=True,
            auth_flows=cognito.AuthFlow(),  # no user sign-in flows at all
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=[
                    cognito.OAuthScope.resource_server(self.resource_server, scope)
                    for scope in self.scopes.values()
                ],
            ),
            access_token_validity=Duration.hours(1),
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
        )
        self.token_url = f"{self.domain.base_url()}/oauth2/token"
        """Where the web tier exchanges its client id and secret for an access token."""
