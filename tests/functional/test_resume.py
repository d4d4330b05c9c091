"""`airctx run` killed at any point, then run again, finishes the job.

Each case starts `airctx run` in its own process, SIGKILLs it when a given progress
line appears (or after a delay), runs it again and checks that the project ends with
exactly one of everything and answers queries. The engine's workers are detached
processes, so a job that was under way when the CLI died carries on and is found
by name on the second run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import REPO, sample_project

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.fixture
def config(tmp_path: Path, skytrax: Path) -> Path:
    return sample_project(
        tmp_path,
        skytrax,
        {"max_training_jobs: 6": "max_training_jobs: 2"},
        "\nwaits:\n  poll_seconds: 0.2\n  max_poll_seconds: 1\n",
    )


def airctx(config: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "airctx", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def kill_when(proc: subprocess.Popen[str], marker: str) -> list[str]:
    """SIGKILL ``proc`` as soon as a stderr line contains ``marker``."""
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if marker in line:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    return seen


def finish(config: Path, *args: str) -> str:
    proc = airctx(config, *args)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return out


@pytest.mark.parametrize(
    "marker",
    [
        "[2/5] import",
        "import INTERACTIONS: started",
        "training started",
        "[4/5] deploy",
    ],
    ids=["before-import", "during-import", "during-training", "before-deploy"],
)
def test_run_killed_at_a_progress_line_finishes_when_run_again(
    config: Path, marker: str
) -> None:
    seen = kill_when(airctx(config, "run"), marker)
    assert any(marker in line for line in seen), "".join(seen)

    check_finished(config)


def test_run_killed_after_a_delay_finishes_when_run_again(config: Path) -> None:
    proc = airctx(config, "run")
    time.sleep(3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)

    check_finished(config)


def check_finished(config: Path) -> None:
    result = json.loads(finish(config, "run", "--output", "json"))
    assert len(result["samples"]) == 2
    assert all(len(s["itemList"]) == 10 for s in result["samples"])

    rows = json.loads(finish(config, "status", "--output", "json"))
    counts = Counter(r["type"] for r in rows)
    assert counts["dataset-group"] == counts["solution"] == counts["campaign"] == 1
    assert counts["event-tracker"] == 1
    assert counts["solution-version"] == 1
    assert counts["import-job"] == 2
    assert all(r["status"] in ("ACTIVE", "-") for r in rows), rows
