"""Pipeline steps against the local engine on a small synthetic project.

Jobs run in threads of the test process (the engine's ``thread`` runner) and the
waiter polls every few milliseconds, so a whole import/train/deploy takes seconds.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from airctx.aws.session import create_clients
from airctx.config import FieldSpec, Settings, load_settings
from airctx.data.summary import PreparedSummary, summary_path
from airctx.engine.core import LocalEngine
from airctx.engine.inprocess import attach
from airctx.errors import (
    ConfigError,
    DataError,
    ResourceConflict,
    ResourceError,
    SchemaError,
)
from airctx.pipeline.deploy import deploy
from airctx.pipeline.imports import import_data
from airctx.pipeline.project import Project
from airctx.pipeline.resources import create_schemas
from airctx.pipeline.train import solution_request, train
from airctx.pipeline.waiter import Waiter

CABINS = ("Economy", "Business Class", "First Class")
RESOURCE_TYPES = (
    "schema",
    "dataset-group",
    "dataset",
    "dataset-import-job",
    "solution",
    "solution-version",
    "campaign",
    "event-tracker",
    "filter",
)

CONFIG = """\
project: synth
backend: local
region: us-east-1
state_dir: state
data:
  data_dir: .
  input: raw.csv
  output_dir: prepared
datasets:
  interactions:
    fields:
      - {name: USER_ID, type: string}
      - {name: ITEM_ID, type: string}
      - {name: TIMESTAMP, type: long}
      - {name: CABIN_TYPE, type: string, categorical: true, context: true}
      - {name: EVENT_TYPE, type: string}
      - {name: EVENT_VALUE, type: float}
  users:
    fields:
      - {name: USER_ID, type: string}
      - {name: USER_RESIDENCE, type: string, categorical: true}
solution:
  recipe: aws-user-personalization
  event_type: RATING
  perform_hpo: false
waits:
  poll_seconds: 0.02
  max_poll_seconds: 0.1
"""


def write_project(root: Path, extra: str = "") -> Path:
    """A configuration plus prepared CSVs: 60 users x 20 ratings over 30 items.

    Users in each cabin favour a different third of the items, so the cabin shifts
    the top of the list.
    """
    (root / "airctx.yaml").write_text(CONFIG + extra, encoding="utf-8")
    prepared = root / "prepared"
    prepared.mkdir(parents=True, exist_ok=True)
    with open(prepared / "interactions.csv", "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(
            [
                "USER_ID",
                "ITEM_ID",
                "TIMESTAMP",
                "CABIN_TYPE",
                "EVENT_TYPE",
                "EVENT_VALUE",
            ]
        )
        for u in range(60):
            for n in range(20):
                cabin = CABINS[(u + n) % 3]
                block = CABINS.index(cabin) * 10
                item = block + (u * 7 + n * 3) % 10
                out.writerow(
                    [
                        f"u{u}",
                        f"item{item}",
                        1_500_000_000 + u * 1000 + n,
                        cabin,
                        "RATING",
                        6 + (u + n) % 5,
                    ]
                )
    with open(prepared / "users.csv", "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["USER_ID", "USER_RESIDENCE"])
        for u in range(60):
            out.writerow([f"u{u}", ("Spain", "Chile", "Japan")[u % 3]])
    return root / "airctx.yaml"


class Harness:
    """A project bound to an in-process engine, with what it reported."""

    def __init__(self, settings: Settings) -> None:
        self.engine = LocalEngine(
            settings.state_dir, region=settings.region, runner="thread"
        )
        session = boto3.Session(
            aws_access_key_id="k",
            aws_secret_access_key="s",
            region_name=settings.region,
        )
        self.clients = create_clients(session)
        for client in (
            self.clients.personalize,
            self.clients.runtime,
            self.clients.events,
        ):
            attach(client, self.engine)
        self.clients.local_engine = self.engine
        self.reports: list[str] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.clients.personalize.meta.events.register(
            "provide-client-params.personalize.*", self._record
        )
        self.project = self.bind(settings)

    def bind(self, settings: Settings) -> Project:
        waiter = Waiter(
            poll_seconds=settings.waits.poll_seconds,
            max_poll_seconds=settings.waits.max_poll_seconds,
        )
        self.project = Project(
            settings, self.clients, report=self.reports.append, waiter=waiter
        )
        return self.project

    def _record(self, params: dict[str, Any], model: Any, **_kw: Any) -> None:
        self.requests.append((model.name, dict(params)))

    def calls(self, operation: str) -> list[dict[str, Any]]:
        return [p for name, p in self.requests if name == operation]

    def counts(self) -> dict[str, int]:
        """How many resources of each type the engine holds."""
        return {t: len(self.engine.store.list(t)) for t in RESOURCE_TYPES}


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(load_settings(write_project(tmp_path)))
    yield h
    h.engine.close()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    h = Harness(load_settings(write_project(tmp_path_factory.mktemp("deployed"))))
    import_data(h.project)
    train(h.project)
    deploy(h.project)
    yield h
    h.engine.close()


# -- idempotent ---


def test_every_step_run_again_creates_nothing(deployed: Harness) -> None:
    before = deployed.counts()
    created = len(deployed.requests)

    again = import_data(deployed.project)
    trained = train(deployed.project)
    deployed_again = deploy(deployed.project)

    assert deployed.counts() == before
    assert before["solution-version"] == 1 and before["campaign"] == 1
    assert sorted(again.skipped) == ["INTERACTIONS", "USERS"]
    assert trained.reused and not deployed_again.changed
    assert not [
        name
        for name, _p in deployed.requests[created:]
        if name.startswith(("Create", "Update"))
    ]


def test_data_imported_before_and_replaced_since_is_imported_again(
    harness: Harness, tmp_path: Path
) -> None:
    users = tmp_path / "prepared" / "users.csv"
    original = users.read_bytes()
    first = import_data(harness.project).jobs["USERS"]
    users.write_bytes(original.replace(b"Spain", b"Peru"))
    second = import_data(harness.project).jobs["USERS"]
    users.write_bytes(original)

    again = import_data(harness.project)

    # The dataset holds the Peru version now, so the original is not "already there".
    assert "USERS" not in again.skipped
    assert len({first, second, again.jobs["USERS"]}) == 3
    assert import_data(harness.project).skipped == ["INTERACTIONS", "USERS"]


def test_an_incremental_import_appends_a_file_below_the_minimums(
    harness: Harness, tmp_path: Path
) -> None:
    import_data(harness.project)
    interactions = tmp_path / "prepared" / "interactions.csv"
    header = interactions.read_text(encoding="utf-8").splitlines()[0]
    rows = [f"u{u},item{u},{1_600_000_000 + u},Economy,RATING,9" for u in range(12)]
    interactions.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")

    result = import_data(harness.project, mode="INCREMENTAL")

    jobs = harness.engine.store.list("dataset-import-job")
    appended = [j for j in jobs if j.arn == result.jobs["INTERACTIONS"]]
    assert appended[0].status == "ACTIVE"
    assert appended[0].body["importMode"] == "INCREMENTAL"
    assert result.skipped == ["USERS"]


def test_an_incremental_import_into_an_empty_dataset_is_refused_first(
    harness: Harness,
) -> None:
    with pytest.raises(ResourceError, match="hold no data yet"):
        import_data(harness.project, mode="INCREMENTAL")

    assert harness.engine.store.list("dataset-import-job") == []


def test_data_another_project_prepared_is_refused_before_anything_is_created(
    harness: Harness, tmp_path: Path
) -> None:
    from airctx.pipeline.prep import prep_data

    settings = harness.project.settings
    other = tmp_path / "other.csv"
    other.write_bytes(settings.prepared_csv("INTERACTIONS").read_bytes())
    # Another project of the same configuration prepares its data in the same place.
    prep_data(replace(settings, project="beta"), input_path=other)

    with pytest.raises(DataError) as caught:
        import_data(harness.project)

    message = str(caught.value)
    assert "prepared for project 'beta'" in message and str(other) in message
    assert "`airctx --project synth prep-data`" in message
    assert "data.output_dir" in message
    assert harness.requests == []
    # Preparing the project's own data again makes the import go ahead.
    prep_data(settings, input_path=other)
    assert set(import_data(harness.project).jobs) == {"INTERACTIONS"}


def test_data_prepared_before_projects_were_recorded_is_imported(
    harness: Harness,
) -> None:
    settings = harness.project.settings
    PreparedSummary((6.0, 10.0), ("RATING",), None).save(
        summary_path(settings.data.output_dir)
    )

    assert set(import_data(harness.project).jobs) == {"INTERACTIONS", "USERS"}


def test_validation_checks_the_field_lists_first(harness: Harness) -> None:
    from airctx.pipeline.imports import validate

    settings = harness.project.settings
    spec = settings.interactions
    fields = tuple(
        replace(f, categorical=False) if f.name == "CABIN_TYPE" else f
        for f in spec.fields
    )
    broken = replace(spec, fields=fields)
    harness.bind(
        replace(settings, datasets={**settings.datasets, "INTERACTIONS": broken})
    )

    with pytest.raises(SchemaError, match="CABIN_TYPE"):
        validate(harness.project)


def test_a_changed_schema_is_reported_with_its_differences(harness: Harness) -> None:
    create_schemas(harness.project)
    settings = harness.project.settings
    users = settings.datasets["USERS"]
    changed = replace(users, fields=(*users.fields, FieldSpec("USER_AGE", "int")))
    harness.bind(replace(settings, datasets={**settings.datasets, "USERS": changed}))

    with pytest.raises(ResourceConflict) as caught:
        create_schemas(harness.project)

    message = str(caught.value)
    assert "schema synth-users" in message and "field USER_AGE is missing" in message
    assert "teardown" in message


def test_a_solution_with_another_recipe_is_reported(deployed: Harness) -> None:
    settings = deployed.project.settings
    other = replace(
        settings,
        solution=replace(settings.solution, recipe="aws-user-personalization-v2"),
    )
    project = deployed.bind(other)
    try:
        with pytest.raises(ResourceConflict) as caught:
            train(project)
    finally:
        deployed.bind(settings)

    message = str(caught.value)
    assert "solution synth-solution" in message
    assert (
        "recipeArn is 'arn:aws:personalize:::recipe/aws-user-personalization'"
        in message
    )
    assert (
        "configured 'arn:aws:personalize:::recipe/aws-user-personalization-v2'"
        in message
    )


# -- cost-safe defaults ---


def test_create_solution_turns_auto_training_off_unless_configured(
    deployed: Harness,
) -> None:
    (request,) = deployed.calls("CreateSolution")
    assert request["performAutoTraining"] is False
    assert request["performHPO"] is False

    settings = deployed.project.settings
    on = replace(
        settings, solution=replace(settings.solution, perform_auto_training=True)
    )
    assert solution_request(on, "arn:group")["performAutoTraining"] is True


def test_campaign_defaults_to_one_provisioned_tps(deployed: Harness) -> None:
    (request,) = deployed.calls("CreateCampaign")
    assert request["minProvisionedTPS"] == 1


def test_hpo_is_announced_with_its_cap_before_training_starts(harness: Harness) -> None:
    import_data(harness.project)
    settings = harness.project.settings
    hpo = replace(
        settings.solution.hpo,
        max_training_jobs=2,
        max_parallel_training_jobs=1,
        ranges={"context_weight": {"type": "continuous", "min": 0, "max": 2}},
    )
    harness.bind(
        replace(
            settings, solution=replace(settings.solution, perform_hpo=True, hpo=hpo)
        )
    )

    result = train(harness.project)

    announced = next(i for i, r in enumerate(harness.reports) if r.startswith("HPO:"))
    started = next(i for i, r in enumerate(harness.reports) if "training started" in r)
    assert announced < started
    assert "up to 2 training jobs, 1 in parallel" in harness.reports[announced]
    (request,) = harness.calls("CreateSolution")
    limits = request["solutionConfig"]["hpoConfig"]["hpoResourceConfig"]
    assert limits == {"maxNumberOfTrainingJobs": "2", "maxParallelTrainingJobs": "1"}
    assert result.training_hours is not None


@pytest.mark.parametrize("recipe", ["aws-hrnn-metadata", "aws-hrnn"])
def test_retired_recipes_are_refused_on_aws_before_any_cost(
    harness: Harness, recipe: str
) -> None:
    create_schemas(harness.project)
    settings = harness.project.settings
    # The clients still answer from the local engine, which does list the recipe.
    harness.bind(
        replace(
            settings, backend="aws", solution=replace(settings.solution, recipe=recipe)
        )
    )

    with pytest.raises(ConfigError) as caught:
        train(harness.project)

    message = str(caught.value)
    assert recipe in message
    assert (
        "aws-user-personalization" in message
        and "aws-user-personalization-v2" in message
    )
    assert not harness.calls("CreateSolution")
    assert not harness.calls("CreateSolutionVersion")


def test_the_local_engine_still_offers_hrnn_metadata(harness: Harness) -> None:
    names = {r["name"] for r in harness.project.paginate("ListRecipes", "recipes")}
    assert "aws-hrnn-metadata" in names


def test_an_unknown_recipe_lists_the_offered_ones(harness: Harness) -> None:
    create_schemas(harness.project)
    settings = harness.project.settings
    harness.bind(
        replace(settings, solution=replace(settings.solution, recipe="aws-nonexistent"))
    )

    with pytest.raises(ConfigError, match="aws-user-personalization-v2"):
        train(harness.project)


def test_tracking_an_event_prints_no_state_lines(deployed: Harness) -> None:
    from airctx.pipeline.query import track_event

    lines: list[tuple[Any, ...]] = []
    deployed.project.waiter.report = lambda *line: lines.append(line)

    track_event(
        deployed.project, "u1", "item3", "RATING", 9.0, {"CABIN_TYPE": "Economy"}
    )

    assert lines == []


def test_a_resource_created_meanwhile_by_another_run_is_adopted(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another run creates the dataset group between this run's look-up and create.
    name = harness.project.settings.dataset_group_name
    real_find = Project.find
    missed: list[str] = []

    def find_before_the_other_run(
        self: Project, operation: str, *a: Any, **k: Any
    ) -> Any:
        if operation == "ListDatasetGroups" and not missed:
            missed.append(operation)
            harness.clients.personalize.create_dataset_group(name=name)
            return None
        return real_find(self, operation, *a, **k)

    monkeypatch.setattr(Project, "find", find_before_the_other_run)

    provisioned = create_schemas(harness.project)

    assert missed == ["ListDatasetGroups"]
    assert harness.counts()["dataset-group"] == 1
    assert provisioned.dataset_group_arn.endswith(f"dataset-group/{name}")


def test_prep_data_reports_what_it_wrote_and_dropped(
    harness: Harness, tmp_path: Path
) -> None:
    from airctx.pipeline.prep import prep_data

    settings = harness.project.settings
    rows = settings.prepared_csv("INTERACTIONS").read_text().splitlines()
    source = tmp_path / "with-duplicate.csv"
    source.write_text("\n".join([*rows, rows[1]]) + "\n")
    lines: list[str] = []

    report = prep_data(settings, input_path=source, progress=lines.append)

    assert lines[-1] == (
        f"  {report.interactions_written:,} interactions and "
        f"{report.users_written:,} users written; dropped: duplicate event (1)"
    )
