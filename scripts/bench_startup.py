"""Whole-process time of `airctx recommend` beside `python -c "import boto3"`.

Both are measured in the same run, alternately, and the median of N runs of each is
printed with their ratio, so the figure means the same on any machine. Needs a
deployed project (`airctx run` first).

Example:
    python scripts/bench_startup.py --config config/airctx.yaml --user ColinPay \
        --context CABIN_TYPE=Economy -n 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        command,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/airctx.yaml")
    parser.add_argument("--user", default="ColinPay")
    parser.add_argument("--context", action="append", default=[])
    parser.add_argument("-n", "--runs", type=int, default=11)
    args = parser.parse_args(argv)

    env = {**os.environ, "PYTHONPATH": str(SRC)}
    recommend = [
        sys.executable,
        "-m",
        "airctx",
        "--config",
        args.config,
        "recommend",
        "--user",
        args.user,
    ]
    for item in args.context or ["CABIN_TYPE=Economy"]:
        recommend += ["--context", item]
    baseline = [sys.executable, "-c", "import boto3"]

    # One unmeasured run of each warms the file cache.
    timed(recommend, env)
    timed(baseline, env)
    ours, theirs = [], []
    for _ in range(args.runs):
        ours.append(timed(recommend, env))
        theirs.append(timed(baseline, env))
    mine, base = statistics.median(ours), statistics.median(theirs)
    print(f"airctx recommend         median {mine * 1000:7.0f} ms  ({args.runs} runs)")
    print(f'python -c "import boto3" median {base * 1000:7.0f} ms  ({args.runs} runs)')
    print(f"ratio                    {mine / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
