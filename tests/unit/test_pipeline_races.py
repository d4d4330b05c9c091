"""Two runs of one project at the same moment (two CI jobs, three `airctx run`).

Each test lets "another run" make the very request this run is about to make, just
before it, and holds the engine's jobs until the waiter sleeps: what the other run
started is still in flight when this run looks at it, every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airctx.config import load_settings
from airctx.errors import ResourceError
from airctx.pipeline.deploy import deploy
from airctx.pipeline.imports import import_data
from airctx.pipeline.project import Project
from airctx.pipeline.train import train
from tests.unit.test_pipeline_steps import Harness, write_project


class HeldJobs:
    """Engine jobs wait until the waiter's next sleep, then run to their end."""

    def __init__(self, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
        self.harness = harness
        self.held: list[str] = []
        monkeypatch.setattr(harness.engine.control, "submit", self.hold)
        harness.project.waiter.sleep = self.release

    def hold(self, arn: str, _action: str) -> None:
        self.held.append(arn)

    def release(self, _seconds: float = 0.0) -> None:
        while self.held:
            self.harness.engine.executor.run(self.held.pop(0))


def another_run_first(
    monkeypatch: pytest.MonkeyPatch, operation: str, **other: Any
) -> list[dict[str, Any]]:
    """The first time this run calls ``operation``, another run makes the same call
    (with ``other`` in place of some parameters) just before it."""
    real_call = Project.call
    made: list[dict[str, Any]] = []

    def call(self: Project, op: str, resource: str | None = None, **params: Any) -> Any:
        if op == operation and not made:
            made.append({**params, **other})
            real_call(self, op, resource, **made[0])
        return real_call(self, op, resource, **params)

    monkeypatch.setattr(Project, "call", call)
    return made


def campaign(harness: Harness) -> dict[str, Any]:
    arn = harness.engine.store.list("campaign")[0].arn
    found: dict[str, Any] = harness.clients.personalize.describe_campaign(
        campaignArn=arn
    )["campaign"]
    return found


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(load_settings(write_project(tmp_path)))
    yield h
    h.engine.close()


@pytest.fixture
def retrained(harness: Harness) -> Harness:
    """A campaign on the first version, and a second version it does not serve."""
    import_data(harness.project)
    train(harness.project)
    deploy(harness.project)
    train(harness.project, retrain=True)
    return harness


def newest_version(harness: Harness) -> str:
    versions = harness.engine.store.list("solution-version")
    return max(versions, key=lambda v: v.body["creationDateTime"]).arn


# -- deploy ---


def test_deploy_adopts_an_update_to_the_same_version_already_under_way(
    retrained: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = HeldJobs(retrained, monkeypatch)
    wanted = newest_version(retrained)
    retrained.clients.personalize.update_campaign(
        campaignArn=campaign(retrained)["campaignArn"], solutionVersionArn=wanted
    )
    assert campaign(retrained)["latestCampaignUpdate"]["status"] == "UPDATE PENDING"
    before = len(retrained.calls("UpdateCampaign"))

    result = deploy(retrained.project)

    assert not jobs.held
    assert len(retrained.calls("UpdateCampaign")) == before
    assert result.changed is False
    assert campaign(retrained)["solutionVersionArn"] == wanted
    name = retrained.project.settings.campaign_name
    assert f"campaign {name}: an update to {wanted} is under way" in retrained.reports


def test_deploy_waits_for_another_update_then_makes_its_own(
    retrained: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other run deploys the older version with another TPS (its configuration).
    jobs = HeldJobs(retrained, monkeypatch)
    older = campaign(retrained)["solutionVersionArn"]
    retrained.clients.personalize.update_campaign(
        campaignArn=campaign(retrained)["campaignArn"],
        solutionVersionArn=older,
        minProvisionedTPS=2,
    )

    result = deploy(retrained.project)

    assert not jobs.held
    assert result.changed is True
    served = campaign(retrained)
    assert served["solutionVersionArn"] == newest_version(retrained)
    assert served["minProvisionedTPS"] == 1
    name = retrained.project.settings.campaign_name
    assert (
        f"campaign {name}: another run is deploying {older}; waiting for it to finish"
        in retrained.reports
    )


def test_deploy_that_loses_the_update_race_adopts_the_winners_update(
    retrained: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both runs saw the campaign on the old version; the other one updated first,
    # so the engine answers this run's UpdateCampaign with ResourceInUseException.
    jobs = HeldJobs(retrained, monkeypatch)
    made = another_run_first(monkeypatch, "UpdateCampaign")

    result = deploy(retrained.project)

    assert len(made) == 1
    assert not jobs.held
    assert len(retrained.calls("UpdateCampaign")) == 2  # the other's and the refused
    assert result.changed is False
    assert campaign(retrained)["solutionVersionArn"] == newest_version(retrained)
    assert any("is under way" in line for line in retrained.reports)


def test_deploy_without_waiting_refuses_while_another_update_is_under_way(
    retrained: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    HeldJobs(retrained, monkeypatch)
    older = campaign(retrained)["solutionVersionArn"]
    retrained.clients.personalize.update_campaign(
        campaignArn=campaign(retrained)["campaignArn"], minProvisionedTPS=2
    )
    retrained.project.wait = False

    with pytest.raises(ResourceError) as caught:
        deploy(retrained.project)

    message = str(caught.value)
    assert f"is being deployed with {older} by another run" in message
    assert "run `airctx wait`, then `airctx deploy` again" in message


def test_deploy_updates_a_campaign_whose_exploration_settings_changed(
    retrained: Harness, tmp_path: Path
) -> None:
    deploy(retrained.project)
    assert deploy(retrained.project).changed is False
    config = write_project(tmp_path, "campaign:\n  exploration_weight: 0.5\n")
    project = retrained.bind(load_settings(config))

    result = deploy(project)

    assert result.changed is True
    exploration = campaign(retrained)["campaignConfig"]["itemExplorationConfig"]
    assert float(exploration["explorationWeight"]) == 0.5
    assert deploy(project).changed is False


def test_deploy_adopts_the_event_tracker_another_run_created(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_data(harness.project)
    train(harness.project)
    made = another_run_first(monkeypatch, "CreateEventTracker")

    result = deploy(harness.project)

    assert len(made) == 1
    assert harness.counts()["event-tracker"] == 1
    assert result.event_tracker_arn == harness.engine.store.list("event-tracker")[0].arn


# -- train and import ---


def test_train_adopts_the_version_another_run_started_a_moment_earlier(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_data(harness.project)
    jobs = HeldJobs(harness, monkeypatch)
    made = another_run_first(monkeypatch, "CreateSolutionVersion")

    result = train(harness.project)

    assert len(made) == 1
    assert not jobs.held
    assert harness.counts()["solution-version"] == 1
    assert result.solution_version_arn == newest_version(harness)
    assert result.reused is True
    assert any("training already under way" in line for line in harness.reports)


def test_import_adopts_the_job_another_run_started_a_moment_earlier(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The job is named after the file's content, so the other run's has our name;
    # while it runs the engine refuses a second import into the dataset.
    jobs = HeldJobs(harness, monkeypatch)
    made = another_run_first(monkeypatch, "CreateDatasetImportJob")

    result = import_data(harness.project)

    assert len(made) == 1
    assert not jobs.held
    assert harness.counts()["dataset-import-job"] == 2
    assert set(result.jobs) == {"INTERACTIONS", "USERS"}
    assert any("already under way" in line for line in harness.reports)
