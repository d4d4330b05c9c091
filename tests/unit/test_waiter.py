"""The one waiter: terminal states, backoff, timeout, state lines, failure reasons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from airctx.errors import ResourceError, ResourceFailed, WaitTimeout
from airctx.pipeline.waiter import Waiter

ARN = "arn:aws:personalize:us-east-1:000000000000:solution/s/abcd1234"


class FakeClock:
    """A clock that only moves when the waiter sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def script(*documents: Mapping[str, Any] | None) -> Any:
    """A describe answering ``documents`` in turn, then the last one forever."""
    answers = list(documents)
    calls = {"n": 0}

    def describe() -> Mapping[str, Any] | None:
        index = min(calls["n"], len(answers) - 1)
        calls["n"] += 1
        return answers[index]

    describe.calls = calls  # type: ignore[attr-defined]
    return describe


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def lines() -> list[tuple[str, str, str, float]]:
    return []


@pytest.fixture
def waiter(clock: FakeClock, lines: list[tuple[str, str, str, float]]) -> Waiter:
    return Waiter(
        poll_seconds=2,
        max_poll_seconds=5,
        sleep=clock.sleep,
        clock=clock,
        report=lambda *line: lines.append(line),
    )


def test_one_line_per_state_change_with_elapsed_time(
    waiter: Waiter, lines: list[tuple[str, str, str, float]]
) -> None:
    describe = script(
        {"status": "CREATE PENDING"},
        {"status": "CREATE PENDING"},
        {"status": "CREATE IN_PROGRESS"},
        {"status": "CREATE IN_PROGRESS"},
        {"status": "ACTIVE", "x": 1},
    )

    document = waiter.wait("solution_version", ARN, describe, timeout=600)

    assert document == {"status": "ACTIVE", "x": 1}
    assert lines == [
        ("solution_version", ARN, "CREATE PENDING", 0.0),
        ("solution_version", ARN, "CREATE IN_PROGRESS", 5.0),
        ("solution_version", ARN, "ACTIVE", 5.0 + 4.5 + 5.0),
    ]


def test_progress_changes_are_reported_with_the_state(
    waiter: Waiter, lines: list[tuple[str, str, str, float]]
) -> None:
    describe = script(
        {"status": "CREATE IN_PROGRESS"},
        {"status": "CREATE IN_PROGRESS"},
        {"status": "CREATE IN_PROGRESS"},
        {"status": "ACTIVE"},
    )
    notes = iter(["HPO trial 1/3", "HPO trial 1/3", "HPO trial 3/3", "done"])

    waiter.wait(
        "solution_version", ARN, describe, timeout=600, progress=lambda: next(notes)
    )

    assert [line[2] for line in lines] == [
        "CREATE IN_PROGRESS (HPO trial 1/3)",
        "CREATE IN_PROGRESS (HPO trial 3/3)",
        "ACTIVE",
    ]


def test_polling_backs_off_to_the_maximum(waiter: Waiter, clock: FakeClock) -> None:
    describe = script(*[{"status": "CREATE IN_PROGRESS"}] * 6, {"status": "ACTIVE"})

    waiter.wait("campaign", ARN, describe, timeout=600)

    assert clock.sleeps == [2, 3, 4.5, 5, 5, 5]


def test_create_failed_carries_the_reason_verbatim_and_the_arn(waiter: Waiter) -> None:
    reason = "Insufficient data: 12 users with at least 2 interactions; need 25."
    describe = script(
        {"status": "CREATE IN_PROGRESS"},
        {"status": "CREATE FAILED", "failureReason": reason},
    )

    with pytest.raises(ResourceFailed) as caught:
        waiter.wait("solution_version", ARN, describe, timeout=600)

    assert caught.value.reason == reason
    assert caught.value.arn == ARN
    assert str(caught.value) == f"{ARN} ended in CREATE FAILED: {reason}"


def test_timeout_names_the_resource_its_state_and_the_setting(
    waiter: Waiter, clock: FakeClock
) -> None:
    describe = script({"status": "CREATE IN_PROGRESS"})

    with pytest.raises(WaitTimeout) as caught:
        waiter.wait("dataset_import_job", ARN, describe, timeout=20)

    message = str(caught.value)
    assert ARN in message and "CREATE IN_PROGRESS" in message
    assert "waits.timeouts" in message and "airctx wait" in message
    # The last sleep is cut short so the timeout is not overshot.
    assert clock.now - 100.0 == pytest.approx(20)


def test_a_deletion_is_done_when_the_resource_is_gone(
    waiter: Waiter, lines: list[tuple[str, str, str, float]]
) -> None:
    describe = script(
        {"status": "DELETE PENDING"}, {"status": "DELETE IN_PROGRESS"}, None
    )

    assert (
        waiter.wait("campaign", ARN, describe, timeout=60, until=("DELETED",)) is None
    )
    assert [line[2] for line in lines] == [
        "DELETE PENDING",
        "DELETE IN_PROGRESS",
        "DELETED",
    ]


def test_a_resource_deleted_while_waiting_for_it_is_an_error(waiter: Waiter) -> None:
    describe = script({"status": "CREATE PENDING"}, None)

    with pytest.raises(ResourceError, match="no longer exists"):
        waiter.wait("campaign", ARN, describe, timeout=60)


def test_a_custom_status_reader_sees_campaign_updates(waiter: Waiter) -> None:
    from airctx.pipeline.deploy import campaign_status

    updating = {
        "status": "ACTIVE",
        "latestCampaignUpdate": {"status": "CREATE PENDING"},
    }
    failed = {
        "status": "ACTIVE",
        "latestCampaignUpdate": {
            "status": "CREATE FAILED",
            "failureReason": "model cannot be loaded",
        },
    }
    describe = script(updating, failed)

    with pytest.raises(ResourceFailed, match="CREATE FAILED") as caught:
        waiter.wait("campaign", ARN, describe, timeout=60, status_of=campaign_status)
    assert caught.value.reason == "model cannot be loaded"


def test_timeouts_are_per_resource_type() -> None:
    from airctx.config import WaitSettings

    waits = WaitSettings(timeouts={"solution_version": 7200, "campaign": 60})

    assert waits.timeout_for("solution_version") == 7200
    assert waits.timeout_for("campaign") == 60
    assert waits.timeout_for("filter") == 3600


@pytest.mark.parametrize(
    ("timeout", "shown"),
    [(0.5, "after 0.5s (the timeout for campaign is 0.5s)"), (20, "after 20s")],
    ids=["fraction", "whole"],
)
def test_a_timeout_message_shows_fractions_of_a_second(
    waiter: Waiter, timeout: float, shown: str
) -> None:
    describe = script({"status": "CREATE IN_PROGRESS"})

    with pytest.raises(WaitTimeout) as caught:
        waiter.wait("campaign", ARN, describe, timeout=timeout)

    assert shown in str(caught.value)
