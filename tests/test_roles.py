"""``python -m roles``: grant, revoke and list a user's roles in moto's account (the API stack's
outputs, the user pool with its users, the role table), and one line with exit 2 or 1 for every
mistake, never a traceback."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest

from cdk_constructs.options import ApiKind
from roles.__main__ import USAGE, main
from stacks.config import APP_CONFIG, AppConfig, stack_name
from tests.preflight_helpers import ACCOUNT
from tests.preflight_helpers import fake_aws as fake_aws  # moto answers every call

_SHAPE = next(e for e in APP_CONFIG.environments if e.api.kind is ApiKind.PUBLIC_SERVICES)
ENV = replace(
    _SHAPE,
    account=ACCOUNT,
    api=replace(
        _SHAPE.api, route_roles={"GET /items": ("reader", "admin"), "* /items": ("admin",)}
    ),
)
PRIVATE = replace(
    next(e for e in APP_CONFIG.environments if e.api.kind is ApiKind.PRIVATE_LAMBDA),
    account=ACCOUNT,
)
CONFIG: AppConfig = replace(APP_CONFIG, environments=(ENV, PRIVATE))
TABLE = "three-tier-spa-api-RoleTable-X1"


@dataclass
class Account:
    """The environment's region of moto's account: API stack, user pool, role table."""

    session: boto3.Session
    pool: str
    subs: dict[str, str]

    def client(self, service: str) -> Any:
        return self.session.client(service)  # type: ignore[call-overload]

    def run(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
        code = main(list(argv), CONFIG)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    def item(self, username: str) -> dict[str, Any] | None:
        key = {"subject": {"S": self.subs[username]}}
        found: dict[str, Any] | None = (
            self.client("dynamodb").get_item(TableName=TABLE, Key=key).get("Item")
        )
        return found

    def roles(self, username: str) -> set[str]:
        item = self.item(username) or {}
        return set(item.get("roles", {}).get("SS", []))

    def stack(self, outputs: dict[str, str]) -> None:
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
        self.client("cloudformation").create_stack(
            StackName=stack_name(CONFIG, ENV, "api"), TemplateBody=json.dumps(template)
        )


@pytest.fixture
def account(fake_aws: None) -> Account:
    session = boto3.Session(region_name=ENV.region)
    cognito = session.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="three-tier-spa-users")["UserPool"]["Id"]
    subs = {}
    for username, email in [
        ("alice", "alice@example.com"),
        ("bob", "bob@example.com"),
        ("carol", "shared@example.com"),
        ("carl", "shared@example.com"),
    ]:
        user = cognito.admin_create_user(
            UserPoolId=pool, Username=username, UserAttributes=[{"Name": "email", "Value": email}]
        )["User"]
        subs[username] = next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")
    session.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "subject", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "subject", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    found = Account(session, pool, subs)
    found.stack({"RoleTableName": TABLE, "UserPoolId": pool})
    return found


def test_grant_adds_to_the_users_role_set_by_username_email_or_sub(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = account.run(capsys, "spa", "grant", "alice", "reader")
    assert (code, err) == (0, "")
    assert out == f"granted reader: alice ({account.subs['alice']}): reader\n"

    assert account.run(capsys, "spa", "grant", "alice@example.com", "admin")[0] == 0
    assert account.run(capsys, "spa", "grant", account.subs["alice"], "admin")[0] == 0
    assert account.roles("alice") == {"admin", "reader"}
    item = account.item("alice")
    assert item is not None
    assert item["username"] == {"S": "alice"}
    assert account.item("bob") is None


def test_revoke_removes_a_role_and_the_item_with_the_last_one(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    account.run(capsys, "spa", "grant", "bob", "reader")
    account.run(capsys, "spa", "grant", "bob", "admin")

    code, out, _ = account.run(capsys, "spa", "revoke", "bob", "admin")
    assert code == 0
    assert out.startswith("revoked admin: bob (")
    assert account.roles("bob") == {"reader"}

    assert account.run(capsys, "spa", "revoke", "bob", "reader")[0] == 0
    assert account.item("bob") is None


def test_revoking_a_role_not_held_changes_nothing(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = account.run(capsys, "spa", "revoke", "bob", "admin")
    assert code == 0
    assert "does not hold admin" in out
    assert account.item("bob") is None  # no empty item created


def test_revoke_takes_a_held_role_that_config_no_longer_names(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    item = {
        "subject": {"S": account.subs["bob"]},
        "username": {"S": "bob"},
        "roles": {"SS": ["auditor", "reader"]},
    }
    account.client("dynamodb").put_item(TableName=TABLE, Item=item)
    assert account.run(capsys, "spa", "revoke", "bob", "auditor")[0] == 0
    assert account.roles("bob") == {"reader"}


def test_list_shows_a_users_roles_or_every_user_with_roles(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    assert account.run(capsys, "spa", "list") == (0, "no user has a role in spa\n", "")
    assert (
        account.run(capsys, "spa", "list", "bob")[1] == f"bob ({account.subs['bob']}): no roles\n"
    )

    account.run(capsys, "spa", "grant", "bob", "reader")
    account.run(capsys, "spa", "grant", "alice", "admin")
    account.run(capsys, "spa", "grant", "alice", "reader")
    assert account.run(capsys, "spa", "list", "alice@example.com")[1] == (
        f"alice ({account.subs['alice']}): admin, reader\n"
    )
    code, out, _ = account.run(capsys, "spa", "list")
    assert code == 0
    assert out.splitlines() == [
        f"alice ({account.subs['alice']}): admin, reader",
        f"bob ({account.subs['bob']}): reader",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("spa", "grant", "alice", "owner"), "unknown role 'owner': one of admin, reader"),
        (("spa", "revoke", "alice", "owner"), "unknown role 'owner': one of admin, reader"),
        (("spa", "grant", "nobody", "admin"), "no user 'nobody'"),
        (("spa", "list", "nobody@example.com"), "no user with username or email"),
        (("spa", "list", "00000000-0000-0000-0000-000000000000"), "no user with username or sub"),
        (("spa", "grant", "shared@example.com", "admin"), "more than one user has email"),
        (("nowhere", "list"), "not a configured environment"),
        ((PRIVATE.name, "list"), "names no role (api.route_roles is empty)"),
        (("spa", "promote", "alice", "admin"), USAGE),
        (("spa", "grant", "alice"), USAGE),
        (("spa", "list", "alice", "admin"), USAGE),
        (("spa",), USAGE),
    ],
)
def test_a_mistake_is_one_line_and_exit_2_with_nothing_written(
    account: Account, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, out, err = account.run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert message in err
    assert err.count("\n") == 1
    assert account.item("alice") is None


def test_a_missing_stack_is_one_line_and_exit_1(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    account.client("cloudformation").delete_stack(StackName=stack_name(CONFIG, ENV, "api"))
    code, _, err = account.run(capsys, "spa", "list")
    assert code == 1
    assert err == f"roles: stack {stack_name(CONFIG, ENV, 'api')} does not exist in eu-west-1\n"


def test_a_stack_without_the_outputs_names_them(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    account.client("cloudformation").delete_stack(StackName=stack_name(CONFIG, ENV, "api"))
    account.stack({"UserPoolId": account.pool})
    code, _, err = account.run(capsys, "spa", "grant", "alice", "admin")
    assert code == 1
    assert "has no output RoleTableName" in err
    assert err.count("\n") == 1


def test_an_aws_error_is_one_line_and_exit_1(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    account.client("dynamodb").delete_table(TableName=TABLE)
    code, _, err = account.run(capsys, "spa", "grant", "alice", "admin")
    assert code == 1
    assert err.startswith("roles: GetItem: ResourceNotFoundException")
    assert err.count("\n") == 1
