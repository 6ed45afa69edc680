"""The items API end to end, what it is for: create, read, replace, delete and page items (on
each engine family: see the `api` fixture)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.test_api_harness import STAGE, Api, db, item_path
from tests.test_api_harness import api as api  # the fixture, re-exported (see devkit.fixtures)

# The handler filters this at import; pytest restores the warning filters around each test.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


# --- happy paths ---------------------------------------------------------------------------


def test_health_reports_that_the_database_answered(api: Api) -> None:
    response = api.request("GET", "/health")

    assert response.status == 200
    assert response.json == {"status": "ok", "database": "ok"}
    assert len(api.api_backends()) == 1  # it really signed in, as app_api


def test_health_is_503_json_when_the_database_is_unreachable(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in api.database.nowhere(tmp_path).items():
        monkeypatch.setenv(name, value)
    db.reset()

    response = api.request("GET", "/health")

    assert response.status == 503
    body = response.json
    assert body["status"] == "unavailable"
    assert body["error"]["code"] == "DATABASE_UNAVAILABLE"
    # The routes say the same, as JSON and retryable.
    listed = api.request("GET", "/items")
    assert listed.status == 503
    assert listed.error_code == "DATABASE_UNAVAILABLE"
    assert listed.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    ("stage_path", "location_prefix"), [(True, f"/{STAGE}/items/"), (False, "/items/")]
)
def test_create_returns_201_with_the_item_and_its_location(
    api: Api, stage_path: bool, location_prefix: str
) -> None:
    response = api.request(
        "POST",
        "/items",
        {"name": "  Widget  ", "description": "  keeps its spaces "},
        stage_path=stage_path,
    )

    assert response.status == 201
    item = response.json
    assert set(item) == {"id", "name", "description", "created_at", "updated_at", "version"}
    assert item["name"] == "Widget"  # names are stripped
    assert item["description"] == "  keeps its spaces "  # descriptions are kept as sent
    assert item["version"] == 1
    created_at = datetime.fromisoformat(item["created_at"])
    assert created_at.utcoffset() is not None
    assert item["updated_at"] == item["created_at"]
    assert response.headers["Location"] == location_prefix + item["id"]
    [row] = api.rows()
    assert (str(row[0]), row[1], row[2], row[3], row[4]) == (
        item["id"],
        "Widget",
        "  keeps its spaces ",
        1,
        created_at,
    )


def test_create_without_description_stores_an_empty_one(api: Api) -> None:
    response = api.request("POST", "/items", {"name": "bare"})

    assert response.status == 201
    assert response.json["description"] == ""
    assert [row[2] for row in api.rows()] == [""]


def test_create_accepts_the_longest_name_and_description(api: Api) -> None:
    item = api.create(name="n" * 200, description="d" * 2000)

    assert (len(item["name"]), len(item["description"])) == (200, 2000)


def test_create_accepts_a_base64_encoded_body(api: Api) -> None:
    body = base64.b64encode(json.dumps({"name": "encoded é"}).encode()).decode()

    response = api.request("POST", "/items", raw_body=body, is_base64=True)

    assert response.status == 201
    assert response.json["name"] == "encoded é"


def test_get_returns_the_item(api: Api) -> None:
    created = api.create("thing", "its description")

    response = api.request("GET", item_path(created["id"]))

    assert response.status == 200
    assert response.json == created


def test_put_replaces_the_item_and_bumps_its_version(api: Api) -> None:
    created = api.create("before", "old")

    response = api.request(
        "PUT", item_path(created["id"]), {"name": "after", "description": "new", "version": 1}
    )

    assert response.status == 200
    updated = response.json
    assert updated["id"] == created["id"]
    assert (updated["name"], updated["description"], updated["version"]) == ("after", "new", 2)
    assert updated["created_at"] == created["created_at"]
    assert updated["updated_at"] > created["updated_at"]
    assert api.request("GET", item_path(created["id"])).json == updated
    [row] = api.rows()
    assert (row[1], row[2], row[3]) == ("after", "new", 2)


def test_put_with_a_stale_version_is_409_and_changes_nothing(api: Api) -> None:
    created = api.create("original")
    path = item_path(created["id"])
    first = api.request("PUT", path, {"name": "first writer", "description": "", "version": 1})
    assert first.status == 200

    second = api.request("PUT", path, {"name": "second writer", "description": "", "version": 1})

    assert second.status == 409
    assert second.error_code == "VERSION_CONFLICT"
    assert second.json["error"]["details"] == [{"current_version": 2}]
    assert api.request("GET", path).json == first.json
    [row] = api.rows()
    assert (row[1], row[3]) == ("first writer", 2)


def test_delete_removes_the_item(api: Api) -> None:
    keep = api.create("keep")
    gone = api.create("gone")

    response = api.request("DELETE", item_path(gone["id"]))

    assert response.status == 204
    assert response.text == ""
    assert api.request("GET", item_path(gone["id"])).status == 404
    assert [str(row[0]) for row in api.rows()] == [keep["id"]]


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("GET", None),
        ("PUT", {"name": "x", "description": "", "version": 1}),
        ("DELETE", None),
    ],
)
def test_an_absent_item_is_404(api: Api, method: str, body: dict[str, Any] | None) -> None:
    api.create("someone else")
    missing = uuid.uuid4()

    response = api.request(method, item_path(missing), body)

    assert response.status == 404
    assert response.error_code == "ITEM_NOT_FOUND"
    assert str(missing) in response.json["error"]["message"]
    assert len(api.rows()) == 1


# --- pagination ------------------------------------------------------------------------------


def walk(api: Api, limit: int) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = {"limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        response = api.request("GET", "/items", query=query)
        assert response.status == 200, response.text
        pages.append(response.json["items"])
        cursor = response.json["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "pagination does not end"


def test_pages_cover_every_item_once_in_order_even_with_equal_created_at(api: Api) -> None:
    now = datetime.now(UTC)
    api.database.insert(["same 1", "same 2", "same 3"], now)  # only the id orders these three
    api.database.insert(["earliest"], now - timedelta(days=1))
    api.database.insert(["latest"], now + timedelta(days=1))

    pages = walk(api, limit=2)

    assert [len(page) for page in pages] == [2, 2, 1]
    seen = [item["id"] for page in pages for item in page]
    expected = [str(row[0]) for row in api.rows()]  # ORDER BY created_at, id
    assert seen == expected
    assert len(set(seen)) == 5
    assert pages[0][0]["name"] == "earliest"
    assert pages[-1][-1]["name"] == "latest"


def test_an_item_added_while_paging_is_neither_repeated_nor_skipped(api: Api) -> None:
    for n in range(3):
        api.create(f"item {n}")
    first = api.request("GET", "/items", query={"limit": "2"}).json

    added = api.create("added meanwhile")
    rest = api.request("GET", "/items", query={"limit": "2", "cursor": first["next_cursor"]})

    names = [item["name"] for item in first["items"] + rest.json["items"]]
    assert names == ["item 0", "item 1", "item 2", added["name"]]
    assert rest.json["next_cursor"] is None


def test_list_defaults_to_20_items_and_an_empty_table_is_one_empty_page(api: Api) -> None:
    assert api.request("GET", "/items").json == {"items": [], "next_cursor": None}
    api.database.insert([f"n{n}" for n in range(21)], datetime.now(UTC))

    page = api.request("GET", "/items").json

    assert len(page["items"]) == 20
    assert page["next_cursor"] is not None


def test_exactly_a_full_last_page_has_no_next_cursor(api: Api) -> None:
    for n in range(4):
        api.create(f"item {n}")

    assert [len(page) for page in walk(api, limit=2)] == [2, 2]
