"""Jobs whose worker process is killed are resumed, or failed with a reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from airctx.engine.core import LocalEngine
from airctx.engine.jobs import MAX_ATTEMPTS, recover
from airctx.engine.store import Store
from tests.unit.test_engine_fixture import RECIPE, Group, build_group, clients

# A worker that claims its job, marks it IN_PROGRESS and is killed while training.
KILLED_WORKER = """
import os, signal, sys
from pathlib import Path
from airctx.engine.store import Store
from airctx.engine.work import Executor

def die(self, version):
    os.kill(os.getpid(), signal.SIGKILL)

Executor._train = die
Executor(Store(Path(sys.argv[1]))).run(sys.argv[2])
"""

# Loaded by every Python started while HOLD_FILE is set: training waits while the
# file exists, so the test can kill a real worker in the middle of a job.
HOLD_HOOK = """
import os
if os.environ.get("HOLD_FILE"):
    import time
    from airctx.engine import work

    _train = work.Executor._train

    def held(self, version):
        while os.path.exists(os.environ["HOLD_FILE"]):
            time.sleep(0.05)
        return _train(self, version)

    work.Executor._train = held
"""


def until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def queued_version(tmp_path: Path) -> tuple[Group, str]:
    """A dataset group and a solution version whose training job waits in the queue."""
    engine = LocalEngine(tmp_path / "state", runner="thread")
    group = build_group(tmp_path, engine)
    solution = group.pz.create_solution(
        name="s",
        datasetGroupArn=group.group,
        recipeArn=RECIPE,
        performAutoTraining=False,
    )["solutionArn"]
    group.wait()
    engine.control.submit = lambda arn, action: None
    version = group.pz.create_solution_version(solutionArn=solution)[
        "solutionVersionArn"
    ]
    return group, version


def run_killed_worker(engine: LocalEngine, arn: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WORKER, str(engine.store.root), arn],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


def status(group: Group, version: str) -> dict[str, str]:
    return dict(
        group.pz.describe_solution_version(solutionVersionArn=version)[
            "solutionVersion"
        ]
    )


@pytest.mark.slow
def test_a_killed_process_worker_is_resumed_by_the_next_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = LocalEngine(tmp_path / "state", runner="thread")
    group = build_group(tmp_path, engine)
    solution = group.pz.create_solution(
        name="s",
        datasetGroupArn=group.group,
        recipeArn=RECIPE,
        performAutoTraining=False,
    )["solutionArn"]
    group.wait()
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(HOLD_HOOK)
    hold = tmp_path / "hold"
    hold.touch()
    # Keep whatever path the test run itself uses (an installed package needs none).
    inherited = os.environ.get("PYTHONPATH")
    path = f"{hooks}{os.pathsep}{inherited}" if inherited else str(hooks)
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("HOLD_FILE", str(hold))

    # The default runner starts a detached worker; kill it in the middle of training.
    first = LocalEngine(tmp_path / "state")
    pz, _, _ = clients(first)
    version = pz.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    until(lambda: status(group, version)["status"] == "CREATE IN_PROGRESS", "training")
    job = first.store.job(version)
    assert job is not None and job.state == "running" and job.owner_pid
    os.kill(job.owner_pid, signal.SIGKILL)
    until(lambda: not _alive(job.owner_pid or 0), "the worker to die")
    assert status(group, version)["status"] == "CREATE IN_PROGRESS"

    # The next engine to start finds the job orphaned and runs it again.
    hold.unlink()
    LocalEngine(tmp_path / "state")
    until(
        lambda: status(group, version)["status"] != "CREATE IN_PROGRESS", "retraining"
    )
    described = status(group, version)
    assert described["status"] == "ACTIVE", described.get("failureReason")
    assert "failureReason" not in described
    assert group.engine.store.job(version) is None


def _alive(pid: int) -> bool:
    from airctx.engine.jobs import pid_alive

    return pid_alive(pid)


def test_an_interrupted_job_is_resumed_in_a_new_engine(tmp_path: Path) -> None:
    group, version = queued_version(tmp_path)
    run_killed_worker(group.engine, version)
    assert status(group, version)["status"] == "CREATE IN_PROGRESS"

    engine = LocalEngine(tmp_path / "state", runner="thread")
    engine.runner.join()  # type: ignore[attr-defined]
    pz, _, _ = clients(engine)
    described = pz.describe_solution_version(solutionVersionArn=version)[
        "solutionVersion"
    ]
    assert described["status"] == "ACTIVE"


def test_a_job_interrupted_too_often_fails_with_a_reason(tmp_path: Path) -> None:
    group, version = queued_version(tmp_path)
    for _ in range(MAX_ATTEMPTS):
        run_killed_worker(group.engine, version)
    job = group.engine.store.job(version)
    assert job is not None and job.attempts == MAX_ATTEMPTS

    LocalEngine(tmp_path / "state", runner="thread")
    described = status(group, version)
    assert described["status"] == "CREATE FAILED"
    assert described["failureReason"].startswith(
        f"The job was interrupted {MAX_ATTEMPTS} times"
    )
    assert group.engine.store.job(version) is None


def test_an_interrupted_import_is_resumed(tmp_path: Path) -> None:
    engine = LocalEngine(tmp_path / "state", runner="thread")
    group = build_group(tmp_path, engine)
    engine.control.submit = lambda arn, action: None
    job = group.pz.create_dataset_import_job(
        jobName="again",
        datasetArn=group.interactions,
        dataSource={"dataLocation": str(group.data / "interactions.csv")},
        importMode="INCREMENTAL",
    )["datasetImportJobArn"]
    script = KILLED_WORKER.replace("Executor._train = die", "Executor._import = die")
    done = subprocess.run(
        [sys.executable, "-c", script, str(engine.store.root), job],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()

    fresh = LocalEngine(tmp_path / "state", runner="thread")
    fresh.runner.join()  # type: ignore[attr-defined]
    pz, _, _ = clients(fresh)
    described = pz.describe_dataset_import_job(datasetImportJobArn=job)
    assert described["datasetImportJob"]["status"] == "ACTIVE"
    parts = fresh.store.get(group.interactions).body["_imports"]  # type: ignore[union-attr]
    assert len(parts) == 2


class Recording:
    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, arn: str, action: str) -> None:
        self.submitted.append(arn)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_two_engines_recovering_at_once_start_one_worker(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.transaction() as db:
        store.add_job(db, "arn:x", "create", time.time() - 60)
    dead = _dead_pid()
    assert store.claim_job("arn:x", dead, time.time(), lambda pid: False) is not None
    failed: list[str] = []
    first, second = Recording(), Recording()
    recover(store, first, lambda arn, reason: failed.append(arn))
    recover(Store(tmp_path), second, lambda arn, reason: failed.append(arn))
    assert first.submitted == ["arn:x"]
    assert second.submitted == []
    assert failed == []


def test_a_stale_view_of_a_job_cannot_requeue_it(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.transaction() as db:
        store.add_job(db, "arn:x", "create", time.time())
    seen = store.claim_job("arn:x", 111, time.time(), lambda pid: False)
    assert seen is not None
    assert store.requeue_job(seen, time.time())
    assert not store.requeue_job(seen, time.time())


def test_a_job_is_claimed_by_one_worker_only(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.transaction() as db:
        store.add_job(db, "arn:x", "create", time.time())
    store.set_job_owner("arn:x", 222, time.time())

    def alive(pid: int) -> bool:
        return pid in (111, 222)

    # 111 is alive but was not the worker started for the job.
    assert store.claim_job("arn:x", 111, time.time(), alive) is None
    claimed = store.claim_job("arn:x", 222, time.time(), alive)
    assert claimed is not None and claimed.attempts == 1
    assert store.claim_job("arn:x", 222, time.time(), alive) is None
    assert store.claim_job("arn:x", 111, time.time(), alive) is None
    # Recording the owner again after the claim changes nothing.
    store.set_job_owner("arn:x", 111, time.time())
    assert store.job("arn:x").owner_pid == 222  # type: ignore[union-attr]
