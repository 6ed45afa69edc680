"""The release record in SSM (``/<app>/<env>/release/<tier>``): what ``make rollback`` returns
to. Verifying the same release again changes nothing; ``previous`` moves only when ``current``
does."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from release.record import Record, parameter_name, read_record, record_release
from tests.preflight_helpers import REGION
from tests.preflight_helpers import fake_aws as fake_aws  # moto answers every call

NAME = parameter_name("three-tier", "prod", "web")
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TUESDAY = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(name="ssm")
def ssm_fixture() -> Any:
    return boto3.client("ssm", region_name=REGION)


def stored(ssm: Any) -> dict[str, object]:
    value = ssm.get_parameter(Name=NAME)["Parameter"]
    assert value["Type"] == "String"
    loaded: dict[str, object] = json.loads(value["Value"])
    return loaded


def test_the_parameter_name_is_per_app_environment_and_tier() -> None:
    assert NAME == "/three-tier/prod/release/web"
    assert parameter_name("shop", "dev", "api") == "/shop/dev/release/api"


def test_the_first_record_has_no_previous(ssm: Any) -> None:
    assert read_record(ssm, NAME) is None
    record_release(ssm, NAME, "image:a", MONDAY)
    assert stored(ssm) == {"current": "image:a", "previous": None, "at": MONDAY.isoformat()}


def test_recording_the_same_release_again_writes_nothing(ssm: Any) -> None:
    record_release(ssm, NAME, "image:a", MONDAY)
    version = ssm.get_parameter(Name=NAME)["Parameter"]["Version"]
    assert record_release(ssm, NAME, "image:a", TUESDAY) == Record(
        "image:a", None, MONDAY.isoformat()
    )
    assert ssm.get_parameter(Name=NAME)["Parameter"]["Version"] == version
    assert stored(ssm)["at"] == MONDAY.isoformat()


def test_previous_moves_only_when_current_changes(ssm: Any) -> None:
    record_release(ssm, NAME, "image:a", MONDAY)
    record_release(ssm, NAME, "image:b", TUESDAY)
    assert stored(ssm) == {"current": "image:b", "previous": "image:a", "at": TUESDAY.isoformat()}
    record_release(ssm, NAME, "image:b", TUESDAY)  # verify re-run: previous stays image:a
    assert stored(ssm)["previous"] == "image:a"
    record_release(ssm, NAME, "image:c", TUESDAY)
    assert stored(ssm) == {"current": "image:c", "previous": "image:b", "at": TUESDAY.isoformat()}


def test_a_parameter_that_is_not_a_record_reads_as_none(ssm: Any) -> None:
    ssm.put_parameter(Name=NAME, Value="hand-written", Type="String")
    assert read_record(ssm, NAME) is None
    record_release(ssm, NAME, "image:a", MONDAY)  # and is replaced by a record
    assert stored(ssm)["current"] == "image:a"
