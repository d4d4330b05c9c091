"""The call sequence of a typical Personalize notebook, on both transports.

The scenario is written as the AWS sample notebooks are: create a resource, then
poll its describe call until it is ACTIVE; delete, then poll until it is gone. It
runs once in-process and once over signed HTTP; every response it sees is kept in
a transcript, and the two transcripts must match once ARNs with generated ids,
tracking ids, recommendation ids and timestamps are masked.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conformance.conftest import (
    CABINS,
    INTERACTIONS_SCHEMA,
    TRANSPORTS,
    USERS_SCHEMA,
    Clients,
    DataFiles,
    open_transport,
    wait_until_active,
    wait_until_deleted,
)

GROUP = "notebook-dsg"
RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization"
USER = "user-004"

# Values generated per run; everything else must be identical across transports.
_GENERATED_KEYS = {"trackingId", "recommendationId"}
# Measured, so they differ between any two runs.
_MEASURED_KEYS = {"trainingHours"}
_GENERATED_ARN = re.compile(
    r"arn:aws:personalize:[^:]*:\d+:(solution/[^/\s]+/[0-9a-f]+|event-tracker/[0-9a-f]+)"
)


class Transcript:
    """Every response of one run, in order, as (step, document)."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Any]] = []

    def add(self, step: str, document: Any) -> Any:
        self.steps.append((step, _strip_metadata(document)))
        return document

    def error(self, step: str, call: Callable[[], Any]) -> dict[str, Any]:
        """Run ``call``, which must fail with a modelled error; record the error."""
        with pytest.raises(ClientError) as caught:
            call()
        exc = caught.value
        seen = {
            "class": type(exc).__name__,
            "code": exc.response["Error"]["Code"],
            "message": exc.response["Error"]["Message"],
            "status": exc.response["ResponseMetadata"]["HTTPStatusCode"],
        }
        self.steps.append((step, seen))
        return seen


def _strip_metadata(document: Any) -> Any:
    if isinstance(document, dict):
        return {
            k: _strip_metadata(v)
            for k, v in document.items()
            if k != "ResponseMetadata"
        }
    if isinstance(document, list):
        return [_strip_metadata(v) for v in document]
    return document


def masked(steps: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The transcript with generated values replaced by stable placeholders.

    Each distinct generated value gets its own placeholder in order of first
    appearance, so a run that mixed two ids up would still differ.
    """
    names: dict[str, str] = {}

    def placeholder(value: str) -> str:
        return names.setdefault(value, f"<generated-{len(names)}>")

    def mask(key: str | None, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: mask(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [mask(key, v) for v in value]
        if isinstance(value, dt.datetime):
            return "<datetime>"
        if key in _MEASURED_KEYS:
            return "<measured>"
        if isinstance(value, str):
            if key in _GENERATED_KEYS:
                return placeholder(value)
            return _GENERATED_ARN.sub(lambda m: placeholder(m.group(0)), value)
        return value

    return [(step, mask(None, document)) for step, document in steps]


# -- the notebook's helpers ----------------------------------------------------


def top_items(response: dict[str, Any]) -> list[str]:
    return [item["itemId"] for item in response["itemList"]]


# -- the scenario --------------------------------------------------------------


def run_notebook(c: Clients, data: DataFiles) -> Transcript:
    """Build, query, feed and tear down a context-aware campaign."""
    t = Transcript()
    personalize, runtime, events = c.personalize, c.runtime, c.events

    # Dataset group, schemas, datasets.
    group_arn = t.add("create group", personalize.create_dataset_group(name=GROUP))[
        "datasetGroupArn"
    ]
    t.add(
        "group",
        wait_until_active(
            lambda: personalize.describe_dataset_group(datasetGroupArn=group_arn),
            "datasetGroup",
        ),
    )
    interactions_schema = t.add(
        "create interactions schema",
        personalize.create_schema(
            name=f"{GROUP}-interactions",
            schema=json.dumps(INTERACTIONS_SCHEMA),
        ),
    )["schemaArn"]
    users_schema = t.add(
        "create users schema",
        personalize.create_schema(
            name=f"{GROUP}-users", schema=json.dumps(USERS_SCHEMA)
        ),
    )["schemaArn"]
    t.add("schema", personalize.describe_schema(schemaArn=interactions_schema))

    datasets = {}
    schemas = {"INTERACTIONS": interactions_schema, "USERS": users_schema}
    for kind, schema in schemas.items():
        arn = t.add(
            f"create {kind} dataset",
            personalize.create_dataset(
                name=f"{GROUP}-{kind.lower()}",
                datasetGroupArn=group_arn,
                datasetType=kind,
                schemaArn=schema,
            ),
        )["datasetArn"]
        t.add(
            f"{kind} dataset",
            wait_until_active(
                lambda arn=arn: personalize.describe_dataset(datasetArn=arn), "dataset"
            ),
        )
        datasets[kind] = arn

    # Import jobs from local files (s3:// on AWS).
    jobs = []
    for kind, path in (("INTERACTIONS", data.interactions), ("USERS", data.users)):
        jobs.append(
            t.add(
                f"import {kind}",
                personalize.create_dataset_import_job(
                    jobName=f"{GROUP}-{kind.lower()}-import",
                    datasetArn=datasets[kind],
                    dataSource={"dataLocation": Path(path).as_uri()},
                    roleArn="arn:aws:iam::000000000000:role/PersonalizeRole",
                ),
            )["datasetImportJobArn"]
        )
    for job in jobs:
        t.add(
            "import job",
            wait_until_active(
                lambda job=job: personalize.describe_dataset_import_job(
                    datasetImportJobArn=job
                ),
                "datasetImportJob",
            ),
        )

    # Solution with HPO, its version and metrics.
    t.add("recipe", personalize.describe_recipe(recipeArn=RECIPE))
    solution_arn = t.add(
        "create solution",
        personalize.create_solution(
            name=f"{GROUP}-solution",
            datasetGroupArn=group_arn,
            recipeArn=RECIPE,
            eventType="RATING",
            performHPO=True,
            performAutoTraining=False,
            solutionConfig={
                "hpoConfig": {
                    "hpoResourceConfig": {
                        "maxNumberOfTrainingJobs": "3",
                        "maxParallelTrainingJobs": "1",
                    },
                    "algorithmHyperParameterRanges": {
                        "continuousHyperParameterRanges": [
                            {
                                "name": "context_weight",
                                "minValue": 0.5,
                                "maxValue": 3.0,
                            },
                            {
                                "name": "history_weight",
                                "minValue": 0.0,
                                "maxValue": 2.0,
                            },
                        ]
                    },
                }
            },
        ),
    )["solutionArn"]
    t.add(
        "solution",
        wait_until_active(
            lambda: personalize.describe_solution(solutionArn=solution_arn), "solution"
        ),
    )
    version_arn = t.add(
        "create version", personalize.create_solution_version(solutionArn=solution_arn)
    )["solutionVersionArn"]
    version = t.add(
        "version",
        wait_until_active(
            lambda: personalize.describe_solution_version(
                solutionVersionArn=version_arn
            ),
            "solutionVersion",
        ),
    )
    assert version["performHPO"] is True
    metrics = t.add(
        "metrics", personalize.get_solution_metrics(solutionVersionArn=version_arn)
    )["metrics"]
    assert 0.0 < metrics["coverage"] <= 1.0

    # Campaign and recommendations with context.
    campaign_arn = t.add(
        "create campaign",
        personalize.create_campaign(
            name=f"{GROUP}-campaign",
            solutionVersionArn=version_arn,
            minProvisionedTPS=1,
        ),
    )["campaignArn"]
    t.add(
        "campaign",
        wait_until_active(
            lambda: personalize.describe_campaign(campaignArn=campaign_arn), "campaign"
        ),
    )
    by_cabin = {
        cabin: t.add(
            f"recommend {cabin}",
            runtime.get_recommendations(
                campaignArn=campaign_arn,
                userId=USER,
                numResults=10,
                context={"CABIN_TYPE": cabin},
            ),
        )
        for cabin in CABINS
    }
    economy, business = (top_items(by_cabin[cabin]) for cabin in CABINS)
    assert len(economy) == 10
    assert economy != business

    # Event tracker, events, and recommendations that follow them.
    tracker = t.add(
        "create tracker",
        personalize.create_event_tracker(
            name=f"{GROUP}-tracker", datasetGroupArn=group_arn
        ),
    )
    t.add(
        "tracker",
        wait_until_active(
            lambda: personalize.describe_event_tracker(
                eventTrackerArn=tracker["eventTrackerArn"]
            ),
            "eventTracker",
        ),
    )
    fresh = [item for item in reversed(economy)][:3]
    t.add(
        "put events",
        events.put_events(
            trackingId=tracker["trackingId"],
            userId=USER,
            sessionId="session-1",
            eventList=[
                {
                    "eventType": "RATING",
                    "itemId": item,
                    "eventValue": 10.0,
                    "sentAt": dt.datetime(2024, 3, 1, 12, n, tzinfo=dt.UTC),
                    "properties": json.dumps({"cabinType": "Economy"}),
                }
                for n, item in enumerate(fresh)
            ],
        ),
    )
    after = top_items(
        t.add(
            "recommend after events",
            runtime.get_recommendations(
                campaignArn=campaign_arn,
                userId=USER,
                numResults=10,
                context={"CABIN_TYPE": "Economy"},
            ),
        )
    )
    assert after != economy

    # Errors a notebook author runs into.
    missing = campaign_arn.replace(f"{GROUP}-campaign", "no-such-campaign")
    t.error(
        "describe missing campaign",
        lambda: personalize.describe_campaign(campaignArn=missing),
    )
    t.error("create group twice", lambda: personalize.create_dataset_group(name=GROUP))
    t.error(
        "bad HPO budget",
        lambda: personalize.create_solution(
            name=f"{GROUP}-bad",
            datasetGroupArn=group_arn,
            recipeArn=RECIPE,
            performHPO=True,
            solutionConfig={
                "hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "99"}}
            },
        ),
    )
    t.error(
        "event property not in schema",
        lambda: events.put_events(
            trackingId=tracker["trackingId"],
            userId=USER,
            sessionId="session-1",
            eventList=[
                {
                    "eventType": "RATING",
                    "itemId": "item-01",
                    "sentAt": 1709290000,
                    "properties": json.dumps({"seatNumber": "12A"}),
                }
            ],
        ),
    )
    t.error(
        "delete group with datasets",
        lambda: personalize.delete_dataset_group(datasetGroupArn=group_arn),
    )

    # Cleanup in dependency order, waiting for each deletion.
    personalize.delete_campaign(campaignArn=campaign_arn)
    wait_until_deleted(
        lambda: personalize.describe_campaign(campaignArn=campaign_arn), "campaign"
    )
    personalize.delete_solution(solutionArn=solution_arn)
    wait_until_deleted(
        lambda: personalize.describe_solution(solutionArn=solution_arn), "solution"
    )
    personalize.delete_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])
    wait_until_deleted(
        lambda: personalize.describe_event_tracker(
            eventTrackerArn=tracker["eventTrackerArn"]
        ),
        "eventTracker",
    )
    for arn in datasets.values():
        personalize.delete_dataset(datasetArn=arn)
    for arn in datasets.values():
        wait_until_deleted(
            lambda arn=arn: personalize.describe_dataset(datasetArn=arn), "dataset"
        )
    for schema in (interactions_schema, users_schema):
        t.add("delete schema", personalize.delete_schema(schemaArn=schema))
    personalize.delete_dataset_group(datasetGroupArn=group_arn)
    wait_until_deleted(
        lambda: personalize.describe_dataset_group(datasetGroupArn=group_arn),
        "datasetGroup",
    )

    # Nothing is left in the account.
    t.add(
        "empty",
        {
            "datasetGroups": personalize.list_dataset_groups()["datasetGroups"],
            "schemas": personalize.list_schemas()["schemas"],
            "datasets": personalize.list_datasets()["datasets"],
            "solutions": personalize.list_solutions()["solutions"],
            "campaigns": personalize.list_campaigns()["campaigns"],
            "eventTrackers": personalize.list_event_trackers()["eventTrackers"],
        },
    )
    return t


# -- the tests -----------------------------------------------------------------


@pytest.fixture(scope="session")
def transcripts() -> dict[str, Transcript]:
    """The scenario's transcript per transport, filled as the runs happen."""
    return {}


def test_notebook_scenario(
    clients: Clients, data_files: DataFiles, transcripts: dict[str, Transcript]
) -> None:
    transcripts[clients.transport] = run_notebook(clients, data_files)
    steps = dict(transcripts[clients.transport].steps)

    assert steps["describe missing campaign"]["class"] == "ResourceNotFoundException"
    assert steps["create group twice"]["class"] == "ResourceAlreadyExistsException"
    assert steps["bad HPO budget"]["class"] == "InvalidInputException"
    assert "maxNumberOfTrainingJobs" in steps["bad HPO budget"]["message"]
    assert steps["event property not in schema"]["class"] == "InvalidInputException"
    assert "seatNumber" in steps["event property not in schema"]["message"]
    assert steps["delete group with datasets"]["class"] == "ResourceInUseException"
    assert steps["empty"] == {
        "datasetGroups": [],
        "schemas": [],
        "datasets": [],
        "solutions": [],
        "campaigns": [],
        "eventTrackers": [],
    }


def test_transports_give_the_same_documents(
    data_files: DataFiles,
    transcripts: dict[str, Transcript],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    for transport in TRANSPORTS:
        # Run alone (-k), this test plays the scenario itself.
        if transport not in transcripts:
            with open_transport(transport, tmp_path_factory.mktemp(transport)) as c:
                transcripts[transport] = run_notebook(c, data_files)
    inprocess, http = (masked(transcripts[t].steps) for t in TRANSPORTS)
    assert [step for step, _ in inprocess] == [step for step, _ in http]
    for (step, left), (_, right) in zip(inprocess, http, strict=True):
        assert left == right, step


def test_masking_keeps_distinct_ids_apart() -> None:
    version = "arn:aws:personalize:us-east-1:000000000000:solution/s/0a1b2c3d"
    other = "arn:aws:personalize:us-east-1:000000000000:solution/s/99ffee00"
    steps = [
        (
            "a",
            {
                "solutionVersionArn": version,
                "when": dt.datetime(2024, 1, 1),
                "trainingHours": 0.5,
            },
        ),
        ("b", {"solutionVersionArn": other, "trackingId": "t-1"}),
    ]
    assert masked(steps) == [
        (
            "a",
            {
                "solutionVersionArn": "<generated-0>",
                "when": "<datetime>",
                "trainingHours": "<measured>",
            },
        ),
        ("b", {"solutionVersionArn": "<generated-1>", "trackingId": "<generated-2>"}),
    ]
