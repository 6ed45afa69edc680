"""The items API end to end, what it refuses: bodies, queries and ids the models reject, malformed
and oversized bodies, hostile text, and routes it does not have."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.dialects.postgresql import bind, literal
from tests.test_api_harness import MAX_BODY, WRONG_METHODS, Api, db, item_path
from tests.test_api_harness import api as api  # the fixture, re-exported (see devkit.fixtures)

# The handler filters this at import; pytest restores the warning filters around each test.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "error_type"),
    [
        ({}, "name", "missing"),
        ({"description": "no name"}, "name", "missing"),
        ({"name": ""}, "name", "string_too_short"),
        ({"name": " \t\n "}, "name", "string_too_short"),
        ({"name": "n" * 201}, "name", "string_too_long"),
        ({"name": "ok", "description": "d" * 2001}, "description", "string_too_long"),
        ({"name": "ok", "color": "red"}, "color", "extra_forbidden"),
        ({"name": "ok", "version": 1}, "version", "extra_forbidden"),
        ({"name": 123}, "name", "string_type"),
        ({"name": ["a"]}, "name", "string_type"),
        ({"name": "ok", "description": None}, "description", "string_type"),
        ({"name": "nul\x00byte"}, "name", "value_error"),
        ({"name": "ok", "description": "\x00"}, "description", "value_error"),
        ({"name": "lone \ud800 surrogate"}, "name", "string_unicode"),
        ({"name": "ok", "description": "\udfff"}, "description", "string_unicode"),
        (["name", "x"], "body", "model_type"),
        ("just a string", "body", "model_type"),
    ],
)
def test_create_rejects_invalid_bodies_with_422(
    api: Api, body: Any, field: str, error_type: str
) -> None:
    response = api.request("POST", "/items", body)

    assert response.status == 422
    error = response.json["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert {"location": "body", "field": field, "type": error_type} in [
        {key: detail[key] for key in ("location", "field", "type")} for detail in error["details"]
    ]
    assert all(detail["message"] for detail in error["details"])
    assert api.rows() == []


@pytest.mark.parametrize(
    ("body", "field", "error_type"),
    [
        ({"name": "x", "description": ""}, "version", "missing"),
        ({"name": "x", "description": "", "version": 0}, "version", "greater_than_equal"),
        ({"name": "x", "description": "", "version": -1}, "version", "greater_than_equal"),
        ({"name": "x", "description": "", "version": 2**31}, "version", "less_than_equal"),
        ({"name": "x", "description": "", "version": "1"}, "version", "int_type"),
        ({"name": "x", "description": "", "version": 1.0}, "version", "int_type"),
        ({"name": "x", "description": "", "version": True}, "version", "int_type"),
        ({"name": "x", "version": 1}, "description", "missing"),
        ({"name": "", "description": "", "version": 1}, "name", "string_too_short"),
        ({"name": "x", "description": "", "version": 1, "id": "y"}, "id", "extra_forbidden"),
        ({"name": "x\x00", "description": "", "version": 1}, "name", "value_error"),
        ({"name": "x", "description": "a\x00b", "version": 1}, "description", "value_error"),
        ({"name": "x", "description": "\ud800", "version": 1}, "description", "string_unicode"),
    ],
)
def test_update_rejects_invalid_bodies_with_422_and_changes_nothing(
    api: Api, body: dict[str, Any], field: str, error_type: str
) -> None:
    created = api.create("untouched", "as created")

    response = api.request("PUT", item_path(created["id"]), body)

    assert response.status == 422
    assert response.error_code == "VALIDATION_ERROR"
    assert (field, error_type) in [
        (d["field"], d["type"]) for d in response.json["error"]["details"]
    ]
    assert api.request("GET", item_path(created["id"])).json == created


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "", "2.5"])
def test_list_rejects_a_limit_outside_1_to_100_with_422(api: Api, limit: str) -> None:
    response = api.request("GET", "/items", query={"limit": limit})

    assert response.status == 422
    [detail] = response.json["error"]["details"]
    assert (detail["location"], detail["field"]) == ("query", "limit")


@pytest.mark.parametrize("limit", ["1", "100"])
def test_list_accepts_the_limits_1_and_100(api: Api, limit: str) -> None:
    api.create("one")
    api.create("two")

    response = api.request("GET", "/items", query={"limit": limit})

    assert response.status == 200
    assert len(response.json["items"]) == min(int(limit), 2)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not-a-cursor",
        "A" * 31,
        "A" * 33,
        "A" * 31 + "=",
        "A" * 30 + "!!",
        # Well-formed, but a timestamp far past year 9999, or before year 1000 (older than any
        # row: MySQL's DATETIME is documented from 1000-01-01 on):
        base64.urlsafe_b64encode((2**62).to_bytes(8, "big") + bytes(16)).decode(),
        base64.urlsafe_b64encode((-(2**55)).to_bytes(8, "big", signed=True) + bytes(16)).decode(),
    ],
)
def test_list_rejects_a_malformed_cursor_with_400(api: Api, cursor: str) -> None:
    response = api.request("GET", "/items", query={"cursor": cursor})

    assert response.status == 400
    assert response.error_code == "INVALID_CURSOR"


@pytest.mark.parametrize(
    "moment", [datetime(1000, 1, 1, tzinfo=UTC), datetime.max.replace(tzinfo=UTC)]
)
def test_a_cursor_at_either_end_of_time_is_a_page(api: Api, moment: datetime) -> None:
    """Well-formed cursors no page ended on, at the edges of what both engines hold."""
    api.create("only")
    micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    cursor = base64.urlsafe_b64encode(micros.to_bytes(8, "big", signed=True) + bytes(16))

    response = api.request("GET", "/items", query={"cursor": cursor.decode()})

    assert response.status == 200
    names = [item["name"] for item in response.json["items"]]
    assert names == (["only"] if moment.year == 1000 else [])


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("item_id", ["not-a-uuid", "123", "' OR '1'='1"])
def test_a_non_uuid_id_is_422(api: Api, method: str, item_id: str) -> None:
    created = api.create("bystander")
    body = {"name": "x", "description": "", "version": 1} if method == "PUT" else None

    response = api.request(method, item_path(item_id), body)

    assert response.status == 422
    [detail] = response.json["error"]["details"]
    assert (detail["location"], detail["field"]) == ("path", "id")
    assert api.request("GET", item_path(created["id"])).json == created


@pytest.mark.parametrize(
    "raw_body",
    [
        "{",
        '{"name": "x",}',
        "{'name': 'x'}",
        '{"name": NaN}',
        '{"version": Infinity}',
        "[" * 5000 + "]" * 5000,  # deeper than Python's recursion limit
        '{"name": "x"} trailing',
        "1" * 5000,  # more digits than Python parses into an int
        "",
        "   ",
    ],
)
def test_malformed_json_is_400(api: Api, raw_body: str) -> None:
    response = api.request("POST", "/items", raw_body=raw_body)

    assert response.status == 400
    assert response.error_code == "MALFORMED_JSON"
    assert api.rows() == []


def test_a_missing_body_is_400(api: Api) -> None:
    response = api.request("POST", "/items")

    assert response.status == 400
    assert response.error_code == "MALFORMED_JSON"


@pytest.mark.parametrize(
    "raw_body", ["!!not base64!!", base64.b64encode(b'{"name": "\xff\xfe"}').decode()]
)
def test_a_bad_base64_body_is_400(api: Api, raw_body: str) -> None:
    response = api.request("POST", "/items", raw_body=raw_body, is_base64=True)

    assert response.status == 400
    assert api.rows() == []


@pytest.mark.parametrize(
    ("raw_body", "status", "code"),
    [
        ('{"name": "\udcff"}', 422, "VALIDATION_ERROR"),  # JSON's "\udcff": a lone surrogate
        ('{"name": "x"}\udcff', 400, "MALFORMED_JSON"),
        ("\ud800", 400, "MALFORMED_JSON"),
    ],
)
def test_a_body_that_is_not_utf8_text_is_a_4xx_json_never_a_500(
    api: Api, raw_body: str, status: int, code: str
) -> None:
    """A Lambda event is JSON, so its body string can hold what UTF-8 cannot encode."""
    response = api.request("PUT", f"/items/{uuid.UUID(int=1)}", raw_body=raw_body)
    created = api.request("POST", "/items", raw_body=raw_body)

    assert (response.status, response.error_code) == (status, code)
    assert (created.status, created.error_code) == (status, code)
    assert api.rows() == []


def padded_body(size: int, **fields: Any) -> str:
    """A valid JSON object of exactly `size` bytes (UTF-8), padded with whitespace."""
    compact = json.dumps(fields, ensure_ascii=False)
    padding = size - len(compact.encode())
    assert padding >= 0
    return compact[:-1] + " " * padding + "}"


def test_a_body_of_exactly_16_kib_is_accepted(api: Api) -> None:
    body = padded_body(MAX_BODY, name="at the limit")
    assert len(body.encode()) == MAX_BODY

    assert api.request("POST", "/items", raw_body=body).status == 201


@pytest.mark.parametrize(
    "body",
    [
        padded_body(MAX_BODY + 1, name="one byte over"),
        # Fewer characters than the limit, more bytes: the limit is in bytes.
        json.dumps({"name": "x", "description": "€" * 6000}, ensure_ascii=False),
        '{"name": "' + "x" * 1_000_000 + '"}',
    ],
    ids=["one-byte-over", "multibyte", "one-megabyte"],
)
def test_a_body_over_16_kib_is_413_and_nothing_is_stored(api: Api, body: str) -> None:
    assert len(body.encode()) > MAX_BODY

    response = api.request("POST", "/items", raw_body=body)

    assert response.status == 413
    assert response.error_code == "PAYLOAD_TOO_LARGE"
    encoded = base64.b64encode(body.encode()).decode()
    assert api.request("POST", "/items", raw_body=encoded, is_base64=True).status == 413
    assert api.rows() == []


def test_an_oversized_update_is_413_and_changes_nothing(api: Api) -> None:
    created = api.create("small")

    body = padded_body(MAX_BODY + 1, name="big", description="", version=1)
    response = api.request("PUT", item_path(created["id"]), raw_body=body)

    assert response.status == 413
    assert api.request("GET", item_path(created["id"])).json == created


# --- hostile input -------------------------------------------------------------------------


INJECTIONS = [
    "'); DROP TABLE items; --",
    "Robert'); DELETE FROM items WHERE ('1'='1",
    "x' OR '1'='1",
    '"; SELECT pg_sleep(10); --',
    "%s %(name)s {0} $1 \\x00 \\'",
    "$$; DROP TABLE items; $$",
    "E'\\\\'; TRUNCATE items; --",
    "ends with a backslash\\",
    "\\', 'x'); DROP TABLE items; --",
    "\\\\' OR 1=1 --",
    "it's ''quoted'' \"twice\"",
    "ünïcödé\t€\n😀\u200bend",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_sql_injection_strings_are_stored_and_returned_literally(api: Api, text: str) -> None:
    bystander = api.create("bystander")

    created = api.create(name=text, description=text)
    updated = api.request(
        "PUT", item_path(created["id"]), {"name": text + "!", "description": text, "version": 1}
    )

    assert (created["name"], created["description"]) == (text, text)
    assert updated.status == 200
    assert api.request("GET", item_path(created["id"])).json["name"] == text + "!"
    assert api.request("GET", item_path(bystander["id"])).json == bystander
    rows = api.rows()  # the table is still there, with both rows
    assert sorted((row[1], row[2]) for row in rows) == sorted(
        [("bystander", ""), (text + "!", text)]
    )


@pytest.mark.parametrize("text", INJECTIONS)
def test_text_is_stored_literally_whichever_way_the_server_reads_backslashes(
    api: Api, text: str
) -> None:
    """PostgreSQL: a role or database may turn standard_conforming_strings off; then a
    backslash in a plain '' string escapes the next character, and doubled quotes alone no
    longer quote. MySQL the other way round: its backslashes escape unless sql_mode has
    NO_BACKSLASH_ESCAPES, and then an escaping backslash would be stored as one."""
    with api.database.backslashes_flipped():
        db.reset()
        created = api.create(name=text, description=text)
        connection = db.database().connection
        assert connection is not None
        assert api.database.session_reads_backslashes_flipped(connection)

        updated = api.request(
            "PUT",
            item_path(created["id"]),
            {"name": text, "description": text + "\\", "version": 1},
        )

    assert (created["name"], created["description"]) == (text, text)
    assert updated.status == 200
    assert [(row[1], row[2]) for row in api.rows()] == [(text, text + "\\")]


def test_values_are_quoted_by_the_driver_and_what_sql_cannot_hold_is_refused() -> None:
    """The last line behind the models, which refuse NUL and lone surrogates first (422).
    PostgreSQL's quoting; MySQL's: test_api_mysql."""
    item_id = uuid.UUID(int=7)
    query = "SELECT %s, %s, %s, %s, %s, %s"

    bound = bind(query, (None, True, 42, item_id, "it's", "back\\slash'"))

    assert bound == f"SELECT NULL, TRUE, 42, '{item_id}', 'it''s', E'back\\\\slash'''"
    assert bind("SELECT %s", (datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC),)) == (
        "SELECT '2030-01-02T03:04:05.000006+00:00'"
    )
    for bad, error in [("a\x00b", ValueError), ("\ud800", UnicodeEncodeError), (1.5, TypeError)]:
        with pytest.raises(error):
            literal(bad)


# --- routing -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/nope", "/items/x/y", "/health/x", "/itemsx"])
def test_an_unknown_route_is_404_json(api: Api, path: str) -> None:
    response = api.request("GET", path)

    assert response.status == 404
    assert response.error_code == "ROUTE_NOT_FOUND"


@pytest.mark.parametrize(("method", "path"), WRONG_METHODS)
def test_a_wrong_method_is_404_json(api: Api, method: str, path: str) -> None:
    response = api.request(method, path, {"name": "x"})

    assert response.status == 404
    assert response.error_code == "ROUTE_NOT_FOUND"
    assert api.rows() == []
