"""Several airctx processes on one project at the same moment (two CI jobs, or
three terminals): each finishes, adopting what the others created or started, and
the project ends with one of everything."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import sample_project
from tests.functional.test_resume import airctx, finish

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.fixture
def config(tmp_path: Path, skytrax: Path) -> Path:
    return sample_project(
        tmp_path,
        skytrax,
        {"max_training_jobs: 6": "max_training_jobs: 2"},
        "\nwaits:\n  poll_seconds: 0.2\n  max_poll_seconds: 1\n",
    )


def all_at_once(config: Path, *args: str, count: int = 3) -> list[str]:
    """Start ``count`` processes together; the stderr of each, all exit codes 0."""
    procs = [airctx(config, *args) for _ in range(count)]
    errors = []
    for proc in procs:
        _out, err = proc.communicate(timeout=600)
        errors.append(err)
    codes = [p.returncode for p in procs]
    assert codes == [0] * count, "\n---\n".join(errors)
    return errors


def test_three_runs_and_three_deploys_at_once_all_succeed(config: Path) -> None:
    all_at_once(config, "run", "-q")
    finish(config, "train", "--retrain", "-q")

    errors = all_at_once(config, "deploy")

    # One of them updated the campaign; the others found the update under way.
    joined = "".join(errors)
    assert joined.count(": updating to ") == 1, joined
    rows = json.loads(finish(config, "status", "--output", "json"))
    counts = Counter(r["type"] for r in rows)
    assert counts["campaign"] == counts["event-tracker"] == 1
    assert counts["import-job"] == 2
    assert counts["solution-version"] == 2
    assert all(r["status"] in ("ACTIVE", "-") for r in rows), rows
    newest = json.loads(finish(config, "deploy", "--output", "json"))
    assert newest["changed"] is False
