"""Asynchronous work of the local engine: imports, training, deployment, deletion.

A create or delete call records the resource as PENDING and queues a job in the
store. A runner executes the job: by default in a detached worker process
(``python -m airctx.engine.worker``), so that training goes on after the CLI that
asked for it has exited, exactly as it does on Amazon Personalize. The worker claims
the job, moves the resource to IN_PROGRESS, does the work and records the terminal
state, heartbeating while it works.

A job whose worker died (killed process, reboot) is found on the next engine start:
it is run again from the beginning, up to ``MAX_ATTEMPTS`` times, and then failed
with a reason that says so.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from airctx.engine.store import Store

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
ORPHAN_SECONDS = 10.0
# A running job whose heartbeat is this old has lost its worker even if a process
# with the worker's pid exists (after a reboot the pid may belong to another one).
STALE_SECONDS = 120.0
MAX_ATTEMPTS = 3


class JobFailed(Exception):
    """The job cannot complete; the message becomes the resource's failureReason."""


class JobStopped(Exception):
    """StopSolutionVersionCreation was called while the job ran."""


class Runner(Protocol):
    def submit(self, arn: str, action: str) -> None: ...


def pid_alive(pid: int | None) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (exited, not yet reaped) is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class ProcessRunner:
    """Runs each job in a detached worker process that outlives its caller."""

    def __init__(self, store: Store, region: str, account_id: str) -> None:
        self.store = store
        self.region = region
        self.account_id = account_id

    def submit(self, arn: str, action: str) -> None:
        log_path = self.store.root / "worker.log"
        with open(log_path, "ab") as log_file:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "airctx.engine.worker",
                    str(self.store.root),
                    self.region,
                    self.account_id,
                    arn,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
                close_fds=True,
            )
        self.store.set_job_owner(arn, proc.pid, time.time())
        log.debug("started worker %d for %s %s", proc.pid, action, arn)


class ThreadRunner:
    """Runs each job in a background thread of this process (tests, ``serve``)."""

    def __init__(self, execute: Callable[[str], None]) -> None:
        self.execute = execute
        self.threads: list[threading.Thread] = []

    def submit(self, arn: str, action: str) -> None:
        thread = threading.Thread(target=self.execute, args=(arn,), daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self, timeout: float = 60.0) -> None:
        for thread in list(self.threads):
            thread.join(timeout)


def recover(store: Store, runner: Runner, fail: Callable[[str, str], None]) -> None:
    """Resume or fail the jobs whose worker is gone (killed process, reboot).

    An interrupted job starts again from the beginning (every job is written to be
    re-run safely) until it has been attempted ``MAX_ATTEMPTS`` times; then its
    resource fails with a reason that says so.
    """
    now = time.time()
    for job in store.open_jobs():
        stale = job.state == "running" and now - (job.heartbeat or 0.0) > STALE_SECONDS
        if job.owner_pid is not None and pid_alive(job.owner_pid) and not stale:
            continue
        # A job just queued (or requeued) may not have its worker recorded yet.
        if (
            job.owner_pid is None
            and now - (job.heartbeat or job.created) < ORPHAN_SECONDS
        ):
            continue
        if job.attempts >= MAX_ATTEMPTS:
            fail(
                job.arn,
                f"The job was interrupted {job.attempts} times (its worker process "
                "stopped before finishing); see worker.log in the engine state "
                "directory",
            )
            continue
        if store.requeue_job(job, now):
            log.warning("resuming interrupted %s job for %s", job.action, job.arn)
            runner.submit(job.arn, job.action)


class Heartbeat:
    """Keeps a job's heartbeat fresh while long work runs in the same process."""

    def __init__(self, store: Store, arn: str) -> None:
        self.store = store
        self.arn = arn
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.store.heartbeat(self.arn, time.time())
            except Exception:  # the heartbeat must never kill the job itself
                log.exception("heartbeat for %s failed", self.arn)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
