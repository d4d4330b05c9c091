"""The same boto3 clients answered two ways: in-process and over HTTP.

A conformance test takes the ``clients`` fixture and runs once per transport. Each
run gets its own engine and state directory, so the two never share resources.
"""

from __future__ import annotations

import contextlib
import csv
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from airctx.engine.core import LocalEngine
from airctx.engine.inprocess import attach
from airctx.engine.server import make_server

TRANSPORTS = ("inprocess", "http")
REGION = "us-east-1"
ACCESS_KEY = "AKIDCONFORMANCE"
SECRET_KEY = "conformance-secret"

POLL_SECONDS = 0.1
TIMEOUT_SECONDS = 180.0

CABINS = ("Economy", "Business Class")
COUNTRIES = ("United Kingdom", "Australia", "Canada")

INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "CABIN_TYPE", "type": "string", "categorical": True},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "EVENT_VALUE", "type": "float"},
    ],
    "version": "1.0",
}
USERS_SCHEMA = {
    "type": "record",
    "name": "Users",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "USER_RESIDENCE", "type": "string", "categorical": True},
    ],
    "version": "1.0",
}


@dataclass(frozen=True)
class Clients:
    """The three Personalize clients of one transport."""

    transport: str
    personalize: Any
    runtime: Any
    events: Any


def _session() -> boto3.session.Session:
    # Explicit keys: the tests never read the developer's AWS configuration.
    return boto3.session.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )


_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60)
_SERVICES = ("personalize", "personalize-runtime", "personalize-events")


@contextlib.contextmanager
def open_transport(transport: str, state_dir: Path) -> Iterator[Clients]:
    """Clients of a fresh engine under ``state_dir``, answered via ``transport``."""
    engine = LocalEngine(state_dir, region=REGION, runner="thread")
    session = _session()
    try:
        if transport == "inprocess":
            made = [session.client(s, config=_CONFIG) for s in _SERVICES]
            for client in made:
                attach(client, engine)
            yield Clients(transport, *made)
        elif transport == "http":
            server = make_server(
                engine, credentials={ACCESS_KEY: SECRET_KEY}, region=REGION
            )
            with server.running():
                made = [
                    session.client(s, endpoint_url=server.endpoint_url, config=_CONFIG)
                    for s in _SERVICES
                ]
                yield Clients(transport, *made)
                for client in made:
                    client.close()
        else:
            raise ValueError(f"unknown transport {transport!r}")
    finally:
        engine.close()


@pytest.fixture(params=TRANSPORTS)
def clients(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Clients]:
    """Fresh Personalize clients, once in-process and once over signed HTTP."""
    with open_transport(request.param, tmp_path / "state") as made:
        yield made


@dataclass(frozen=True)
class DataFiles:
    """A synthetic interactions CSV with a cabin-like context, and a users CSV."""

    interactions: Path
    users: Path


def write_data(
    folder: Path, *, rows: int = 1200, users: int = 60, items: int = 40, seed: int = 7
) -> DataFiles:
    """Interactions whose liked items depend on the cabin flown.

    Economy travellers mostly rate the first half of the items, Business Class
    travellers the second half, so a context-aware model must rank differently
    per cabin. Every user has several rows (Personalize wants >= 25 users with 2).
    """
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    user_ids = [f"user-{n:03d}" for n in range(users)]
    half = items // 2
    interactions = folder / "interactions.csv"
    with open(interactions, "w", encoding="utf-8", newline="") as fh:
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
        for n in range(rows):
            user = user_ids[n % users]
            cabin = CABINS[0] if rng.random() < 0.55 else CABINS[1]
            base = 0 if cabin == CABINS[0] else half
            # A few favourites per cabin draw most ratings; the rest is noise.
            if rng.random() < 0.8:
                item = base + min(int(rng.expovariate(0.35)), half - 1)
            else:
                item = rng.randrange(items)
            out.writerow(
                [
                    user,
                    f"item-{item:02d}",
                    1_500_000_000 + n * 3600,
                    cabin,
                    "RATING",
                    rng.randint(5, 10),
                ]
            )
    users_csv = folder / "users.csv"
    with open(users_csv, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["USER_ID", "USER_RESIDENCE"])
        for n, user in enumerate(user_ids):
            out.writerow([user, COUNTRIES[n % len(COUNTRIES)]])
    return DataFiles(interactions, users_csv)


@pytest.fixture(scope="session")
def data_files(tmp_path_factory: pytest.TempPathFactory) -> DataFiles:
    return write_data(tmp_path_factory.mktemp("conformance-data"))


# -- what notebooks do between calls -------------------------------------------


def wait_until_active(
    describe: Callable[[], dict[str, Any]], key: str
) -> dict[str, Any]:
    """Poll a describe call until the resource is ACTIVE; fail on CREATE FAILED."""
    seen: list[str] = []
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        resource = describe()[key]
        status = resource["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "ACTIVE":
            break
        assert status in ("CREATE PENDING", "CREATE IN_PROGRESS"), resource
        assert time.monotonic() < deadline, f"{key} still {status}"
        time.sleep(POLL_SECONDS)
    # Statuses only move forward along the lifecycle.
    order = ["CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"]
    assert seen == sorted(seen, key=order.index)
    return resource


def wait_until_deleted(describe: Callable[[], dict[str, Any]], key: str) -> None:
    """Poll a describe call until the resource is gone."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        try:
            status = describe()[key]["status"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return
            raise
        assert status in ("DELETE PENDING", "DELETE IN_PROGRESS"), status
        assert time.monotonic() < deadline, f"{key} still {status}"
        time.sleep(POLL_SECONDS)


def build_campaign(c: Clients, data: DataFiles, project: str) -> dict[str, str]:
    """A deployed campaign and an event tracker, named as ``airctx`` names them.

    No HPO: this is the quick way to a state other tests query.
    """
    p = c.personalize
    group = p.create_dataset_group(name=project)["datasetGroupArn"]
    wait_until_active(
        lambda: p.describe_dataset_group(datasetGroupArn=group), "datasetGroup"
    )
    for kind, schema, path in (
        ("INTERACTIONS", INTERACTIONS_SCHEMA, data.interactions),
        ("USERS", USERS_SCHEMA, data.users),
    ):
        name = f"{project}-{kind.lower()}"
        schema_arn = p.create_schema(name=name, schema=json.dumps(schema))["schemaArn"]
        dataset = p.create_dataset(
            name=name, datasetGroupArn=group, datasetType=kind, schemaArn=schema_arn
        )["datasetArn"]
        wait_until_active(lambda d=dataset: p.describe_dataset(datasetArn=d), "dataset")
        job = p.create_dataset_import_job(
            jobName=f"{name}-import",
            datasetArn=dataset,
            dataSource={"dataLocation": path.as_uri()},
        )["datasetImportJobArn"]
        wait_until_active(
            lambda j=job: p.describe_dataset_import_job(datasetImportJobArn=j),
            "datasetImportJob",
        )
    solution = p.create_solution(
        name=f"{project}-solution",
        datasetGroupArn=group,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
        eventType="RATING",
        performAutoTraining=False,
    )["solutionArn"]
    wait_until_active(lambda: p.describe_solution(solutionArn=solution), "solution")
    version = p.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait_until_active(
        lambda: p.describe_solution_version(solutionVersionArn=version),
        "solutionVersion",
    )
    campaign = p.create_campaign(
        name=f"{project}-campaign", solutionVersionArn=version, minProvisionedTPS=1
    )["campaignArn"]
    wait_until_active(lambda: p.describe_campaign(campaignArn=campaign), "campaign")
    tracker = p.create_event_tracker(name=f"{project}-tracker", datasetGroupArn=group)
    wait_until_active(
        lambda: p.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"]),
        "eventTracker",
    )
    return {
        "datasetGroupArn": group,
        "campaignArn": campaign,
        "solutionVersionArn": version,
        "trackingId": tracker["trackingId"],
    }
