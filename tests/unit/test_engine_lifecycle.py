"""Lifecycles of the engine's asynchronous resources, and how their jobs fail."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from airctx.engine.core import LocalEngine
from tests.unit import test_engine_fixture as fx
from tests.unit.test_engine_fixture import (
    INTERACTIONS_SCHEMA,
    Group,
    clients,
    import_file,
    write_interactions,
)

engine = fx.engine
dsg = fx.dsg

RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization"


class Recorder:
    """Remembers every status the store records, per ARN, in order."""

    def __init__(self, engine: LocalEngine) -> None:
        self.seen: dict[str, list[str]] = defaultdict(list)
        store = engine.store
        insert, update = store.insert, store.update

        def record(arn: str, status: str | None) -> None:
            if status and (not self.seen[arn] or self.seen[arn][-1] != status):
                self.seen[arn].append(status)

        def on_insert(db: Any, **kw: Any) -> None:
            insert(db, **kw)
            record(kw["arn"], kw["status"])

        def on_update(db: Any, arn: str, **kw: Any) -> None:
            update(db, arn, **kw)
            record(arn, store.get(arn, db=db).status if store.get(arn, db=db) else None)

        store.insert = on_insert  # type: ignore[method-assign]
        store.update = on_update  # type: ignore[method-assign]


CREATED = ["CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"]


def test_every_async_resource_goes_pending_in_progress_active(
    tmp_path: Path, engine: LocalEngine
) -> None:
    from tests.unit.test_engine_fixture import build_group

    seen = Recorder(engine).seen
    group = build_group(tmp_path, engine)
    solution, version = group.train()
    campaign = group.campaign(version)
    tracker = group.pz.create_event_tracker(name="t", datasetGroupArn=group.group)
    flt = group.pz.create_filter(
        name="f",
        datasetGroupArn=group.group,
        filterExpression='EXCLUDE ItemID WHERE Items.GENRE IN ("x")',
    )
    group.wait()
    jobs = group.pz.list_dataset_import_jobs(datasetArn=group.interactions)
    for arn in (
        group.group,
        group.interactions,
        solution,
        version,
        campaign,
        tracker["eventTrackerArn"],
        flt["filterArn"],
        jobs["datasetImportJobs"][0]["datasetImportJobArn"],
    ):
        assert seen[arn] == CREATED, arn


def test_delete_goes_pending_then_the_resource_is_gone(dsg: Group) -> None:
    seen = Recorder(dsg.engine).seen
    tracker = dsg.pz.create_event_tracker(name="t", datasetGroupArn=dsg.group)
    dsg.wait()
    arn = tracker["eventTrackerArn"]
    dsg.pz.delete_event_tracker(eventTrackerArn=arn)
    dsg.wait()
    assert seen[arn][-2:] == ["DELETE PENDING", "DELETE IN_PROGRESS"]
    with pytest.raises(dsg.pz.exceptions.ResourceNotFoundException):
        dsg.pz.describe_event_tracker(eventTrackerArn=arn)
    assert dsg.pz.list_event_trackers(datasetGroupArn=dsg.group)["eventTrackers"] == []


def test_stopping_a_pending_version_ends_stopped(dsg: Group) -> None:
    solution = dsg.pz.create_solution(
        name="s", datasetGroupArn=dsg.group, recipeArn=RECIPE, performAutoTraining=False
    )["solutionArn"]
    dsg.wait()
    queued: list[str] = []
    submit = dsg.engine.control.submit
    dsg.engine.control.submit = lambda arn, action: queued.append(arn)
    version = dsg.pz.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    dsg.pz.stop_solution_version_creation(solutionVersionArn=version)
    described = dsg.pz.describe_solution_version(solutionVersionArn=version)
    assert described["solutionVersion"]["status"] == "CREATE STOPPING"
    submit(version, "create")
    dsg.wait()
    described = dsg.pz.describe_solution_version(solutionVersionArn=version)
    assert described["solutionVersion"]["status"] == "CREATE STOPPED"
    # A stopped version is not a model: no campaign can serve it.
    with pytest.raises(dsg.pz.exceptions.InvalidInputException, match="CREATE STOPPED"):
        dsg.pz.create_campaign(name="c", solutionVersionArn=version)


def test_stopping_during_training_ends_stopped(
    dsg: Group, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airctx.engine import training

    def train(recipe: str, data: Any, *, progress: Any, **_: Any) -> Any:
        version = dsg.pz.list_solution_versions()["solutionVersions"][0]
        assert version["status"] == "CREATE IN_PROGRESS"
        dsg.pz.stop_solution_version_creation(
            solutionVersionArn=version["solutionVersionArn"]
        )
        progress("epoch", {"loss": 1.0})
        raise AssertionError("training went on after it was stopped")

    monkeypatch.setattr(training, "train", train)
    _, version = dsg.train()
    described = dsg.pz.describe_solution_version(solutionVersionArn=version)
    assert described["solutionVersion"]["status"] == "CREATE STOPPED"


def test_training_below_the_minimums_fails_with_a_reason(dsg: Group) -> None:
    _, version = dsg.train(solutionConfig={"eventValueThreshold": "10"})
    described = dsg.pz.describe_solution_version(solutionVersionArn=version)[
        "solutionVersion"
    ]
    assert described["status"] == "CREATE FAILED"
    assert "training needs at least 1000" in described["failureReason"]
    assert "eventValueThreshold" in described["failureReason"]


def test_an_import_that_breaks_the_schema_fails_naming_line_and_column(
    dsg: Group, tmp_path: Path
) -> None:
    path = write_interactions(tmp_path / "bad.csv")
    lines = path.read_text().splitlines()
    cells = lines[7].split(",")
    cells[2] = "yesterday"
    lines[7] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    job = import_file(
        dsg.pz, dsg.engine, dsg.interactions, "bad", path, mode="INCREMENTAL"
    )
    described = dsg.pz.describe_dataset_import_job(datasetImportJobArn=job)[
        "datasetImportJob"
    ]
    assert described["status"] == "CREATE FAILED"
    assert described["failureReason"] == (
        f"{path} line 8: column TIMESTAMP must be a whole number (long), "
        "found 'yesterday'"
    )


def test_an_import_with_columns_out_of_order_fails(dsg: Group, tmp_path: Path) -> None:
    path = tmp_path / "swapped.csv"
    path.write_text("ITEM_ID,USER_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,CABIN_TYPE\n")
    job = import_file(dsg.pz, dsg.engine, dsg.interactions, "swapped", path)
    reason = dsg.pz.describe_dataset_import_job(datasetImportJobArn=job)[
        "datasetImportJob"
    ]["failureReason"]
    assert "schema's order is USER_ID,ITEM_ID" in reason


def test_an_import_of_a_missing_file_fails(dsg: Group, tmp_path: Path) -> None:
    job = import_file(
        dsg.pz, dsg.engine, dsg.interactions, "missing", tmp_path / "nothing.csv"
    )
    reason = dsg.pz.describe_dataset_import_job(datasetImportJobArn=job)[
        "datasetImportJob"
    ]["failureReason"]
    assert "nothing.csv does not exist" in reason


def test_update_campaign_records_the_update_then_applies_it(dsg: Group) -> None:
    solution, first = dsg.train()
    campaign = dsg.campaign(first)
    second = dsg.pz.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    dsg.wait()
    dsg.pz.update_campaign(
        campaignArn=campaign, solutionVersionArn=second, minProvisionedTPS=3
    )
    dsg.wait()
    described = dsg.pz.describe_campaign(campaignArn=campaign)["campaign"]
    assert described["status"] == "ACTIVE"
    assert described["solutionVersionArn"] == second
    assert described["minProvisionedTPS"] == 3
    update = described["latestCampaignUpdate"]
    assert update["status"] == "ACTIVE"
    assert update["solutionVersionArn"] == second


def test_a_failed_campaign_update_leaves_the_campaign_serving(dsg: Group) -> None:
    solution, first = dsg.train()
    campaign = dsg.campaign(first)
    second = dsg.pz.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    dsg.wait()
    model_dir = Path(dsg.engine.store.get(second).body["_modelDir"])  # type: ignore[union-attr]
    for item in model_dir.iterdir():
        item.unlink()
    dsg.pz.update_campaign(campaignArn=campaign, solutionVersionArn=second)
    dsg.wait()
    described = dsg.pz.describe_campaign(campaignArn=campaign)["campaign"]
    assert described["status"] == "ACTIVE"
    assert described["solutionVersionArn"] == first
    assert described["latestCampaignUpdate"]["status"] == "UPDATE FAILED"
    assert "cannot be loaded" in described["latestCampaignUpdate"]["failureReason"]
    answer = dsg.rt.get_recommendations(
        campaignArn=campaign, userId="u01", numResults=3
    )
    assert len(answer["itemList"]) == 3


def test_training_mode_update_refreshes_with_the_full_versions_settings(
    dsg: Group, tmp_path: Path
) -> None:
    solution, full = dsg.train()
    with pytest.raises(dsg.pz.exceptions.InvalidInputException, match="FULL"):
        dsg.pz.create_solution_version(solutionArn=solution, trainingMode="AUTOTRAIN")

    # New items arrive after the FULL training: only an UPDATE version knows them.
    fresh = tmp_path / "fresh.csv"
    rows = [",".join(INTERACTIONS_HEADER)]
    rows += [f"u{u:02d},new-item,1800000000,click,5,Economy" for u in range(30)]
    fresh.write_text("\n".join(rows) + "\n")
    import_file(
        dsg.pz, dsg.engine, dsg.interactions, "fresh", fresh, mode="INCREMENTAL"
    )
    update = dsg.pz.create_solution_version(
        solutionArn=solution, trainingMode="UPDATE"
    )["solutionVersionArn"]
    dsg.wait()
    described = dsg.pz.describe_solution_version(solutionVersionArn=update)[
        "solutionVersion"
    ]
    assert described["status"] == "ACTIVE", described.get("failureReason")
    assert described["trainingMode"] == "UPDATE"
    assert described["performIncrementalUpdate"] is True

    store = dsg.engine.store
    full_body = store.get(full).body  # type: ignore[union-attr]
    update_body = store.get(update).body  # type: ignore[union-attr]
    assert update_body["_hyperparameters"] == full_body["_hyperparameters"]
    assert update_body["_updatedFrom"] == full
    assert (
        dsg.pz.get_solution_metrics(solutionVersionArn=update)["metrics"]
        == dsg.pz.get_solution_metrics(solutionVersionArn=full)["metrics"]
    )

    def knows_new_item(version: str, name: str) -> bool:
        campaign = dsg.campaign(version, name)
        ranked = dsg.rt.get_recommendations(
            campaignArn=campaign, userId="u40", numResults=25
        )["itemList"]
        return "new-item" in {r["itemId"] for r in ranked}

    assert not knows_new_item(full, "c-full")
    assert knows_new_item(update, "c-update")


INTERACTIONS_HEADER = [f["name"] for f in INTERACTIONS_SCHEMA["fields"]]  # type: ignore[index]


def test_training_mode_update_needs_a_full_version_and_the_right_recipe(
    dsg: Group,
) -> None:
    solution = dsg.pz.create_solution(
        name="s", datasetGroupArn=dsg.group, recipeArn=RECIPE, performAutoTraining=False
    )["solutionArn"]
    dsg.wait()
    with pytest.raises(dsg.pz.exceptions.InvalidInputException, match="has none"):
        dsg.pz.create_solution_version(solutionArn=solution, trainingMode="UPDATE")
    popular, _ = dsg.train("pop", "aws-popularity-count")
    with pytest.raises(
        dsg.pz.exceptions.InvalidInputException, match="User-Personalization"
    ):
        dsg.pz.create_solution_version(solutionArn=popular, trainingMode="UPDATE")


def test_a_campaign_cannot_use_a_failed_version(dsg: Group) -> None:
    _, version = dsg.train(solutionConfig={"eventValueThreshold": "10"})
    with pytest.raises(dsg.pz.exceptions.InvalidInputException, match="CREATE FAILED"):
        dsg.pz.create_campaign(name="c", solutionVersionArn=version)


def test_a_failed_resource_can_be_deleted(engine: LocalEngine, tmp_path: Path) -> None:
    pz, _, _ = clients(engine)
    group = pz.create_dataset_group(name="g")["datasetGroupArn"]
    engine.runner.join()  # type: ignore[attr-defined]
    schema = pz.create_schema(name="s", schema=json.dumps(INTERACTIONS_SCHEMA))[
        "schemaArn"
    ]
    dataset = pz.create_dataset(
        name="d", datasetGroupArn=group, datasetType="INTERACTIONS", schemaArn=schema
    )["datasetArn"]
    engine.runner.join()  # type: ignore[attr-defined]
    job = import_file(pz, engine, dataset, "j", tmp_path / "none.csv")
    assert (
        pz.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"][
            "status"
        ]
        == "CREATE FAILED"
    )
    pz.delete_dataset(datasetArn=dataset)
    engine.runner.join()  # type: ignore[attr-defined]
    with pytest.raises(pz.exceptions.ResourceNotFoundException):
        pz.describe_dataset_import_job(datasetImportJobArn=job)
