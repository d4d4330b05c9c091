"""Latency and throughput of the local Personalize engine on the Skytrax interactions.

Builds a campaign with the engine API in a temporary state dir (import of the
34,853-row ``df_interactions.csv``, one solution version without HPO, a campaign,
an event tracker), then measures, each beside a baseline from the same run:

1. GetRecommendations latency through a boto3 client answered in-process, beside
   ``engine.call`` without boto3 (the difference is botocore's serializing,
   parsing and event machinery);
2. requests/second through a real ``airctx serve`` process (SigV4 on) with N
   client threads, each with its own boto3 client, on loopback;
3. PutEvents throughput (events/second, batches of 1 and 10) with the store's
   durable setting (synchronous=FULL), beside the same code path on a store
   whose connections use synchronous=OFF.

Usage:
    PYTHONPATH=src python scripts/bench_engine.py [--data df_interactions.csv]
        [--queries 2000] [--clients 1,4] [--serve-requests 600] [--events 400]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from airctx.engine.core import LocalEngine
from airctx.engine.runtime import Runtime
from airctx.engine.store import Store

REGION = "us-east-1"
KEY, SECRET = "AKIDBENCH", "bench-secret"
RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization"
CABINS = ("Economy", "Premium Economy", "Business Class", "First Class")
SRC = Path(__file__).resolve().parents[1] / "src"


def default_data() -> Path:
    if os.environ.get("AIRCTX_DATA_DIR"):
        root = Path(os.environ["AIRCTX_DATA_DIR"])
    else:
        root = Path(__file__).resolve().parents[2] / "shared" / "data" / "skytrax"
    return root / "personalize-format" / "df_interactions.csv"


# ---- setup ---------------------------------------------------------------------


def wait_active(engine: LocalEngine, operation: str, key: str, **params: Any) -> None:
    deadline = time.monotonic() + 1800
    while True:
        document = engine.call("personalize", operation, params)[key]
        if document["status"] == "ACTIVE":
            return
        if document["status"] == "CREATE FAILED":
            raise SystemExit(f"{key} failed: {document.get('failureReason')}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{key} still {document['status']} after 30 minutes")
        time.sleep(0.2)


def build(engine: LocalEngine, data: Path) -> dict[str, str]:
    """Dataset group, interactions import, trained version, campaign, tracker."""
    header = pd.read_csv(data, nrows=0).columns.tolist()
    types = {"TIMESTAMP": "long", "EVENT_VALUE": "float"}
    fields = []
    for name in header:
        field: dict[str, Any] = {"name": name, "type": types.get(name, "string")}
        if name == "CABIN_TYPE":
            field["categorical"] = True
        fields.append(field)
    schema = {
        "type": "record",
        "name": "Interactions",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": fields,
        "version": "1.0",
    }

    def call(operation: str, **params: Any) -> dict[str, Any]:
        return engine.call("personalize", operation, params)

    group = call("CreateDatasetGroup", name="bench")["datasetGroupArn"]
    wait_active(engine, "DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
    schema_arn = call(
        "CreateSchema", name="bench-interactions", schema=json.dumps(schema)
    )["schemaArn"]
    dataset = call(
        "CreateDataset",
        name="bench-interactions",
        datasetGroupArn=group,
        datasetType="INTERACTIONS",
        schemaArn=schema_arn,
    )["datasetArn"]
    wait_active(engine, "DescribeDataset", "dataset", datasetArn=dataset)
    job = call(
        "CreateDatasetImportJob",
        jobName="bench-import",
        datasetArn=dataset,
        dataSource={"dataLocation": data.resolve().as_uri()},
    )
    wait_active(
        engine,
        "DescribeDatasetImportJob",
        "datasetImportJob",
        datasetImportJobArn=job["datasetImportJobArn"],
    )
    solution = call(
        "CreateSolution",
        name="bench-solution",
        datasetGroupArn=group,
        recipeArn=RECIPE,
        eventType="RATING",
        performAutoTraining=False,
    )["solutionArn"]
    wait_active(engine, "DescribeSolution", "solution", solutionArn=solution)
    version = call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    wait_active(
        engine, "DescribeSolutionVersion", "solutionVersion", solutionVersionArn=version
    )
    campaign = call(
        "CreateCampaign",
        name="bench-campaign",
        solutionVersionArn=version,
        minProvisionedTPS=1,
    )["campaignArn"]
    wait_active(engine, "DescribeCampaign", "campaign", campaignArn=campaign)
    tracker = call("CreateEventTracker", name="bench-tracker", datasetGroupArn=group)
    wait_active(
        engine,
        "DescribeEventTracker",
        "eventTracker",
        eventTrackerArn=tracker["eventTrackerArn"],
    )
    return {"campaignArn": campaign, "trackingId": tracker["trackingId"]}


def queries(data: Path, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` queries over the file's users (repeats allowed) and the four cabins."""
    users = pd.read_csv(data, usecols=["USER_ID"], dtype=str)["USER_ID"].unique()
    rng = random.Random(seed)
    return [
        {
            "userId": str(rng.choice(users)),
            "numResults": 25,
            "context": {"CABIN_TYPE": rng.choice(CABINS)},
        }
        for _ in range(count)
    ]


# ---- measurements ----------------------------------------------------------------


def timed(calls: Sequence[Callable[[], Any]]) -> list[float]:
    """Seconds per call, in order."""
    out = []
    for call in calls:
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def summary(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p50 = ms[len(ms) // 2]
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  mean {statistics.fmean(ms):6.2f} ms"


def latency(engine: LocalEngine, campaign: str, qs: list[dict[str, Any]]) -> None:
    import boto3

    from airctx.engine.inprocess import attach

    runtime = boto3.session.Session(
        aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION
    ).client("personalize-runtime")
    attach(runtime, engine)
    requests = [dict(q, campaignArn=campaign) for q in qs]
    # One call each loads the model and warms botocore's caches.
    engine.call("personalize-runtime", "GetRecommendations", requests[0])
    runtime.get_recommendations(**requests[0])
    direct = timed(
        [
            functools.partial(
                engine.call, "personalize-runtime", "GetRecommendations", r
            )
            for r in requests
        ]
    )
    through = timed(
        [functools.partial(runtime.get_recommendations, **r) for r in requests]
    )
    ratio = statistics.median(through) / statistics.median(direct)
    print(f"\nGetRecommendations, {len(requests)} queries, numResults 25")
    print(f"  engine.call (baseline)   {summary(direct)}")
    print(f"  boto3 in-process         {summary(through)}")
    print(f"  boto3 / baseline (p50)   {ratio:.2f}x")


def serve_throughput(
    state: Path,
    campaign: str,
    qs: list[dict[str, Any]],
    levels: list[int],
    per_level: int,
    seconds: float,
) -> None:
    import boto3
    from botocore.config import Config

    config = state / "bench.yaml"
    config.write_text(
        f"project: bench\nstate_dir: {state}\nregion: {REGION}\n", encoding="utf-8"
    )
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airctx",
            "--config",
            str(config),
            "serve",
            "--port",
            str(port),
            "--access-key-id",
            KEY,
            "--secret-access-key",
            SECRET,
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        if "serving" not in line:
            raise SystemExit(f"airctx serve did not start: {line}")
        url = f"http://127.0.0.1:{port}"
        session = boto3.session.Session(
            aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION
        )
        pool_config = Config(retries={"max_attempts": 1}, max_pool_connections=4)
        print(
            f"\nairctx serve (SigV4 on, own process), {per_level} requests per level "
            f"or {seconds:.0f} s at most"
        )
        for clients in levels:
            made = [
                session.client(
                    "personalize-runtime", endpoint_url=url, config=pool_config
                )
                for _ in range(clients)
            ]
            for client in made:  # connect and load the model before timing
                client.get_recommendations(campaignArn=campaign, **qs[0])
            latencies, wall = _drive(made, campaign, qs, per_level, seconds)
            print(
                f"  {clients:2d} client(s): {len(latencies) / wall:7.1f} req/s   "
                f"{summary(latencies)}"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)


def _drive(
    clients: list[Any],
    campaign: str,
    qs: list[dict[str, Any]],
    total: int,
    seconds: float,
) -> tuple[list[float], float]:
    """Spread ``total`` queries over the clients' threads; latencies and wall time."""
    counter = iter(range(total))
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    latencies: list[float] = []

    def worker(client: Any) -> None:
        while time.monotonic() < deadline:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            started = time.perf_counter()
            client.get_recommendations(campaignArn=campaign, **qs[n % len(qs)])
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(worker, clients))
    return latencies, time.perf_counter() - started


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _NoSyncStore(Store):
    """The engine's store with synchronous=OFF: commits reach the OS, not the disk."""

    def _connection(self, *, create: bool = False) -> sqlite3.Connection:
        fresh = getattr(self._local, "conn", None) is None
        conn = super()._connection(create=create)
        if fresh:
            conn.execute("PRAGMA synchronous=OFF")
        return conn


def events_throughput(
    engine: LocalEngine,
    tracking_id: str,
    users: list[str],
    items: list[str],
    total: int,
) -> None:
    rng = random.Random(3)
    baseline = Runtime(_NoSyncStore(engine.root), engine.arns)
    print(f"\nPutEvents, about {total} events per run, straight into Runtime.PutEvents")
    for batch in (1, 10):
        for label, runtime in (
            ("synchronous=FULL", engine.runtime),
            ("synchronous=OFF ", baseline),
        ):
            calls = []
            for n in range(max(1, total // batch)):
                events = [
                    {
                        "eventType": "RATING",
                        "itemId": rng.choice(items),
                        "eventValue": 8.0,
                        "sentAt": time.time(),
                        "properties": json.dumps({"cabinType": rng.choice(CABINS)}),
                    }
                    for _ in range(batch)
                ]
                params = {
                    "trackingId": tracking_id,
                    "userId": rng.choice(users),
                    "sessionId": f"bench-{n}",
                    "eventList": events,
                }
                calls.append(functools.partial(runtime.PutEvents, params))
            spent = sum(timed(calls))
            sent = len(calls) * batch
            print(
                f"  batch {batch:2d}, {label}: {sent / spent:8.0f} events/s "
                f"({len(calls) / spent:6.0f} calls/s)"
            )
    baseline.store.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument(
        "--clients",
        default="1,4",
        help="comma-separated client thread counts for serve",
    )
    parser.add_argument("--serve-requests", type=int, default=600)
    parser.add_argument("--serve-seconds", type=float, default=30.0)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        raise SystemExit(f"{args.data}: not found; pass --data or set AIRCTX_DATA_DIR")

    with tempfile.TemporaryDirectory(prefix="airctx-bench-") as tmp:
        state = Path(tmp)
        engine = LocalEngine(state, region=REGION, runner="thread")
        started = time.perf_counter()
        arns = build(engine, args.data)
        with open(args.data, encoding="utf-8") as fh:
            rows = sum(1 for _ in fh) - 1
        print(
            f"{args.data.name}: {rows} rows; import + training + deploy took "
            f"{time.perf_counter() - started:.1f} s"
        )
        qs = queries(args.data, args.queries, args.seed)
        latency(engine, arns["campaignArn"], qs)
        levels = [int(n) for n in args.clients.split(",") if n.strip()]
        serve_throughput(
            state,
            arns["campaignArn"],
            qs,
            levels,
            args.serve_requests,
            args.serve_seconds,
        )
        frame = pd.read_csv(args.data, usecols=["USER_ID", "ITEM_ID"], dtype=str)
        events_throughput(
            engine,
            arns["trackingId"],
            frame["USER_ID"].unique().tolist(),
            frame["ITEM_ID"].unique().tolist(),
            args.events,
        )
        engine.close()


if __name__ == "__main__":
    main()
