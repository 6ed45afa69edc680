"""The Lambda authorizer end to end: real RS256 tokens, the JWKS from a local HTTP server, the
role table and the client-id parameter in moto. Every answer is a policy or exactly
``Exception("Unauthorized")``."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from authorizer import aws
from authorizer.reasons import Reason
from tests.authorizer_helpers import (
    ALICE,
    CLIENT_ID,
    DELETE_ITEM,
    GET_ITEM,
    GET_ME,
    ISSUER,
    OTHER_CLIENT_ID,
    OTHER_KEY,
    PARAMETER,
    ROLE_TABLE,
    STAGE_ARN,
    Authorizer,
    allowed,
    policy_covers,
    tampered,
    token,
    unsigned_token,
)
from tests.authorizer_helpers import authorizer as authorizer  # the fixtures
from tests.authorizer_helpers import fake_aws as fake_aws
from tests.authorizer_helpers import jwks_server as jwks_server


def test_a_reader_gets_every_route_of_its_roles_and_the_callers_context(
    authorizer: Authorizer,
) -> None:
    authorizer.grant(ALICE, "reader")
    answer = authorizer.call_with(f"Bearer {token()}")

    assert answer["principalId"] == ALICE
    assert answer["context"] == {"userId": ALICE, "username": "alice", "roles": "reader"}
    # Every route the roles permit (the answer is cached per token), each path and below.
    assert allowed(answer) == [
        f"{STAGE_ARN}/GET/items",
        f"{STAGE_ARN}/GET/items/*",
        f"{STAGE_ARN}/GET/me",
        f"{STAGE_ARN}/GET/me/*",
    ]
    assert policy_covers(answer, GET_ITEM)
    assert policy_covers(answer, GET_ME)
    assert not policy_covers(answer, DELETE_ITEM)
    assert not policy_covers(answer, f"{STAGE_ARN}/GET/itemsx")


def test_an_admin_gets_any_method_on_items(authorizer: Authorizer) -> None:
    authorizer.grant(ALICE, "admin", "reader")
    answer = authorizer.call_with(f"Bearer {token()}", arn=DELETE_ITEM)

    assert f"{STAGE_ARN}/*/items/*" in allowed(answer)
    assert policy_covers(answer, DELETE_ITEM)
    assert answer["context"]["roles"] == "admin,reader"
    assert all(isinstance(value, str) for value in answer["context"].values())


def test_request_events_read_the_authorization_header_in_any_case(authorizer: Authorizer) -> None:
    authorizer.grant(ALICE, "reader")
    signed = token()
    by_token = authorizer.call_with(f"Bearer {signed}")
    for headers in ({"Authorization": f"Bearer {signed}"}, {"authorization": signed}):
        assert authorizer.call(authorizer.request_event(headers)) == by_token
    authorizer.refused(authorizer.request_event({"X-Other": "x"}), Reason.MISSING_TOKEN)
    authorizer.refused(authorizer.request_event(None), Reason.MISSING_TOKEN)


@pytest.mark.parametrize(
    ("forged", "reason"),
    [
        pytest.param(lambda: token(exp=int(time.time()) - 120), Reason.EXPIRED, id="expired"),
        pytest.param(
            lambda: token(iat=int(time.time()) + 600), Reason.NOT_YET_VALID, id="future-iat"
        ),
        pytest.param(lambda: token(iss=f"{ISSUER}x"), Reason.WRONG_ISSUER, id="wrong-issuer"),
        pytest.param(
            lambda: token(client_id=OTHER_CLIENT_ID), Reason.WRONG_CLIENT, id="wrong-client-id"
        ),
        pytest.param(
            lambda: token(token_use="id", aud=CLIENT_ID), Reason.NOT_ACCESS_TOKEN, id="id-token"
        ),
        pytest.param(lambda: token(client_id=None), Reason.MISSING_CLAIM, id="no-client-id"),
        pytest.param(lambda: token(token_use=None), Reason.MISSING_CLAIM, id="no-token-use"),
        pytest.param(lambda: token(sub=None), Reason.MISSING_CLAIM, id="no-sub"),
        pytest.param(
            lambda: tampered(token(), sub="someone-else"), Reason.BAD_SIGNATURE, id="tampered"
        ),
        pytest.param(lambda: token(key=OTHER_KEY), Reason.BAD_SIGNATURE, id="other-key-same-kid"),
        pytest.param(lambda: token(kid="unknown-kid"), Reason.UNKNOWN_KID, id="unknown-kid"),
        pytest.param(lambda: token(kid=None), Reason.MALFORMED_TOKEN, id="no-kid"),
        pytest.param(
            lambda: token(key="s" * 32, algorithm="HS256"), Reason.BAD_ALGORITHM, id="hs256"
        ),
        pytest.param(unsigned_token, Reason.BAD_ALGORITHM, id="alg-none"),
        pytest.param(lambda: "not-a-jwt", Reason.MALFORMED_TOKEN, id="garbage"),
        pytest.param(lambda: "a.b.c", Reason.MALFORMED_TOKEN, id="three-garbage-parts"),
        pytest.param(lambda: "x" * 9000, Reason.MALFORMED_TOKEN, id="huge"),
    ],
)
def test_a_bad_token_is_unauthorized(
    authorizer: Authorizer, forged: object, reason: Reason
) -> None:
    authorizer.grant(ALICE, "admin")
    assert callable(forged)
    authorizer.refused(authorizer.token_event(f"Bearer {forged()}"), reason)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer  ", 42, ["Bearer x.y.z"]])
def test_a_missing_or_odd_header_is_unauthorized(authorizer: Authorizer, header: object) -> None:
    authorizer.grant(ALICE, "admin")
    authorizer.refused(authorizer.token_event(header), Reason.MISSING_TOKEN)


@pytest.mark.parametrize(
    "event",
    [None, "text", [], {}, {"type": "TOKEN", "methodArn": GET_ITEM}, {"methodArn": "arn:x"}],
)
def test_a_malformed_event_is_unauthorized(authorizer: Authorizer, event: object) -> None:
    authorizer.refused(event)


def test_a_token_whose_sub_has_no_roles_gets_a_deny_of_the_whole_stage(
    authorizer: Authorizer,
) -> None:
    answer = authorizer.call_with(f"Bearer {token()}")

    (statement,) = answer["policyDocument"]["Statement"]
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Deny",
        "Resource": [f"{STAGE_ARN}/*/*"],
    }
    assert answer["principalId"] == ALICE
    assert not policy_covers(answer, GET_ITEM)
    assert not policy_covers(answer, GET_ME)


def test_roles_that_no_route_names_get_a_deny(authorizer: Authorizer) -> None:
    authorizer.grant(ALICE, "auditor")
    answer = authorizer.call_with(f"Bearer {token()}")
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert answer["context"]["roles"] == "auditor"


def test_a_role_without_this_route_gets_a_policy_that_does_not_cover_it(
    authorizer: Authorizer,
) -> None:
    authorizer.grant(ALICE, "reader")
    answer = authorizer.call_with(f"Bearer {token()}", arn=DELETE_ITEM)

    assert allowed(answer)  # an Allow (of other routes), so API Gateway answers 403 here
    assert not policy_covers(answer, DELETE_ITEM)
    assert policy_covers(answer, GET_ITEM)


def test_the_jwks_is_fetched_once_for_many_invocations(authorizer: Authorizer) -> None:
    authorizer.grant(ALICE, "reader")
    for number in range(5):
        authorizer.call_with(f"Bearer {token(jti=f'jti-{number}')}")
    authorizer.refused(authorizer.token_event(f"Bearer {token(key=OTHER_KEY)}"))
    assert authorizer.jwks.fetches == 1


def test_unknown_kids_cannot_make_it_refetch_the_jwks_on_every_request(
    authorizer: Authorizer,
) -> None:
    authorizer.grant(ALICE, "reader")
    authorizer.call_with(f"Bearer {token()}")
    for number in range(5):
        forged = token(kid=f"random-{number}")
        authorizer.refused(authorizer.token_event(f"Bearer {forged}"), Reason.UNKNOWN_KID)
    assert authorizer.jwks.fetches == 1  # within PyJWT's cooldown: no refetch at all


def test_a_jwks_endpoint_that_is_down_is_unauthorized(authorizer: Authorizer) -> None:
    authorizer.grant(ALICE, "reader")
    authorizer.jwks.stop()
    started = time.monotonic()
    authorizer.refused(authorizer.token_event(f"Bearer {token()}"), Reason.JWKS_UNAVAILABLE)
    assert time.monotonic() - started < 3


def test_a_jwks_endpoint_that_never_answers_is_unauthorized_within_seconds(
    authorizer: Authorizer,
) -> None:
    authorizer.grant(ALICE, "reader")
    authorizer.jwks.hang = True
    started = time.monotonic()
    authorizer.refused(authorizer.token_event(f"Bearer {token()}"), Reason.JWKS_UNAVAILABLE)
    assert time.monotonic() - started < 5  # PyJWKClient's 3 s timeout, not Lambda's


def test_a_missing_role_table_is_unauthorized(authorizer: Authorizer) -> None:
    boto3.client("dynamodb").delete_table(TableName=ROLE_TABLE)
    authorizer.refused(authorizer.token_event(f"Bearer {token()}"), Reason.ROLE_TABLE_UNAVAILABLE)
    assert authorizer.lines[-1]["sub"] == ALICE


def test_client_ids_come_from_the_ssm_parameter_and_are_cached(authorizer: Authorizer) -> None:
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name=PARAMETER, Type="String", Value=f"{OTHER_CLIENT_ID}, {CLIENT_ID}")
    authorizer.setenv("CLIENT_IDS", None)
    authorizer.setenv("CLIENT_IDS_PARAMETER", PARAMETER)
    authorizer.grant(ALICE, "reader")

    assert allowed(authorizer.call_with(f"Bearer {token()}"))
    ssm.put_parameter(Name=PARAMETER, Type="String", Value=OTHER_CLIENT_ID, Overwrite=True)
    assert allowed(authorizer.call_with(f"Bearer {token()}"))  # cached for 5 minutes

    authorizer.monkeypatch.setattr(aws, "CLIENT_IDS_TTL_SECONDS", 0.0)  # the 5 minutes are up
    authorizer.refused(authorizer.token_event(f"Bearer {token()}"), Reason.WRONG_CLIENT)
    assert allowed(authorizer.call_with(f"Bearer {token(client_id=OTHER_CLIENT_ID)}"))


def test_a_missing_client_id_parameter_is_unauthorized(authorizer: Authorizer) -> None:
    authorizer.setenv("CLIENT_IDS", None)
    authorizer.setenv("CLIENT_IDS_PARAMETER", PARAMETER)
    authorizer.grant(ALICE, "reader")
    authorizer.refused(authorizer.token_event(f"Bearer {token()}"), Reason.CLIENT_IDS_UNAVAILABLE)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ISSUER", None),
        ("ROLE_TABLE", None),
        ("CLIENT_IDS", None),
        ("ROUTE_ROLES", "not json"),
        ("ROUTE_ROLES", json.dumps({"GET items": ["reader"]})),
        ("JWKS_URL", "file:///etc/passwd"),
    ],
)
def test_a_misconfigured_function_is_unauthorized(
    authorizer: Authorizer, name: str, value: str | None
) -> None:
    authorizer.grant(ALICE, "reader")
    authorizer.setenv(name, value)
    authorizer.refused(authorizer.token_event(f"Bearer {token()}"), Reason.MISCONFIGURED)


def test_an_unexpected_error_is_unauthorized(
    authorizer: Authorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("authorizer.handler.role_record", broken)
    authorizer.refused(authorizer.token_event(f"Bearer {token()}"), Reason.INTERNAL_ERROR)
    assert authorizer.lines[-1]["detail"] == "RuntimeError"


def test_one_log_line_per_decision_without_the_token(
    authorizer: Authorizer, caplog: pytest.LogCaptureFixture
) -> None:
    authorizer.grant(ALICE, "reader")
    good, wrong_client = token(), token(client_id=OTHER_CLIENT_ID)
    caplog.set_level("INFO", logger="authorizer")
    authorizer.call_with(f"Bearer {good}")
    authorizer.refused(authorizer.token_event(f"Bearer {wrong_client}"))
    authorizer.refused(authorizer.token_event(f"Bearer {token(kid='other')}"))

    lines = authorizer.lines
    assert [(line["decision"], line["reason"]) for line in lines] == [
        ("allow", Reason.ALLOWED.value),
        ("unauthorized", Reason.WRONG_CLIENT.value),
        ("unauthorized", Reason.UNKNOWN_KID.value),
    ]
    assert lines[0]["sub"] == ALICE
    assert lines[0]["client_id"] == CLIENT_ID
    assert lines[0]["covered"] is True
    assert lines[1]["client_id"] == OTHER_CLIENT_ID  # verified, so worth logging
    assert "sub" not in lines[2]  # nothing from a token whose signature was never checked
    assert len(caplog.records) == 3
    for signed in (good, wrong_client):
        assert signed not in caplog.text
        assert signed.split(".")[2] not in caplog.text
