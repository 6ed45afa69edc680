"""The users' pool (managed login v2, email sign-in, MFA and password from config) and the
browser's public PKCE client with its branding and its SSM parameter, in a scratch stack."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from aws_cdk import Environment, RemovalPolicy, Stack
from aws_cdk.assertions import Template

from cdk_constructs.options import MfaMode
from cdk_constructs.sign_in import BrowserClient, UserSignIn
from stacks.config.sections import SignInConfig
from tests.synth import scratch_app
from tests.template_queries import only

SITE = "https://app.example.com"
PARAMETER = "/app/env/sign-in/client-ids"
DEFAULTS = SignInConfig()


def synth(
    settings: SignInConfig = DEFAULTS, removal: RemovalPolicy = RemovalPolicy.DESTROY
) -> tuple[UserSignIn, dict[str, Any]]:
    stack = Stack(
        scratch_app(), "Auth", env=Environment(account="111111111111", region="eu-west-1")
    )
    sign_in = UserSignIn(
        stack,
        "SignIn",
        name="app-env-users",
        domain_prefix="app-env-111111111111",
        settings=settings,
        removal_policy=removal,
    )
    BrowserClient(
        stack,
        "Browser",
        user_pool=sign_in.user_pool,
        site_url=SITE,
        settings=settings,
        clients_parameter=PARAMETER,
    )
    return sign_in, dict(Template.from_stack(stack).to_json())


@pytest.fixture(scope="module")
def default() -> tuple[UserSignIn, dict[str, Any]]:
    return synth()


def pool_of(template: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = only(template, "AWS::Cognito::UserPool")[1]["Properties"]
    return props


def test_people_sign_in_with_their_email_case_insensitive(
    default: tuple[UserSignIn, dict[str, Any]],
) -> None:
    pool = pool_of(default[1])
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["UsernameConfiguration"] == {"CaseSensitive": False}
    assert pool["AutoVerifiedAttributes"] == ["email"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True  # no self sign-up
    assert pool["AccountRecoverySetting"]["RecoveryMechanisms"] == [
        {"Name": "verified_email", "Priority": 1}
    ]
    assert pool["UserPoolTier"] == "ESSENTIALS"
    # Threat protection needs the Plus plan: not paid for, so not set.
    assert "UserPoolAddOns" not in pool
    assert pool["DeletionProtection"] == "INACTIVE"


def test_password_and_mfa_follow_config() -> None:
    settings = SignInConfig(
        password_min_length=16,
        password_require_symbols=False,
        mfa=MfaMode.REQUIRED,
        self_sign_up=True,
    )
    pool = pool_of(synth(settings, RemovalPolicy.RETAIN)[1])
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] == 16
    assert policy["RequireSymbols"] is False
    assert all(policy[name] for name in ("RequireUppercase", "RequireLowercase", "RequireNumbers"))
    assert pool["MfaConfiguration"] == "ON"
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]  # TOTP only: no SMS spend
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
    assert pool["DeletionProtection"] == "ACTIVE"


def test_mfa_off_and_optional() -> None:
    assert pool_of(synth(replace(SignInConfig(), mfa=MfaMode.OFF))[1])["MfaConfiguration"] == "OFF"
    optional = pool_of(synth(SignInConfig(mfa=MfaMode.OPTIONAL))[1])
    assert optional["MfaConfiguration"] == "OPTIONAL"


def test_managed_login_v2_at_the_prefix_domain(default: tuple[UserSignIn, dict[str, Any]]) -> None:
    sign_in, template = default
    _, domain = only(template, "AWS::Cognito::UserPoolDomain")
    assert domain["Properties"]["Domain"] == "app-env-111111111111"
    assert domain["Properties"]["ManagedLoginVersion"] == 2
    assert sign_in.domain_url == "https://app-env-111111111111.auth.eu-west-1.amazoncognito.com"


@pytest.mark.parametrize("prefix", ["Upper", "-dash", "my-aws-app", "cognito-x", "a" * 64])
def test_a_prefix_cognito_refuses_is_one_clear_error(prefix: str) -> None:
    with pytest.raises(ValueError, match="Cognito domain prefix"):
        UserSignIn(
            Stack(scratch_app(), "S"),
            "SignIn",
            name="n",
            domain_prefix=prefix,
            settings=SignInConfig(),
            removal_policy=RemovalPolicy.DESTROY,
        )


def test_the_browser_client_is_public_code_grant_only(
    default: tuple[UserSignIn, dict[str, Any]],
) -> None:
    client_id, client = only(default[1], "AWS::Cognito::UserPoolClient")
    props = client["Properties"]
    assert props["GenerateSecret"] is False
    assert props["AllowedOAuthFlows"] == ["code"]
    assert props["AllowedOAuthFlowsUserPoolClient"] is True
    assert props["AllowedOAuthScopes"] == ["openid", "email", "profile"]
    assert props["CallbackURLs"] == props["LogoutURLs"] == [f"{SITE}/"]
    # No password or SRP flow from the browser: managed login signs in, tokens refresh.
    assert props["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]
    assert props["SupportedIdentityProviders"] == ["COGNITO"]
    assert props["PreventUserExistenceErrors"] == "ENABLED"
    assert props["EnableTokenRevocation"] is True
    assert (props["AccessTokenValidity"], props["IdTokenValidity"]) == (60, 60)
    assert props["RefreshTokenValidity"] == 30 * 24 * 60
    assert props["TokenValidityUnits"]["RefreshToken"] == "minutes"
    _, branding = only(default[1], "AWS::Cognito::ManagedLoginBranding")
    assert branding["Properties"]["ClientId"] == {"Ref": client_id}
    assert branding["Properties"]["UseCognitoProvidedValues"] is True
    _, parameter = only(default[1], "AWS::SSM::Parameter")
    assert parameter["Properties"]["Name"] == PARAMETER
    assert parameter["Properties"]["Type"] == "String"
    assert parameter["Properties"]["Value"] == {"Ref": client_id}
