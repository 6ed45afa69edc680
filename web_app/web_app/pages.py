"""The app's HTML: the items page and its error pages, all escaped, all with the viewport meta
tag and the one small stylesheet (inlined: no extra request, nothing to serve)."""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.responses import HTMLResponse

from web_app.api_client import ApiRejectedError, ApiUnavailableError

logger = logging.getLogger("web_app")
STYLESHEET = Path(__file__).with_name("style.css").read_text()


@dataclass(frozen=True)
class FormField:
    """An input of the add form, named as the API names the field."""

    name: str
    label: str
    maxlength: int
    required: bool = False

    def render(self, error: str | None) -> str:
        """The labelled input; marked invalid, with the API's reason, when it was refused."""
        attributes = f'name="{self.name}" maxlength="{self.maxlength}"'
        attributes += " required" if self.required else ""
        if error is None:
            return f"  <label>{self.label} <input {attributes}></label>"
        return (
            f'  <label>{self.label} <input {attributes} aria-invalid="true"'
            f' aria-describedby="{self.name}-error"><span class="field-error"'
            f' id="{self.name}-error">{html.escape(error)}</span></label>'
        )


FORM_FIELDS = (
    FormField("name", "Name", 200, required=True),
    FormField("description", "Description", 2000),
)


def document(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{STYLESHEET}</style></head>
<body>
{body}
</body></html>"""


def page(
    items: list[dict[str, Any]],
    csrf: str,
    flash: str,
    field_errors: Mapping[str, str] | None = None,
) -> str:
    """The items list and the add form; a field the API refused is marked and says why."""
    escape = html.escape
    rows = "\n".join(
        f"<li data-item-id='{escape(item['id'])}'><strong>{escape(item['name'])}</strong>"
        f" {escape(item.get('description') or '')}"
        f"<form method='post' action='/items/{escape(item['id'])}/delete'>"
        f"<input type='hidden' name='csrf' value='{escape(csrf)}'>"
        f"<button type='submit' aria-label='Delete {escape(item['name'])}'>Delete</button>"
        "</form></li>"
        for item in items
    )
    notice = f"<p role='status'>{escape(flash)}</p>" if flash else ""
    errors = field_errors or {}
    fields = "\n".join(field.render(errors.get(field.name)) for field in FORM_FIELDS)
    return document(
        "Items",
        f"""<h1>Items</h1>
{notice}
<form class="add" method="post" action="/items">
  <input type="hidden" name="csrf" value="{escape(csrf)}">
{fields}
  <button type="submit">Add</button>
</form>
<ul id="items">
{rows or "<li id='empty'>No items yet.</li>"}
</ul>""",
    )


def error_page(error: ApiUnavailableError | ApiRejectedError) -> HTMLResponse:
    """A clear page, never a stack trace: what went wrong, not how."""
    logger.warning("API call failed: %s", error)
    if isinstance(error, ApiRejectedError):
        status, text = 502, f"The items service refused the request ({error.status})."
    else:
        status, text = 503, "The items service is not reachable right now. Try again shortly."
    return HTMLResponse(
        document("Unavailable", f"<h1>Sorry</h1><p role='alert'>{html.escape(text)}</p>"),
        status_code=status,
    )


def csrf_page() -> HTMLResponse:
    return HTMLResponse(
        document(
            "Expired form",
            "<h1>Expired form</h1>"
            "<p role='alert'>The form expired; <a href='/'>reload the page</a> and retry.</p>",
        ),
        status_code=403,
    )
