"""The role table (partition key ``subject`` = the user's ``sub``; ``roles`` a string set,
``username`` for people reading it). A user left with no role has no item: DynamoDB drops a set
that becomes empty, and an item without roles would only clutter ``list``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from roles.users import User

_NAMES = {"#roles": "roles", "#username": "username"}


@dataclass(frozen=True)
class Holder:
    """A row of the table: who holds which roles."""

    user: User
    roles: frozenset[str]

    def __str__(self) -> str:
        return f"{self.user}: {', '.join(sorted(self.roles)) or 'no roles'}"


def _holder(item: dict[str, Any], user: User | None = None) -> Holder:
    roles = frozenset(item.get("roles", {}).get("SS", []))
    if user is None:
        user = User(item["subject"]["S"], item.get("username", {}).get("S", ""))
    return Holder(user, roles)


@dataclass(frozen=True)
class RoleTable:
    dynamodb: Any
    name: str

    def _key(self, user: User) -> dict[str, Any]:
        return {"subject": {"S": user.sub}}

    def holder(self, user: User) -> Holder:
        item = self.dynamodb.get_item(
            TableName=self.name, Key=self._key(user), ConsistentRead=True
        ).get("Item", {})
        return _holder(item, user)

    def grant(self, user: User, role: str) -> Holder:
        """ADD to the set (creating the item), the username kept up to date."""
        answer = self.dynamodb.update_item(
            TableName=self.name,
            Key=self._key(user),
            UpdateExpression="ADD #roles :role SET #username = :username",
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={":role": {"SS": [role]}, ":username": {"S": user.username}},
            ReturnValues="ALL_NEW",
        )
        return _holder(answer["Attributes"], user)

    def revoke(self, user: User, role: str) -> Holder:
        """DELETE from the set; the item goes with the last role (unless a grant came between,
        which the condition keeps)."""
        answer = self.dynamodb.update_item(
            TableName=self.name,
            Key=self._key(user),
            UpdateExpression="DELETE #roles :role",
            ConditionExpression="attribute_exists(subject)",
            ExpressionAttributeNames={"#roles": "roles"},
            ExpressionAttributeValues={":role": {"SS": [role]}},
            ReturnValues="ALL_NEW",
        )
        left = _holder(answer["Attributes"], user)
        if not left.roles:
            try:
                self.dynamodb.delete_item(
                    TableName=self.name,
                    Key=self._key(user),
                    ConditionExpression="attribute_not_exists(#roles)",
                    ExpressionAttributeNames={"#roles": "roles"},
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
        return left

    def holders(self) -> Iterator[Holder]:
        """Every user with a role, by username."""
        found: list[Holder] = []
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.name):
            found += [_holder(item) for item in page.get("Items", [])]
        yield from sorted(found, key=lambda holder: (holder.user.username, holder.user.sub))
