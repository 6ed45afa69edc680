"""The whole path on one machine: the web page in headless Chromium -> the web app -> the local
items API (same handler, same scope checks) -> PostgreSQL, with sessions in DynamoDB (moto)."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psycopg
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait
from starlette.testclient import TestClient

from devkit.postgres import create_database, drop_database
from local_stack.stack import READ_ONLY_CLIENT_ID, LocalStack, running
from tests.conftest import REPO_ROOT
from web_app.app import create_app
from web_app.settings import Settings

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer


def _browser_binaries() -> tuple[Path, Path]:
    """Chromium or Chrome, and ChromeDriver, found as ``make browser`` looks for them (Debian's
    chromium and chromium-driver it installs, or GitHub runners' Chrome and driver)."""
    browser = shutil.which("chromium") or shutil.which("google-chrome") or "/usr/bin/chromium"
    runner_driver = Path(os.environ.get("CHROMEWEBDRIVER", "/nonexistent")) / "chromedriver"
    driver = shutil.which("chromedriver") or str(runner_driver)
    return Path(browser), Path(driver)


CHROMIUM, CHROMEDRIVER = _browser_binaries()
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens
NO_BROWSER = (
    "no {what} found: `make test` runs `make browser`, which apt-get installs Debian's chromium"
    " and chromium-driver (as root or through sudo) when a browser or its driver is missing"
)
SCREENSHOT = REPO_ROOT / "e2e-artifacts" / "items-page.png"


@pytest.fixture(scope="module")
def stack(pg_server: PostgresServer) -> Iterator[LocalStack]:
    dbname = f"e2e_{uuid.uuid4().hex[:12]}"
    database = create_database(pg_server, dbname)
    try:
        with running(database.conninfo) as local:
            yield local
    finally:
        drop_database(pg_server, dbname)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    assert CHROMIUM.exists(), NO_BROWSER.format(what="chromium or google-chrome")
    assert CHROMEDRIVER.exists(), NO_BROWSER.format(what="chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1024,768",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def across_navigation(browser: WebDriver) -> WebDriverWait[WebDriver]:
    """A wait over a form's submission: the old page may go away while it is read, so its
    elements going stale is not an error."""
    return WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,))


def item_rows(stack: LocalStack, name: str) -> list[tuple[object, ...]]:
    with psycopg.connect(stack.conninfo) as conn:
        return conn.execute("SELECT id, name FROM items WHERE name = %s", (name,)).fetchall()


def test_add_list_and_delete_an_item_through_the_page(
    stack: LocalStack, browser: WebDriver
) -> None:
    name = f"e2e item {uuid.uuid4().hex[:8]}"
    browser.get(stack.web_url)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Items"

    browser.find_element(By.NAME, "name").send_keys(name)
    browser.find_element(By.NAME, "description").send_keys("added by the browser")
    browser.find_element(By.XPATH, "//button[text()='Add']").click()
    item_xpath = f"//li[strong[text()='{name}']]"
    (listed,) = WebDriverWait(browser, 10).until(
        lambda driver: driver.find_elements(By.XPATH, item_xpath)
    )
    assert "added by the browser" in listed.text
    SCREENSHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))
    print(f"screenshot: {SCREENSHOT}")

    # The row is in PostgreSQL, written by the API's own login.
    ((item_id, _),) = item_rows(stack, name)
    assert listed.get_attribute("data-item-id") == str(item_id)

    # The browser's session lives in DynamoDB, with its expiry as the TTL attribute.
    cookie = browser.get_cookie("sid")
    assert cookie is not None
    assert cookie["httpOnly"]
    session = stack.dynamodb_table().get_item(Key={"session_id": cookie["value"]})["Item"]
    assert int(session["expires_at"]) > time.time()

    listed.find_element(By.XPATH, ".//button[text()='Delete']").click()
    across_navigation(browser).until(
        lambda driver: [
            status
            for status in driver.find_elements(By.CSS_SELECTOR, "p[role=status]")
            if status.text == "Deleted."
        ]
    )
    assert not browser.find_elements(By.XPATH, item_xpath)
    assert item_rows(stack, name) == []


def test_the_page_shows_which_field_the_api_refused(stack: LocalStack, browser: WebDriver) -> None:
    browser.get(stack.web_url)
    browser.find_element(By.NAME, "name").send_keys("   ")  # the form allows it, the API not
    browser.find_element(By.XPATH, "//button[text()='Add']").click()
    (name,) = across_navigation(browser).until(
        lambda driver: driver.find_elements(By.CSS_SELECTOR, "input[name=name][aria-invalid=true]")
    )
    # The API's own words (pydantic's, today "String should have at least 1 character").
    reason = browser.find_element(By.ID, str(name.get_attribute("aria-describedby"))).text
    assert reason
    status = browser.find_element(By.CSS_SELECTOR, "p[role=status]").text
    assert status == f"Not added: name: {reason}"
    description = browser.find_element(By.NAME, "description")
    assert description.get_attribute("aria-invalid") is None
    viewport = browser.find_element(By.CSS_SELECTOR, "meta[name=viewport]")
    assert viewport.get_attribute("content") == "width=device-width, initial-scale=1"
    assert browser.execute_script("return document.styleSheets.length") == 1


def test_deep_health_goes_through_the_api_to_the_database(stack: LocalStack) -> None:
    response = httpx.get(f"{stack.web_url}healthz/deep", timeout=10)
    assert response.status_code == 200
    assert response.json()["api"] == {"status": "ok", "database": "ok"}


def test_a_token_without_items_write_is_refused_by_the_api(stack: LocalStack) -> None:
    token = httpx.post(
        stack.token_url,
        auth=(READ_ONLY_CLIENT_ID, stack.clients[READ_ONLY_CLIENT_ID]),
        data={"grant_type": "client_credentials"},
        timeout=10,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    name = f"refused {uuid.uuid4().hex[:8]}"
    refused = httpx.post(f"{stack.api_url}items", json={"name": name}, headers=headers, timeout=10)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
    assert item_rows(stack, name) == []
    assert httpx.get(f"{stack.api_url}items", headers=headers, timeout=10).status_code == 200
    no_token = httpx.get(f"{stack.api_url}items", timeout=10)
    assert no_token.status_code == 401


def test_the_page_explains_when_the_api_is_down(stack: LocalStack) -> None:
    app = create_app(
        Settings(
            api_client_id="x",
            api_client_secret="y",  # never used: nothing answers
            api_token_url=f"{UNREACHABLE}/oauth2/token",
            api_scopes="api/items.read",
            api_base_url=f"{UNREACHABLE}/v1",
            session_table=stack.session_table,
            dynamodb_endpoint_url=stack.dynamodb_url,
        )
    )
    response = TestClient(app).get("/")
    assert response.status_code == 503
    assert "not reachable" in response.text
    assert "Traceback" not in response.text
