"""Each region of the local engine holds its own resources, as each AWS region does.

Engines of several regions share one state directory (one SQLite store); every
lookup of one of them sees only the resources whose ARN carries its region and
account.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airctx.aws.factory import clients_for
from airctx.config import Settings
from airctx.engine.core import LocalEngine
from airctx.engine.errors import (
    InvalidInput,
    LimitExceeded,
    ResourceAlreadyExists,
    ResourceNotFound,
)
from airctx.engine.store import SCHEMA_VERSION, Store
from airctx.errors import ConfigError
from tests.unit.test_engine_fixture import INTERACTIONS_SCHEMA, build_group

US = "us-east-1"
EU = "eu-west-1"

# The schema of the first release (version 1): names unique across all regions.
V1_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE resources (
    arn TEXT PRIMARY KEY, type TEXT NOT NULL, name TEXT, parent_arn TEXT,
    status TEXT, body TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL
);
CREATE UNIQUE INDEX resources_name ON resources (type, name) WHERE name IS NOT NULL;
CREATE INDEX resources_parent ON resources (parent_arn);
CREATE TABLE jobs (
    arn TEXT PRIMARY KEY, action TEXT NOT NULL, state TEXT NOT NULL,
    owner_pid INTEGER, heartbeat REAL, attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, dataset_group_arn TEXT NOT NULL,
    tracking_id TEXT NOT NULL, user_id TEXT NOT NULL, session_id TEXT NOT NULL,
    event_id TEXT, event_type TEXT NOT NULL, event_value REAL, item_id TEXT,
    sent_at REAL NOT NULL, properties TEXT, recorded REAL NOT NULL
);
CREATE INDEX events_user ON events (dataset_group_arn, user_id, id);
CREATE TABLE live_records (
    dataset_arn TEXT NOT NULL, record_id TEXT NOT NULL, properties TEXT NOT NULL,
    recorded REAL NOT NULL, PRIMARY KEY (dataset_arn, record_id)
);
INSERT INTO meta (key, value) VALUES ('schema_version', '1');
"""


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[tuple[LocalEngine, LocalEngine]]:
    us = LocalEngine(tmp_path / "state", region=US, runner="thread")
    eu = LocalEngine(tmp_path / "state", region=EU, runner="thread")
    yield us, eu
    for engine in (us, eu):
        engine.runner.join()  # type: ignore[attr-defined]
        engine.close()


def call(engine: LocalEngine, operation: str, **params: Any) -> dict[str, Any]:
    service = "personalize"
    if operation in ("GetRecommendations", "GetPersonalizedRanking"):
        service = "personalize-runtime"
    elif operation in ("PutEvents", "PutUsers", "PutItems"):
        service = "personalize-events"
    answer = engine.call(service, operation, params)
    engine.runner.join()  # type: ignore[attr-defined]
    return answer


def group(engine: LocalEngine, name: str = "g") -> str:
    return str(call(engine, "CreateDatasetGroup", name=name)["datasetGroupArn"])


def names(engine: LocalEngine, operation: str, key: str) -> list[str]:
    return [r["name"] for r in call(engine, operation)[key]]


# -- listing and names ---------------------------------------------------------------


def test_each_region_lists_only_its_own(
    engines: tuple[LocalEngine, LocalEngine],
) -> None:
    us, eu = engines
    group(us, "only-us")
    call(us, "CreateSchema", name="s-us", schema=json.dumps(INTERACTIONS_SCHEMA))
    group(eu, "only-eu")

    assert names(us, "ListDatasetGroups", "datasetGroups") == ["only-us"]
    assert names(eu, "ListDatasetGroups", "datasetGroups") == ["only-eu"]
    assert names(us, "ListSchemas", "schemas") == ["s-us"]
    assert names(eu, "ListSchemas", "schemas") == []


def test_the_same_names_in_two_regions(
    engines: tuple[LocalEngine, LocalEngine],
) -> None:
    us, eu = engines
    schema = json.dumps(INTERACTIONS_SCHEMA)
    us_group, eu_group = group(us), group(eu)
    us_schema = call(us, "CreateSchema", name="s", schema=schema)["schemaArn"]
    eu_schema = call(eu, "CreateSchema", name="s", schema=schema)["schemaArn"]

    assert us_group == f"arn:aws:personalize:{US}:000000000000:dataset-group/g"
    assert eu_group == f"arn:aws:personalize:{EU}:000000000000:dataset-group/g"
    assert us_schema != eu_schema
    for engine, arn in ((us, us_group), (eu, eu_group)):
        described = call(engine, "DescribeDatasetGroup", datasetGroupArn=arn)
        assert described["datasetGroup"]["datasetGroupArn"] == arn
    with pytest.raises(ResourceAlreadyExists, match="dataset-group with the name g"):
        group(eu)


def test_deleting_in_one_region_leaves_the_other(
    engines: tuple[LocalEngine, LocalEngine],
) -> None:
    us, eu = engines
    us_group, eu_group = group(us), group(eu)

    call(eu, "DeleteDatasetGroup", datasetGroupArn=eu_group)

    assert names(eu, "ListDatasetGroups", "datasetGroups") == []
    assert names(us, "ListDatasetGroups", "datasetGroups") == ["g"]
    assert us.store.get(us_group) is not None


# -- ARNs of another region or account -------------------------------------------------


def test_an_arn_of_another_region_is_not_found(
    engines: tuple[LocalEngine, LocalEngine],
) -> None:
    us, eu = engines
    us_group = group(us)

    with pytest.raises(ResourceNotFound, match=f"belongs to region {US}"):
        call(eu, "DescribeDatasetGroup", datasetGroupArn=us_group)
    with pytest.raises(ResourceNotFound, match=f"belongs to region {US}"):
        call(eu, "ListDatasets", datasetGroupArn=us_group)
    with pytest.raises(ResourceNotFound, match="dataset-group"):
        call(eu, "CreateEventTracker", name="t", datasetGroupArn=us_group)


def test_an_arn_of_another_account_is_not_found(tmp_path: Path) -> None:
    mine = LocalEngine(tmp_path, account_id="111111111111", runner="thread")
    theirs = LocalEngine(tmp_path, account_id="222222222222", runner="thread")
    arn = group(theirs)

    with pytest.raises(ResourceNotFound, match="account 222222222222"):
        call(mine, "DescribeDatasetGroup", datasetGroupArn=arn)
    assert names(mine, "ListDatasetGroups", "datasetGroups") == []


def test_an_arn_of_another_kind_is_still_invalid(
    engines: tuple[LocalEngine, LocalEngine],
) -> None:
    us, eu = engines
    schema = call(us, "CreateSchema", name="s", schema=json.dumps(INTERACTIONS_SCHEMA))

    with pytest.raises(InvalidInput, match="not a valid dataset-group ARN"):
        call(eu, "DescribeDatasetGroup", datasetGroupArn=schema["schemaArn"])
    with pytest.raises(InvalidInput, match="not a valid dataset-group ARN"):
        call(eu, "DescribeDatasetGroup", datasetGroupArn="dataset-group/g")


# -- runtime and events ----------------------------------------------------------------


def test_runtime_answers_only_for_its_own_region(
    tmp_path: Path, engines: tuple[LocalEngine, LocalEngine]
) -> None:
    us, eu = engines
    trained = build_group(tmp_path, us)
    _solution, version = trained.train(recipe="aws-popularity-count")
    campaign = trained.campaign(version)

    answer = call(us, "GetRecommendations", campaignArn=campaign, userId="u01")
    assert answer["itemList"]
    with pytest.raises(ResourceNotFound, match=f"belongs to region {US}"):
        call(eu, "GetRecommendations", campaignArn=campaign, userId="u01")
    with pytest.raises(ResourceNotFound, match="campaign"):
        call(eu, "DescribeCampaign", campaignArn=campaign)
    with pytest.raises(ResourceNotFound, match="dataset"):
        call(eu, "PutItems", datasetArn=trained.items, items=[{"itemId": "i01"}])
    assert eu.progress(version) is None
    assert eu.baseline_metrics(version) == {}


def test_events_stay_in_their_region(
    engines: tuple[LocalEngine, LocalEngine],
) -> None:
    us, eu = engines
    us_group, eu_group = group(us), group(eu)
    us_tracking = call(us, "CreateEventTracker", name="t", datasetGroupArn=us_group)
    eu_tracking = call(eu, "CreateEventTracker", name="t", datasetGroupArn=eu_group)
    event = {"eventType": "click", "itemId": "i01", "sentAt": time.time()}

    with pytest.raises(ResourceNotFound, match=f"No event tracker of region {EU}"):
        call(
            eu,
            "PutEvents",
            trackingId=us_tracking["trackingId"],
            userId="u1",
            sessionId="s1",
            eventList=[event],
        )
    call(
        eu,
        "PutEvents",
        trackingId=eu_tracking["trackingId"],
        userId="u1",
        sessionId="s1",
        eventList=[event],
    )

    assert [r["item_id"] for r in eu.store.events_for_group(eu_group)] == ["i01"]
    assert us.store.events_for_group(us_group) == []
    assert len(call(us, "ListEventTrackers")["eventTrackers"]) == 1


def test_pending_limit_counts_per_region(
    engines: tuple[LocalEngine, LocalEngine],
) -> None:
    us, eu = engines
    # Jobs that never run keep their resources in CREATE PENDING.
    us.control.submit = lambda arn, action: None
    for index in range(5):
        group(us, f"g{index}")

    with pytest.raises(LimitExceeded, match=f"in region {US}"):
        group(us, "g5")
    assert call(eu, "CreateDatasetGroup", name="g5")["datasetGroupArn"]


def test_imported_files_are_kept_apart_by_region(
    tmp_path: Path, engines: tuple[LocalEngine, LocalEngine]
) -> None:
    us, eu = engines
    paths = []
    for engine in (us, eu):
        arn = build_group(tmp_path, engine).interactions
        dataset = engine.store.get(arn)
        assert dataset is not None
        paths.extend(dataset.body["_imports"])

    assert len(set(paths)) == 2
    assert all(Path(p).is_file() for p in paths)


# -- migration -------------------------------------------------------------------------


def write_v1_database(root: Path) -> str:
    """A database as the first release left it, holding one dataset group."""
    root.mkdir(parents=True)
    arn = f"arn:aws:personalize:{US}:000000000000:dataset-group/g"
    body = {"name": "g", "datasetGroupArn": arn, "status": "ACTIVE"}
    with sqlite3.connect(root / "personalize.db") as db:
        db.executescript(V1_DDL)
        db.execute(
            "INSERT INTO resources VALUES (?, 'dataset-group', 'g', NULL, 'ACTIVE',"
            " ?, 1.0, 1.0)",
            (arn, json.dumps(body)),
        )
    return arn


def test_a_v1_database_is_migrated_in_place(tmp_path: Path) -> None:
    arn = write_v1_database(tmp_path / "state" / "engine")

    us = LocalEngine(tmp_path / "state", region=US, runner="thread")
    eu = LocalEngine(tmp_path / "state", region=EU, runner="thread")

    assert names(us, "ListDatasetGroups", "datasetGroups") == ["g"]
    assert call(us, "DescribeDatasetGroup", datasetGroupArn=arn)["datasetGroup"]
    assert names(eu, "ListDatasetGroups", "datasetGroups") == []
    assert group(eu).startswith(f"arn:aws:personalize:{EU}:")
    with pytest.raises(ResourceAlreadyExists):
        group(us)
    with sqlite3.connect(tmp_path / "state" / "engine" / "personalize.db") as db:
        version = db.execute("SELECT value FROM meta").fetchone()[0]
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert version == str(SCHEMA_VERSION)
    assert "resources_name" not in indexes
    assert "resources_scoped_name" in indexes


def test_a_database_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.transaction():
        pass  # the first write creates the database
    store.close()
    with sqlite3.connect(tmp_path / "personalize.db") as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")

    with pytest.raises(ValueError, match="schema version 99"):
        Store(tmp_path)


# -- region names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "region",
    ["us-east-1", "eu-central-2", "ap-southeast-4", "us-gov-west-1", "il-central-1"],
)
def test_aws_region_names_are_accepted(tmp_path: Path, region: str) -> None:
    engine = LocalEngine(tmp_path, region=region, runner="thread")
    assert group(engine).startswith(f"arn:aws:personalize:{region}:")


@pytest.mark.parametrize(
    "region", ["nowhere-1", "US-EAST-1", "us-east", "", "us-east-1:x"]
)
def test_an_invalid_region_is_refused(tmp_path: Path, region: str) -> None:
    with pytest.raises(ValueError, match="is not an AWS region name"):
        LocalEngine(tmp_path / "state", region=region, runner="thread")
    assert not (tmp_path / "state").exists()


def test_an_invalid_account_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="12 digits"):
        LocalEngine(tmp_path, account_id="123", runner="thread")


def test_the_local_backend_turns_a_bad_region_into_a_config_error(
    tmp_path: Path,
) -> None:
    settings = Settings(project="p", region="nowhere-1", state_dir=tmp_path)
    with pytest.raises(ConfigError, match="'nowhere-1' is not an AWS region name"):
        clients_for(settings)
