"""The users' sign-in: a Cognito user pool with managed login (API stack), and the browser's
public app client (web stack), which signs in with the authorization code grant and PKCE."""

from __future__ import annotations

import re
from typing import Protocol

from aws_cdk import Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from cdk_constructs.nag import acknowledge_all
from cdk_constructs.options import MfaMode

SCOPES = (cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE)
SCOPE_NAMES = "openid email profile"
"""What the browser asks for (the site's ``config.json`` ``scopes``)."""
TEMPORARY_PASSWORD_DAYS = 3
DOMAIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
"""Cognito's prefix domains: lowercase letters, digits and hyphens, at most 63 characters."""
RESERVED_IN_PREFIX = ("aws", "amazon", "cognito")
"""Words Cognito refuses in a prefix domain."""
MFA = {
    MfaMode.OFF: cognito.Mfa.OFF,
    MfaMode.OPTIONAL: cognito.Mfa.OPTIONAL,
    MfaMode.REQUIRED: cognito.Mfa.REQUIRED,
}


class SignInSettings(Protocol):
    """Config's ``api.sign_in`` (``SignInConfig``)."""

    @property
    def password_min_length(self) -> int: ...
    @property
    def password_require_symbols(self) -> bool: ...
    @property
    def mfa(self) -> MfaMode: ...
    @property
    def self_sign_up(self) -> bool: ...
    @property
    def access_token_minutes(self) -> int: ...
    @property
    def id_token_minutes(self) -> int: ...
    @property
    def refresh_token_days(self) -> int: ...


def _check_prefix(prefix: str) -> None:
    if Token.is_unresolved(prefix):
        return
    if not DOMAIN_PREFIX.fullmatch(prefix) or any(w in prefix for w in RESERVED_IN_PREFIX):
        raise ValueError(
            f"Cognito domain prefix {prefix!r}: 1-63 lowercase letters, digits or '-', not "
            f"starting or ending with '-', without {', '.join(RESERVED_IN_PREFIX)}"
        )


class UserSignIn(Construct):
    """People sign in with their email (case-insensitive) and password, TOTP MFA per config,
    recover their account by email, on Cognito's managed login (version 2) at its prefix domain.

    Essentials plan: managed login needs it; threat protection needs Plus, billed per monthly
    active user on top (https://aws.amazon.com/cognito/pricing/), so it is off. Cognito sends the
    emails itself (its default sender: 50 a day per account), enough for sign-up and recovery of
    a small app; a larger one configures SES. A retained pool is deletion-protected.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        domain_prefix: str,
        settings: SignInSettings,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id_)
        _check_prefix(domain_prefix)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=name,
            self_sign_up_enabled=settings.self_sign_up,
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            keep_original=cognito.KeepOriginalAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=settings.password_min_length,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=settings.password_require_symbols,
                temp_password_validity=Duration.days(TEMPORARY_PASSWORD_DAYS),
            ),
            mfa=MFA[settings.mfa],
            mfa_second_factor=(
                None
                if settings.mfa is MfaMode.OFF
                else cognito.MfaSecondFactor(otp=True, sms=False)
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=removal_policy is not RemovalPolicy.DESTROY,
            removal_policy=removal_policy,
        )
        self._acknowledge(settings)
        self.domain = cognito.UserPoolDomain(
            self,
            "Domain",
            user_pool=self.user_pool,
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix),
            # "A version that indicates the state of managed login. This choice applies to all
            # app clients that host services at the domain" (aws-cdk-lib UserPoolDomain).
            managed_login_version=cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
        )
        self.domain_url: str = (
            f"https://{domain_prefix}.auth.{Stack.of(self).region}.amazoncognito.com"
        )
        """Managed login and the OAuth endpoints; a plain value where the stack's region is."""

    def _acknowledge(self, settings: SignInSettings) -> None:
        findings = [
            (
                "AwsSolutions-COG3",
                "Threat protection (AdvancedSecurityMode) needs the Plus plan, billed per monthly "
                "active user; MFA, the password policy and the WAF are the controls here.",
            ),
            ("AwsSolutions-COG8", "Essentials plan: see AwsSolutions-COG3."),
        ]
        if settings.mfa is not MfaMode.REQUIRED:
            findings.append(("AwsSolutions-COG2", f"api.sign_in.mfa is {settings.mfa} by config."))
        if not settings.password_require_symbols:
            findings.append(
                ("AwsSolutions-COG1", "api.sign_in.password_require_symbols is off by config.")
            )
        acknowledge_all(self.user_pool, findings)


class BrowserClient(Construct):
    """The single-page app's public client: authorization code grant only, no secret (a browser
    keeps none), so the app must use PKCE (S256): Cognito verifies a ``code_verifier`` when the
    authorize request carried a ``code_challenge``
    (https://docs.aws.amazon.com/cognito/latest/developerguide/using-pkce-in-authorization-code.html)
    but does not refuse a public client's request without one; the site always sends it.

    Callback and logout URL: ``<site_url>/`` exactly. Its managed login branding uses Cognito's
    defaults (managed login v2 shows a client's pages only once it has a style). The client id
    goes to the SSM parameter the API's authorizer reads its allowed clients from.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        user_pool: cognito.IUserPool,
        site_url: str,
        settings: SignInSettings,
        clients_parameter: str,
    ) -> None:
        super().__init__(scope, id_)
        redirect = f"{site_url}/"
        self.client = cognito.UserPoolClient(
            self,
            "Client",
            user_pool=user_pool,
            generate_secret=False,
            # Only managed login signs in; the tokens refresh at the token endpoint.
            auth_flows=cognito.AuthFlow(user_srp=False, user_password=False, custom=False),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=list(SCOPES),
                callback_urls=[redirect],
                logout_urls=[redirect],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            access_token_validity=Duration.minutes(settings.access_token_minutes),
            id_token_validity=Duration.minutes(settings.id_token_minutes),
            refresh_token_validity=Duration.days(settings.refresh_token_days),
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
        )
        self.branding = cognito.CfnManagedLoginBranding(
            self,
            "Branding",
            user_pool_id=user_pool.user_pool_id,
            client_id=self.client.user_pool_client_id,
            use_cognito_provided_values=True,
        )
        self.parameter = ssm.StringParameter(
            self,
            "ClientIds",
            parameter_name=clients_parameter,
            string_value=self.client.user_pool_client_id,
            description="The browser app client ids the API's authorizer accepts (comma-separated)",
        )
