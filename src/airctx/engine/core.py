"""The local engine: one object that answers every Personalize operation."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from airctx.engine.arns import Arns
from airctx.engine.control import ControlPlane
from airctx.engine.errors import InvalidInput
from airctx.engine.jobs import ProcessRunner, Runner, ThreadRunner, recover
from airctx.engine.runtime import Runtime
from airctx.engine.store import Store
from airctx.engine.work import Executor

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "000000000000"
# Runtime serves the reads of one service and the writes of the other.
EVENTS_OPERATIONS = ("PutEvents", "PutUsers", "PutItems")
SERVICES = ("personalize", "personalize-runtime", "personalize-events")
RECOVERY_INTERVAL = 2.0


class LocalEngine:
    """Amazon Personalize on this machine, with its state under ``state_dir``.

    ``runner`` is ``"process"`` (the default: jobs run in detached workers that
    outlive the caller, as training on AWS outlives the client that asked for it) or
    ``"thread"`` (jobs run in threads of this process; for tests).

    Several engines may share one ``state_dir``; each sees only the resources of its
    own ``region`` and ``account_id``, as each AWS region holds its own. A region or
    account id that AWS could not have raises ValueError.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        region: str = "us-east-1",
        account_id: str = DEFAULT_ACCOUNT,
        runner: str = "process",
    ) -> None:
        self.arns = Arns(region, account_id)
        self.root = Path(state_dir) / "engine"
        self.store = Store(self.root)
        self.executor = Executor(self.store)
        self.runner: Runner
        if runner == "thread":
            self.runner = ThreadRunner(self.executor.run)
        elif runner == "process":
            self.runner = ProcessRunner(self.store, region, account_id)
        else:
            raise ValueError(f"unknown runner {runner!r}; use 'process' or 'thread'")
        self.control = ControlPlane(self.store, self.arns, self.runner.submit)
        self.runtime = Runtime(self.store, self.arns)
        self._ops: dict[
            tuple[str, str], Callable[[Mapping[str, Any]], dict[str, Any]]
        ] = {}
        for service, target in (
            ("personalize", self.control),
            ("personalize-runtime", self.runtime),
            ("personalize-events", self.runtime),
        ):
            for name in dir(target):
                if name[:1].isupper() and _operation_of(service, name):
                    self._ops[(service, name)] = getattr(target, name)
        recover(self.store, self.runner, self.executor.fail)
        self._last_recovery = time.monotonic()

    def call(
        self, service: str, operation: str, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Answer one API call with the wire document; raises EngineError subclasses."""
        handler = self._ops.get((service, operation))
        if handler is None:
            if service not in SERVICES:
                raise InvalidInput(
                    f"The local engine does not serve the {service} service"
                )
            raise NotImplementedError(
                f"The local engine does not implement {operation}"
            )
        log.debug("%s.%s", service, operation)
        if operation.startswith("Describe"):
            self._recover_now_and_then()
        return handler(params)

    def _recover_now_and_then(self) -> None:
        # A caller killed between queuing a job and starting its worker leaves an
        # orphan that start-up recovery skipped while it was young; whoever polls
        # for it picks it up once it is old enough.
        now = time.monotonic()
        if now - self._last_recovery >= RECOVERY_INTERVAL:
            self._last_recovery = now
            recover(self.store, self.runner, self.executor.fail)

    def progress(self, arn: str) -> str | None:
        """What a job is doing right now (e.g. the HPO trial), or None."""
        resource = self.store.get(arn) if self.arns.owns(arn) else None
        if resource is None:
            return None
        text = resource.body.get("_progress")
        return str(text) if text else None

    def baseline_metrics(self, version_arn: str) -> dict[str, float]:
        """The popularity baseline scored on the same split as the version's metrics."""
        resource = self.store.get(version_arn) if self.arns.owns(version_arn) else None
        if resource is None:
            return {}
        return dict(resource.body.get("_baselineMetrics") or {})

    def close(self) -> None:
        self.store.close()


def _operation_of(service: str, name: str) -> bool:
    """Whether ``name`` is an operation of ``service`` (Runtime serves two services)."""
    if service == "personalize-events":
        return name in EVENTS_OPERATIONS
    if service == "personalize-runtime":
        return name not in EVENTS_OPERATIONS
    return True
