"""A USER as the operator names it (Cognito username, email or ``sub``) -> the user's ``sub``,
the role table's key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_EMAIL = re.compile(r"[^\s\"\\@]+@[^\s\"\\@]+")
"""An email that is safe inside a ListUsers filter's quotes."""


class UnknownUserError(Exception):
    """No (or more than one) user matches; ``str()`` is the one line shown."""


@dataclass(frozen=True)
class User:
    sub: str
    username: str

    def __str__(self) -> str:
        return f"{self.username} ({self.sub})"


def _attribute(attributes: list[dict[str, str]], name: str) -> str:
    return next((a["Value"] for a in attributes if a["Name"] == name), "")


def resolve_user(cognito: Any, pool_id: str, user: str) -> User:
    """AdminGetUser (a username, or an email or phone alias), else ListUsers by ``sub`` (a
    UUID) or ``email``. Filter syntax:
    https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_ListUsers.html
    """
    try:
        found = cognito.admin_get_user(UserPoolId=pool_id, Username=user)
        return User(_attribute(found["UserAttributes"], "sub"), found["Username"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "UserNotFoundException":
            raise
    attribute = "sub" if _UUID.fullmatch(user) else "email" if _EMAIL.fullmatch(user) else None
    if attribute is None:
        raise UnknownUserError(f"no user '{user}' in user pool {pool_id}")
    users = cognito.list_users(UserPoolId=pool_id, Filter=f'{attribute} = "{user}"', Limit=2)
    matches = users.get("Users", [])
    if len(matches) > 1:
        raise UnknownUserError(f"more than one user has {attribute} '{user}': name the username")
    if not matches:
        raise UnknownUserError(f"no user with username or {attribute} '{user}' in {pool_id}")
    (match,) = matches
    return User(_attribute(match["Attributes"], "sub"), match["Username"])
