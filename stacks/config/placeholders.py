"""What a deploy refuses that validation accepts: the shipped placeholders.

Synth and the tests run on the shipped config, so its example account ids, repository, e-mail
addresses, domain and hosted zone are valid config; only a deploy (``make deploy``, ``make
diff``, ``make bootstrap``, the deploy workflow, ``make preflight``) refuses them.
"""

from __future__ import annotations

from stacks.config.errors import ConfigError
from stacks.config.schema import AppConfig, EnvironmentConfig, validate_app_config

RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
"""RFC 2606, section 3: second-level domain names reserved for examples in documentation."""
RESERVED_TOP_LEVEL_DOMAINS = ("example", "test", "invalid", "localhost")
"""RFC 2606, section 2: reserved top-level names; ``.example`` is for documentation."""
PLACEHOLDER_ID_MARK = "EXAMPLE"
"""What a shipped placeholder id carries, as AWS's own examples do (``Z0123456789EXAMPLE0``)."""
PLACEHOLDER_GITHUB_OWNERS = ("example-org",)
"""The owner of the shipped ``github.repository`` placeholder."""


def is_reserved_domain(name: str) -> bool:
    """True for a domain that is, or lies under, a name RFC 2606 reserves for examples."""
    domain = name.lower().rstrip(".")
    return any(
        domain == reserved or domain.endswith(f".{reserved}")
        for reserved in (*RESERVED_DOMAINS, *RESERVED_TOP_LEVEL_DOMAINS)
    )


_RESERVED_RULE = (
    f"not under {', '.join(RESERVED_DOMAINS)} or "
    f"{', '.join('.' + tld for tld in RESERVED_TOP_LEVEL_DOMAINS)} (RFC 2606 example names)"
)


def find_placeholder(config: AppConfig, env: EnvironmentConfig) -> ConfigError | None:
    """The first value a deploy of ``env`` would use that is still a shipped placeholder: its
    account, the GitHub repository its deploy role trusts, its alert e-mail, its domain and the
    hosted zone of that domain. Validation accepts them (synth and tests run on the shipped
    config); only a deploy refuses them."""
    repository, web = config.github.repository, env.web
    mail_domain = env.alert_email.rsplit("@", 1)[-1]
    zone_id = web.hosted_zone_id or ""
    checks = (
        (
            "account",
            env.is_placeholder_account,
            f"'{env.account}' is still a placeholder, set the real account id in "
            "stacks/config/environments.py",
            "a real 12-digit AWS account id",
        ),
        (
            "github.repository",
            repository.split("/")[0].lower() in PLACEHOLDER_GITHUB_OWNERS,
            f"'{repository}' is still the shipped placeholder, set this repository's OWNER/REPO",
            "the OWNER/REPO this repository lives in on GitHub (the deploy role trusts only it)",
        ),
        (
            "alert_email",
            is_reserved_domain(mail_domain),
            f"'{env.alert_email}' is at {mail_domain}, a domain reserved for examples",
            f"an address that receives the alarms, {_RESERVED_RULE}",
        ),
        (
            "web.domain_name",
            is_reserved_domain(web.domain_name or ""),
            f"'{web.domain_name}' is a domain reserved for examples",
            f"a domain of yours in a Route 53 zone of the account, {_RESERVED_RULE}",
        ),
        (
            "web.hosted_zone_id",
            PLACEHOLDER_ID_MARK in zone_id.upper(),
            f"'{zone_id}' is still a placeholder zone id",
            "the id of the Route 53 hosted zone holding web.domain_name "
            "(aws route53 list-hosted-zones-by-name)",
        ),
        (
            "web.hosted_zone_name",
            is_reserved_domain(web.hosted_zone_name or ""),
            f"'{web.hosted_zone_name}' is a domain reserved for examples",
            f"the name of the Route 53 hosted zone holding web.domain_name, {_RESERVED_RULE}",
        ),
    )
    return next(
        (
            ConfigError(env.name, name, problem, allowed)
            for name, found, problem, allowed in checks
            if found
        ),
        None,
    )


def check_deployable(config: AppConfig, env_name: str) -> EnvironmentConfig:
    """The config of ``env_name`` if it can be deployed, else ConfigError: valid, and no shipped
    placeholder left in what its deploy uses (``find_placeholder``). ``make deploy``, ``make
    diff`` and ``make bootstrap`` ask through ``python -m stacks.config deployable ENV``, the
    deploy workflow through ``python -m stacks.delivery plan ENV``."""
    validate_app_config(config)
    env = config.environment(env_name)
    placeholder = find_placeholder(config, env)
    if placeholder is not None:
        raise placeholder
    return env
