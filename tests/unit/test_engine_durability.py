"""Acknowledged writes are committed, and processes can share one state directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airctx.engine.core import LocalEngine
from airctx.engine.store import Store
from tests.unit import test_engine_fixture as fx
from tests.unit.test_engine_fixture import INTERACTIONS_SCHEMA, Group, clients

engine = fx.engine
dsg = fx.dsg

COUNT_EVENTS = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
"""

# PutEvents in a loop from another process, through its own engine and client.
EVENT_WRITER = """
import sys
from pathlib import Path
from airctx.engine.core import LocalEngine
from tests.unit.test_engine_fixture import clients

engine = LocalEngine(Path(sys.argv[1]), runner="thread")
_, _, events = clients(engine)
for n in range(int(sys.argv[3])):
    events.put_events(
        trackingId=sys.argv[2], userId=f"u{n % 60:02d}", sessionId="s",
        eventList=[{"eventType": "click", "itemId": "i01", "sentAt": 1800000000 + n,
                    "properties": '{"cabinType": "Economy"}'}],
    )
print("done")
"""


def _tracker(group: Group) -> str:
    answer = group.pz.create_event_tracker(name="t", datasetGroupArn=group.group)
    group.wait()
    return str(answer["trackingId"])


def test_an_acknowledged_event_is_visible_to_another_process(dsg: Group) -> None:
    tracking = _tracker(dsg)
    dsg.ev.put_events(
        trackingId=tracking,
        userId="u01",
        sessionId="s",
        eventList=[{"eventType": "click", "itemId": "i03", "sentAt": 1800000000}],
    )
    # No close, no flush: what PutEvents acknowledged is already in the database.
    counted = subprocess.run(
        [sys.executable, "-c", COUNT_EVENTS, str(dsg.engine.store.path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert counted.stdout.strip() == "1"


@pytest.mark.slow
def test_two_processes_share_the_state_without_lock_errors(
    tmp_path: Path, dsg: Group
) -> None:
    tracking = _tracker(dsg)
    writes = 80
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            EVENT_WRITER,
            str(tmp_path / "state"),
            tracking,
            str(writes),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    # Meanwhile this process creates, describes and lists resources.
    made = 0
    while writer.poll() is None or made < 10:
        name = f"s{made}"
        arn = dsg.pz.create_schema(name=name, schema=json.dumps(INTERACTIONS_SCHEMA))[
            "schemaArn"
        ]
        assert dsg.pz.describe_schema(schemaArn=arn)["schema"]["name"] == name
        dsg.pz.list_schemas(maxResults=100)
        made += 1
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert "locked" not in err
    assert out.strip() == "done"
    assert len(dsg.engine.store.events_for_group(dsg.group)) == writes
    pages = dsg.pz.get_paginator("list_schemas").paginate()
    names = {s["name"] for page in pages for s in page["schemas"]}
    assert {f"s{n}" for n in range(made)} <= names


def test_a_failed_transaction_leaves_the_row_as_it_was(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.transaction() as db:
        store.insert(
            db,
            arn="a",
            type="t",
            name="n",
            parent_arn=None,
            status="ACTIVE",
            body={"v": 1},
            now=1.0,
        )
    with pytest.raises(RuntimeError), store.transaction() as db:
        store.update(db, "a", status="CREATE FAILED", body={"v": 2})
        raise RuntimeError("killed half-way")
    row = Store(tmp_path).get("a")
    assert row is not None and row.status == "ACTIVE" and row.body == {"v": 1}


def test_a_put_events_call_is_all_or_nothing(dsg: Group) -> None:
    tracking = _tracker(dsg)
    good = {"eventType": "click", "itemId": "i01", "sentAt": 1800000000}
    bad = dict(good, properties='{"userId": "u02"}')
    with pytest.raises(dsg.ev.exceptions.InvalidInputException, match="userId"):
        dsg.ev.put_events(
            trackingId=tracking, userId="u01", sessionId="s", eventList=[good, bad]
        )
    assert dsg.engine.store.events_for_group(dsg.group) == []


def test_a_new_engine_sees_what_the_previous_one_wrote(tmp_path: Path) -> None:
    first = LocalEngine(tmp_path, runner="thread")
    pz, _, _ = clients(first)
    pz.create_dataset_group(name="g")
    first.runner.join()  # type: ignore[attr-defined]
    first.close()
    second = LocalEngine(tmp_path, runner="thread")
    pz, _, _ = clients(second)
    groups = pz.list_dataset_groups()["datasetGroups"]
    assert [(g["name"], g["status"]) for g in groups] == [("g", "ACTIVE")]


def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "state" / "engine"
    store = Store(root)

    assert store.get("a") is None and store.list("t") == [] and store.open_jobs() == []
    assert not store.exists and not (tmp_path / "state").exists()


def test_a_reader_opened_before_the_first_write_sees_what_is_written(
    tmp_path: Path,
) -> None:
    reader = Store(tmp_path / "engine")
    assert reader.get("a") is None
    writer = Store(tmp_path / "engine")
    with writer.transaction() as db:
        writer.insert(
            db,
            arn="a",
            type="t",
            name="n",
            parent_arn=None,
            status="ACTIVE",
            body={},
            now=1.0,
        )

    found = reader.get("a")

    assert found is not None and found.status == "ACTIVE"
    assert reader.exists


def test_a_store_under_a_file_is_refused_when_opened(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")

    with pytest.raises(NotADirectoryError, match="afile is not a directory"):
        Store(tmp_path / "afile" / "engine")
