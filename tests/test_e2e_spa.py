"""The S3M shape end to end on one machine: the single-page app in headless Chromium signs in
through the local managed-login stand-in (authorization code + PKCE), calls ``/api/*`` on its
own origin through the REAL Lambda authorizer to the items service and PostgreSQL; an admin
adds an item, a reader sees it and is refused a write (403) with the app's message."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import psycopg
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from devkit.postgres import create_database, drop_database
from local_stack.spa import Role, SpaStack, running_spa
from tests.test_e2e import browser as browser  # the same browser discovery and policy

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

ROLE_REFUSED = "Your role does not allow this."  # site_app/api.js


@pytest.fixture(scope="module")
def spa(pg_server: PostgresServer) -> Iterator[SpaStack]:
    dbname = f"e2e_spa_{uuid.uuid4().hex[:12]}"
    database = create_database(pg_server, dbname)
    try:
        with running_spa(database.conninfo) as stack:
            yield stack
    finally:
        drop_database(pg_server, dbname)


def wait(browser: WebDriver) -> WebDriverWait[WebDriver]:
    """Waits across navigations (sign-in and sign-out leave the page)."""
    return WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,))


def app_ready(spa: SpaStack, browser: WebDriver) -> None:
    """The app on the site's origin has rendered (what CloudFront's canary waits for)."""
    wait(browser).until(
        lambda driver: (
            driver.current_url.startswith(spa.site_url)
            and driver.find_elements(By.CSS_SELECTOR, 'body[data-app-ready="true"]')
        )
    )


def sign_in(spa: SpaStack, browser: WebDriver, role: Role) -> None:
    app_ready(spa, browser)
    browser.find_element(By.ID, "sign-in").click()
    wait(browser).until(lambda driver: driver.current_url.startswith(spa.issuer.url))
    user = spa.users[role]
    browser.find_element(By.NAME, "username").send_keys(user.username)
    browser.find_element(By.NAME, "password").send_keys(user.password)
    browser.find_element(By.XPATH, "//button[text()='Sign in']").click()
    app_ready(spa, browser)
    wait(browser).until(
        lambda driver: driver.find_element(By.ID, "roles").text == f"roles: {role.value}"
    )
    assert browser.find_element(By.ID, "who").text == f"Signed in as {user.username}"
    assert "code=" not in browser.current_url  # the single-use code left the address bar


def listed(browser: WebDriver, name: str) -> list[WebElement]:
    return list(browser.find_elements(By.XPATH, f"//ul[@id='items']/li[strong[text()='{name}']]"))


def item_count(spa: SpaStack) -> int:
    with psycopg.connect(spa.conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM items").fetchone()
    assert row is not None
    return int(row[0])


def add_item(browser: WebDriver, name: str) -> None:
    form = browser.find_element(By.ID, "new-item")
    form.find_element(By.NAME, "name").send_keys(name)
    form.find_element(By.XPATH, ".//button[text()='Add']").click()


def test_an_admin_adds_an_item_and_a_reader_sees_it_but_cannot_write(
    spa: SpaStack, browser: WebDriver
) -> None:
    name = f"spa item {uuid.uuid4().hex[:8]}"
    browser.get(spa.site_url)
    sign_in(spa, browser, Role.ADMIN)

    add_item(browser, name)
    wait(browser).until(lambda driver: listed(driver, name))
    with psycopg.connect(spa.conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM items WHERE name = %s", (name,)).fetchone() == (
            1,
        )

    # Edit: a PUT with the version the page read, answered with the next version.
    (row,) = listed(browser, name)
    row.find_element(By.XPATH, ".//button[text()='Edit']").click()
    description = browser.find_element(By.CSS_SELECTOR, "form.edit input[name=description]")
    description.send_keys("edited in the browser")
    browser.find_element(By.XPATH, "//form[@class='edit']//button[text()='Save']").click()
    wait(browser).until(
        lambda driver: any("version 2" in each.text for each in listed(driver, name))
    )
    with psycopg.connect(spa.conninfo) as conn:
        assert conn.execute(
            "SELECT description, version FROM items WHERE name = %s", (name,)
        ).fetchone() == ("edited in the browser", 2)

    browser.find_element(By.ID, "sign-out").click()
    app_ready(spa, browser)
    assert browser.find_elements(By.ID, "sign-in")
    assert browser.execute_script("return sessionStorage.getItem('tokens')") is None

    sign_in(spa, browser, Role.READER)
    wait(browser).until(lambda driver: listed(driver, name))
    before = item_count(spa)
    add_item(browser, f"reader's {name}")
    wait(browser).until(lambda driver: ROLE_REFUSED in driver.find_element(By.ID, "status").text)
    assert item_count(spa) == before
    assert browser.find_element(By.ID, "status").get_attribute("data-kind") == "error"
