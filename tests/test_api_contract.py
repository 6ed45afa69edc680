"""One contract, three places: the route table (`api.routes`), the handler that serves it with
Powertools' validation, and the API Gateway models the API stack generates from the same
pydantic models; plus the IAM token the function signs without boto3, and how the driver
presents it to the database (TLS, the startup message, the password) and gives up on silence."""

from __future__ import annotations

import datetime
import typing
from typing import Any
from unittest import mock

import boto3
import pytest
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from jsonschema import Draft4Validator  # type: ignore[import-untyped]  # cfn-lint's, untyped
from pydantic import BaseModel, ValidationError

from api import models, routes
from api.iam_token import Credentials, IamTokenSigner
from cdk_constructs.private_api import json_schema
from stacks.api_stack import gateway_schema
from tests.test_api_harness import handler

BEFORE_GENERATION = {
    "NewItem": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "maxLength": 2000},
        },
        "required": ["name"],
        "additionalProperties": False,
    },
    "ItemUpdate": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "maxLength": 2000},
            "version": {"type": "integer", "minimum": 1},
        },
        "required": ["name", "description", "version"],
        "additionalProperties": False,
    },
}
"""The request models the API stack wrote by hand before they were generated."""

BODIES: list[Any] = [
    {},
    {"name": "x"},
    {"name": ""},
    {"name": "   "},
    {"name": "n" * 200},
    {"name": "n" * 201},
    {"name": "x", "description": "d" * 2000},
    {"name": "x", "description": "d" * 2001},
    {"name": "x", "description": None},
    {"name": 1},
    {"name": "x", "color": "red"},
    {"name": "x", "description": "", "version": 1},
    {"name": "x", "description": "", "version": 0},
    {"name": "x", "description": "", "version": 2**31},
    {"name": "x", "description": "", "version": "1"},
    {"name": "x", "description": "", "version": True},
    {"name": "x", "version": 1},
    {"name": "nul\x00"},
    ["name"],
    "name",
    None,
]


def _accepts(model: type[BaseModel], body: Any) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


def _annotated(func: Any, kind: type) -> type[BaseModel] | None:
    """The model of the parameter the route function declares as ``kind`` (Body, Query)."""
    for hint in typing.get_type_hints(func, include_extras=True).values():
        if typing.get_origin(hint) is typing.Annotated:
            model, *extras = typing.get_args(hint)
            if any(isinstance(extra, kind) for extra in extras):
                return typing.cast(type[BaseModel], model)
    return None


def test_the_handler_serves_exactly_the_route_table_with_its_models() -> None:
    served = {
        (route.method, route.path): route.func
        for route in handler.app._static_routes + handler.app._dynamic_routes
    }

    assert set(served) == {(route.method.value, route.rule) for route in routes.API_ROUTES}
    for route in routes.API_ROUTES:
        func = served[(route.method.value, route.rule)]
        assert _annotated(func, Body) is route.body, route
        assert _annotated(func, Query) is route.query, route


@pytest.mark.parametrize("model", [models.NewItem, models.ItemUpdate])
def test_the_generated_gateway_models_check_what_the_hand_written_ones_did(
    model: type[BaseModel],
) -> None:
    schema = gateway_schema(model.model_json_schema())

    assert schema == BEFORE_GENERATION[model.__name__]
    json_schema(schema)  # and CDK takes it as it is


@pytest.mark.parametrize("model", [models.NewItem, models.ItemUpdate])
def test_api_gateway_never_refuses_a_body_the_function_accepts(model: type[BaseModel]) -> None:
    gateway = Draft4Validator(gateway_schema(model.model_json_schema()))

    refused = [body for body in BODIES if not gateway.is_valid(body)]

    assert refused
    assert not [body for body in refused if _accepts(model, body)]


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (models.NewItem, {"name": "   "}),
        (models.NewItem, {"name": "nul\x00"}),
        (models.ItemUpdate, {"name": "x", "description": "", "version": 2**31}),
    ],
)
def test_what_api_gateway_lets_through_the_function_refuses(
    model: type[BaseModel], body: dict[str, Any]
) -> None:
    """Whitespace names, NUL, a version past PostgreSQL's integer: the function's to answer
    (422 with details)."""
    assert Draft4Validator(gateway_schema(model.model_json_schema())).is_valid(body)
    assert not _accepts(model, body)


def test_the_json_schema_converter_refuses_what_it_would_drop() -> None:
    with pytest.raises(ValueError, match="format"):
        json_schema({"type": "string", "format": "uuid"})


@pytest.mark.parametrize(
    ("host", "port", "user", "region", "session_token"),
    [
        ("items.proxy-abc.eu-west-1.rds.amazonaws.com", 5432, "app_api", "eu-west-1", "t/+="),
        ("cluster.cluster-xyz.us-east-1.rds.amazonaws.com", 6543, "a b+c/é~", "us-east-1", None),
    ],
)
def test_the_iam_token_is_the_one_boto3_signs(
    host: str, port: int, user: str, region: str, session_token: str | None
) -> None:
    signed_at = datetime.datetime(2030, 1, 2, 3, 4, 5)
    credentials = Credentials("AKIDEXAMPLE", "secret/+key", session_token)
    session = boto3.Session(
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=session_token,
        region_name=region,
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at):
        expected = session.client("rds").generate_db_auth_token(
            DBHostname=host, Port=port, DBUsername=user, Region=region
        )
    signer = IamTokenSigner(
        region_name=region,
        credentials=lambda: credentials,
        clock=lambda: signed_at.replace(tzinfo=datetime.UTC),
    )

    token = signer.generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user)

    assert token == expected


def test_the_iam_token_is_signed_with_the_execution_roles_credentials() -> None:
    environment = {
        "AWS_ACCESS_KEY_ID": "ASIAROLE",
        "AWS_SECRET_ACCESS_KEY": "role-secret",
        "AWS_SESSION_TOKEN": "role-token",
    }

    assert Credentials.from_environment(environment) == Credentials(
        "ASIAROLE", "role-secret", "role-token"
    )
