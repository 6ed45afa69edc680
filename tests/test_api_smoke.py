"""The read/write smoke (devkit/smoke.py) passes against this code. migration_check runs the same
smoke against the release still serving, so a smoke that no longer fits the API fails here
first, not as a false alarm on someone's pull request."""

from __future__ import annotations

import pytest

from devkit.smoke import handler_sender, run_smoke
from tests.test_api_harness import Api, handler
from tests.test_api_harness import api as api  # the fixture, re-exported (see devkit.fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def test_the_smoke_passes_against_this_code_as_app_api(api: Api) -> None:
    calls = run_smoke(handler_sender(handler.lambda_handler))

    # health, create, read, list, update, stale update, delete, read after delete
    assert calls == 8
    assert api.rows() == []  # what it created, it deleted again
    assert api.rds.tokens == 1  # it signed in once, with an IAM token, as app_api
    assert len(api.api_backends()) == 1
