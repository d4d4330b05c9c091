"""status, metrics, teardown, wait and recommend --compare on a deployed project."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from airctx.config import load_settings
from airctx.errors import ContextError, ResourceError, ResourceFailed, WaitTimeout
from airctx.pipeline import pending as pending_module
from airctx.pipeline.deploy import deploy
from airctx.pipeline.imports import import_data
from airctx.pipeline.query import Comparison, compare
from airctx.pipeline.status import metrics, status
from airctx.pipeline.teardown import ORDER, plan, teardown
from airctx.pipeline.train import latest_version, train
from airctx.pipeline.waiter import Waiter
from tests.unit.test_pipeline_steps import Harness, write_project


def deploy_in(root: Path) -> Harness:
    h = Harness(load_settings(write_project(root)))
    import_data(h.project)
    train(h.project)
    deploy(h.project)
    return h


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Harness]:
    """A deployed project of its own, for tests that change or delete things."""
    h = deploy_in(tmp_path)
    yield h
    h.engine.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """A deployed project that tests only read."""
    h = deploy_in(tmp_path_factory.mktemp("shared"))
    yield h
    h.engine.close()


def test_status_marks_what_costs_money_idle(shared: Harness) -> None:
    rows = {r["type"]: r for r in status(shared.project)}

    assert rows["campaign"]["cost"] == "minProvisionedTPS 1 (billed per hour on AWS)"
    assert "cost" not in rows["solution"]
    assert "cost" not in rows["event-tracker"]


def test_status_marks_auto_training_solutions(deployed: Harness) -> None:
    group = deployed.project.dataset_group_arn()
    deployed.project.call(
        "CreateSolution",
        name="weekly",
        datasetGroupArn=group,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
        performAutoTraining=True,
    )

    rows = {r["name"]: r for r in status(deployed.project)}

    assert rows["weekly"]["cost"].startswith("auto-training")


def fail(harness: Harness, arn: str, reason: str) -> None:
    """Put a resource in CREATE FAILED, as the engine does when its job fails."""
    store = harness.engine.store
    resource = store.get(arn)
    assert resource is not None
    body = dict(resource.body, status="CREATE FAILED", failureReason=reason)
    with store.transaction() as db:
        store.update(db, arn, status="CREATE FAILED", body=body, now=0.0)


def test_status_gives_the_failure_reason_of_a_failed_resource(
    deployed: Harness,
) -> None:
    version = next(
        r for r in status(deployed.project) if r["type"] == "solution-version"
    )
    fail(deployed, version["arn"], "Too few interactions for training")

    rows = {r["type"]: r for r in status(deployed.project)}

    failed = rows["solution-version"]
    assert failed["status"] == "CREATE FAILED"
    assert failed["failureReason"] == "Too few interactions for training"
    assert failed["detail"] == "Too few interactions for training"
    assert "failureReason" not in rows["campaign"]
    assert "failureReason" not in rows["dataset-group"]


def test_a_failed_only_version_is_named_with_its_reason(deployed: Harness) -> None:
    version = next(
        r for r in status(deployed.project) if r["type"] == "solution-version"
    )
    fail(deployed, version["arn"], "Too few interactions for training")

    with pytest.raises(ResourceError) as caught:
        latest_version(deployed.project)

    message = str(caught.value)
    assert f"the newest, {version['arn']}, failed" in message
    assert "(Too few interactions for training)" in message
    assert "airctx wait" not in message


def test_metrics_are_the_newest_versions(shared: Harness) -> None:
    trained = train(shared.project)

    result = metrics(shared.project)

    assert result["solutionVersionArn"] == trained.solution_version_arn
    assert result["metrics"] == trained.metrics
    assert "normalized_discounted_cumulative_gain_at_10" in result["metrics"]
    # The local engine scores the popularity baseline on the same held-out users.
    assert set(result["baseline"]) == set(result["metrics"])


def test_teardown_deletes_in_dependency_order_and_is_repeatable(
    deployed: Harness,
) -> None:
    steps = plan(deployed.project)
    kinds = [s.type for s in steps]
    assert kinds == sorted(kinds, key=ORDER.index)
    assert kinds[0] == "campaign" and kinds[-1] == "dataset-group"

    done = teardown(deployed.project, steps)

    assert [s.arn for s in done] == [s.arn for s in steps]
    assert deployed.counts() == dict.fromkeys(deployed.counts(), 0)
    assert plan(deployed.project) == []
    deletes = [name for name, _p in deployed.requests if name.startswith("Delete")]
    assert deletes.index("DeleteCampaign") < deletes.index("DeleteSolution")
    assert deletes.index("DeleteDataset") < deletes.index("DeleteDatasetGroup")


def test_teardown_treats_already_deleted_resources_as_done(deployed: Harness) -> None:
    steps = plan(deployed.project)
    tracker = next(s for s in steps if s.type == "event-tracker")
    deployed.project.call("DeleteEventTracker", eventTrackerArn=tracker.arn)
    deployed.project.wait_for(
        "event_tracker",
        tracker.arn,
        "DescribeEventTracker",
        "eventTracker",
        "eventTrackerArn",
        until=("DELETED",),
    )

    done = teardown(deployed.project, steps)

    assert tracker in done
    assert f"event-tracker {tracker.arn} was already deleted" in deployed.reports


def test_compare_lists_every_value_of_the_context_field(shared: Harness) -> None:
    known = shared.project.settings.context_values_path
    known.write_text('{"CABIN_TYPE": ["Business Class", "Economy", "First Class"]}')
    reported = len(shared.reports)

    result = compare(shared.project, "u1", "CABIN_TYPE", None, {}, 5)

    # Every compared value is a known one: no warning about unseen values.
    assert not [r for r in shared.reports[reported:] if r.startswith("warning")]
    # Values come from the prepared CSV, most common first (all three are equal
    # here, so only the set is checked).
    assert set(result.lists) == {"Economy", "Business Class", "First Class"}
    assert all(len(items) == 5 for items in result.lists.values())
    # JSON output carries each item's score, as recommend's does.
    first = result.as_dict()["lists"]["Economy"][0]
    assert first["score"] == result.scores["Economy"][0]
    assert len({tuple(items) for items in result.lists.values()}) > 1


def test_rank_on_a_campaign_of_another_recipe_names_its_recipe(
    shared: Harness,
) -> None:
    # The configuration cannot tell (the CLI checks it first): the service refuses
    # the call, and the campaign's own recipe explains why.
    from airctx.pipeline.query import rank

    with pytest.raises(ResourceError) as caught:
        rank(shared.project, "u1", ["item1", "item2"], {})

    said = str(caught.value)
    assert (
        "`rank` needs a campaign of a personalized-ranking recipe "
        "(aws-personalized-ranking, aws-personalized-ranking-v2), and the recipe of "
        "campaign synth-campaign (arn:aws:personalize:us-east-1:000000000000:"
        "campaign/synth-campaign) is 'aws-user-personalization', which recommends "
        "for a user"
    ) in said
    assert "rank --user u1 --items item1,item2`" in said
    assert "the request was rejected as invalid" not in said


def test_compare_checks_the_field_and_the_context(shared: Harness) -> None:
    with pytest.raises(ContextError, match="SEAT"):
        compare(shared.project, "u1", "SEAT", ["1A"], {}, 5)
    with pytest.raises(ContextError, match="contradict"):
        compare(
            shared.project,
            "u1",
            "CABIN_TYPE",
            ["Economy"],
            {"CABIN_TYPE": "Economy"},
            5,
        )


def test_comparison_marks_moves_against_the_first_value() -> None:
    table = Comparison(
        "u1",
        "CABIN_TYPE",
        {
            "Economy": ["a", "b", "c"],
            "First Class": ["c", "b", "d"],
        },
    )

    assert table.marks("Economy") == ["", "", ""]
    assert table.marks("First Class") == ["↑2", "=", "new"]
    headers, rows = table.table()
    assert headers == ["rank", "Economy", "First Class"]
    assert rows == [["1", "a", "c ↑2"], ["2", "b", "b ="], ["3", "c", "d new"]]
    assert table.as_dict()["lists"]["First Class"][2] == {"itemId": "d", "moved": "new"}


# -- wait ---


class FakeProject:
    """Just what wait_pending uses: settings, a waiter, describe."""

    def __init__(self, settings: Any, documents: Mapping[str, list[Any]]) -> None:
        self.settings = settings
        self.documents = {arn: list(docs) for arn, docs in documents.items()}
        self.waiter = Waiter(poll_seconds=1, sleep=lambda _s: None)

    def describe(self, operation: str, key: str, arn_field: str, arn: str) -> Any:
        docs = self.documents[arn]
        return docs.pop(0) if len(docs) > 1 else docs[0]


def rows(*items: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [{"type": t, "name": a, "status": s, "arn": a} for t, a, s in items]


def test_wait_waits_for_everything_in_flight(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings(write_project(tmp_path))
    project = FakeProject(
        settings,
        {
            "sv": [{"status": "CREATE IN_PROGRESS"}, {"status": "ACTIVE"}],
            "job": [{"status": "ACTIVE"}],
            "camp": [
                {
                    "status": "ACTIVE",
                    "latestCampaignUpdate": {"status": "CREATE PENDING"},
                },
                {"status": "ACTIVE", "latestCampaignUpdate": {"status": "ACTIVE"}},
            ],
            "tracker": [{"status": "DELETE IN_PROGRESS"}, None],
        },
    )
    monkeypatch.setattr(
        pending_module,
        "status",
        lambda _p: rows(
            ("solution-version", "sv", "CREATE IN_PROGRESS"),
            ("import-job", "job", "ACTIVE"),
            ("campaign", "camp", "ACTIVE"),
            ("event-tracker", "tracker", "DELETE IN_PROGRESS"),
            ("schema", "s", "-"),
        ),
    )

    done = pending_module.wait_pending(project)  # type: ignore[arg-type]

    assert [(r["arn"], r["status"]) for r in done] == [
        ("sv", "ACTIVE"),
        ("camp", "ACTIVE"),
        ("tracker", "DELETED"),
    ]


def test_wait_reports_a_failure_with_the_services_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings(write_project(tmp_path))
    project = FakeProject(
        settings,
        {
            "job": [
                {"status": "CREATE IN_PROGRESS"},
                {
                    "status": "CREATE FAILED",
                    "failureReason": "Column CABIN_TYPE is missing",
                },
            ]
        },
    )
    monkeypatch.setattr(
        pending_module,
        "status",
        lambda _p: rows(("import-job", "job", "CREATE IN_PROGRESS")),
    )

    with pytest.raises(
        ResourceFailed, match="job ended in CREATE FAILED: Column CABIN"
    ):
        pending_module.wait_pending(project)  # type: ignore[arg-type]


def test_a_timeout_given_to_wait_replaces_the_configured_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings(write_project(tmp_path))
    project = FakeProject(settings, {"sv": [{"status": "CREATE IN_PROGRESS"}]})
    ticks = iter(range(0, 10_000, 10))
    project.waiter.clock = lambda: float(next(ticks))
    monkeypatch.setattr(
        pending_module,
        "status",
        lambda _p: rows(("solution-version", "sv", "CREATE IN_PROGRESS")),
    )

    with pytest.raises(
        WaitTimeout, match=r"still CREATE IN_PROGRESS after 30s"
    ) as info:
        pending_module.wait_pending(project, timeout=25)  # type: ignore[arg-type]

    assert "the timeout for solution_version is 25s" in str(info.value)
    assert "--timeout SECONDS" in str(info.value)


@pytest.mark.parametrize(
    ("given", "expected"), [([], None), (["--timeout", "90"], 90.0)], ids=["", "90"]
)
def test_wait_passes_its_timeout_on(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    given: list[str],
    expected: float | None,
) -> None:
    from click.testing import CliRunner

    from airctx.cli.main import cli

    seen: list[float | None] = []
    monkeypatch.setattr(
        pending_module,
        "wait_pending",
        lambda _p, timeout=None: seen.append(timeout) or [],
    )
    args = ["--config", str(write_project(tmp_path)), "wait", *given]

    result = CliRunner().invoke(cli, args)

    assert result.exit_code == 0, result.output
    assert seen == [expected]


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_wait_timeout_that_is_not_a_positive_number_is_a_usage_error(
    tmp_path: Path, value: str
) -> None:
    from click.testing import CliRunner

    from airctx.cli.main import cli

    args = ["--config", str(write_project(tmp_path)), "wait", "--timeout", value]

    result = CliRunner().invoke(cli, args)

    assert result.exit_code == 2
    assert "--timeout" in result.output


def test_no_wait_skips_only_the_long_jobs(deployed: Harness) -> None:
    waited: list[str] = []
    deployed.project.wait = False
    deployed.project.waiter.wait = (  # type: ignore[method-assign]
        lambda kind, *a, **k: waited.append(kind)
    )

    result = train(deployed.project, retrain=True)

    assert "solution" in waited and "solution_version" not in waited
    # Let the training thread finish before the engine is closed.
    Waiter(poll_seconds=0.02).wait(
        "solution_version",
        result.solution_version_arn,
        lambda: deployed.project.describe(
            "DescribeSolutionVersion",
            "solutionVersion",
            "solutionVersionArn",
            result.solution_version_arn,
        ),
        timeout=60,
    )
