"""Synthetic data and a ready-made dataset group for the local engine's tests.

The other ``test_engine_*`` files import the helpers below. The data is small but
above Personalize's training minimums: 60 users x 20 items, 20 interactions each
(1,200 rows), with a categorical CABIN_TYPE context and ITEMS/USERS metadata.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from airctx.engine.core import LocalEngine
from airctx.engine.inprocess import attach
from airctx.engine.training import check_minimums

USERS = 60
ITEMS = 20
PER_USER = 20
RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization"
CABINS = ("Economy", "Business")
GENRES = ("short", "long")

INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "EVENT_VALUE", "type": ["null", "float"]},
        {"name": "CABIN_TYPE", "type": ["null", "string"], "categorical": True},
    ],
    "version": "1.0",
}
ITEMS_SCHEMA = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRE", "type": "string", "categorical": True},
    ],
    "version": "1.0",
}
USERS_SCHEMA = {
    "type": "record",
    "name": "Users",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "TIER", "type": "string", "categorical": True},
    ],
    "version": "1.0",
}


def item_id(index: int) -> str:
    return f"i{index:02d}"


def genre(item: str) -> str:
    return GENRES[int(item[1:]) % 2]


def write_interactions(
    path: Path, users: int = USERS, per_user: int = PER_USER
) -> Path:
    """Each user sees items mostly from one half of the catalogue, in one cabin."""
    rng = random.Random(7)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow([f["name"] for f in INTERACTIONS_SCHEMA["fields"]])  # type: ignore[index]
        for u in range(users):
            cabin = CABINS[u % 2]
            for k in range(per_user):
                pool = range(u % 2, ITEMS, 2) if rng.random() < 0.8 else range(ITEMS)
                item = item_id(rng.choice(list(pool)))
                value = f"{rng.randint(1, 10)}"
                out.writerow(
                    [
                        f"u{u:02d}",
                        item,
                        1_700_000_000 + u * 1000 + k,
                        "click",
                        value,
                        cabin,
                    ]
                )
    return path


def write_items(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["ITEM_ID", "GENRE"])
        for i in range(ITEMS):
            out.writerow([item_id(i), genre(item_id(i))])
    return path


def write_users(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["USER_ID", "TIER"])
        for u in range(USERS):
            out.writerow([f"u{u:02d}", "gold" if u % 3 == 0 else "blue"])
    return path


def clients(engine: LocalEngine) -> tuple[Any, Any, Any]:
    """personalize, personalize-runtime and personalize-events clients on ``engine``."""
    out = []
    for service in ("personalize", "personalize-runtime", "personalize-events"):
        client = boto3.client(
            service,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        attach(client, engine)
        out.append(client)
    return out[0], out[1], out[2]


@dataclass
class Group:
    """A dataset group with ACTIVE datasets holding the fixture data."""

    engine: LocalEngine
    pz: Any
    rt: Any
    ev: Any
    group: str
    interactions: str
    items: str
    users: str
    data: Path

    def wait(self) -> None:
        self.engine.runner.join()  # type: ignore[attr-defined]

    def status(self, describe: str, key: str, arn_key: str, arn: str) -> str:
        return str(getattr(self.pz, describe)(**{arn_key: arn})[key]["status"])

    def train(
        self, name: str = "sol", recipe: str = "aws-user-personalization", **extra: Any
    ) -> tuple[str, str]:
        solution = self.pz.create_solution(
            name=name,
            datasetGroupArn=self.group,
            recipeArn=f"arn:aws:personalize:::recipe/{recipe}",
            performAutoTraining=False,
            **extra,
        )["solutionArn"]
        self.wait()
        version = self.pz.create_solution_version(solutionArn=solution)[
            "solutionVersionArn"
        ]
        self.wait()
        return solution, version

    def campaign(self, version: str, name: str = "camp") -> str:
        arn = self.pz.create_campaign(
            name=name, solutionVersionArn=version, minProvisionedTPS=1
        )["campaignArn"]
        self.wait()
        return str(arn)


def import_file(
    pz: Any,
    engine: LocalEngine,
    dataset: str,
    name: str,
    path: Path,
    mode: str = "FULL",
) -> str:
    arn = pz.create_dataset_import_job(
        jobName=name,
        datasetArn=dataset,
        dataSource={"dataLocation": str(path)},
        importMode=mode,
    )["datasetImportJobArn"]
    engine.runner.join()  # type: ignore[attr-defined]
    return str(arn)


def build_group(tmp_path: Path, engine: LocalEngine, name: str = "dsg") -> Group:
    pz, rt, ev = clients(engine)
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    group = pz.create_dataset_group(name=name)["datasetGroupArn"]
    engine.runner.join()  # type: ignore[attr-defined]
    arns = {}
    for kind, schema in (
        ("INTERACTIONS", INTERACTIONS_SCHEMA),
        ("ITEMS", ITEMS_SCHEMA),
        ("USERS", USERS_SCHEMA),
    ):
        schema_arn = pz.create_schema(
            name=f"{name}-{kind.lower()}", schema=json.dumps(schema)
        )["schemaArn"]
        arns[kind] = pz.create_dataset(
            name=f"{name}-{kind.lower()}",
            datasetGroupArn=group,
            datasetType=kind,
            schemaArn=schema_arn,
        )["datasetArn"]
        engine.runner.join()  # type: ignore[attr-defined]
    files = {
        "INTERACTIONS": write_interactions(data / "interactions.csv"),
        "ITEMS": write_items(data / "items.csv"),
        "USERS": write_users(data / "users.csv"),
    }
    for kind, path in files.items():
        job = import_file(pz, engine, arns[kind], f"{name}-{kind.lower()}-import", path)
        status = pz.describe_dataset_import_job(datasetImportJobArn=job)[
            "datasetImportJob"
        ]
        if status["status"] != "ACTIVE":
            raise RuntimeError(f"fixture import failed: {status}")
    return Group(
        engine,
        pz,
        rt,
        ev,
        group,
        arns["INTERACTIONS"],
        arns["ITEMS"],
        arns["USERS"],
        data,
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[LocalEngine]:
    local = LocalEngine(tmp_path / "state", runner="thread")
    yield local
    local.runner.join()  # type: ignore[attr-defined]
    local.close()


@pytest.fixture
def dsg(tmp_path: Path, engine: LocalEngine) -> Group:
    return build_group(tmp_path, engine)


def test_fixture_meets_the_training_minimums(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.read_csv(write_interactions(tmp_path / "i.csv"))
    check_minimums(frame)
    assert len(frame) == USERS * PER_USER


def test_fixture_group_has_active_datasets(dsg: Group) -> None:
    for arn in (dsg.interactions, dsg.items, dsg.users):
        assert dsg.pz.describe_dataset(datasetArn=arn)["dataset"]["status"] == "ACTIVE"
