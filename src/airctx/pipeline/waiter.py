"""The one waiter every asynchronous Personalize resource goes through.

botocore ships no waiters for Personalize, so this one polls a describe call until a
terminal state, backing off from ``poll_seconds`` to ``max_poll_seconds``, reports
one line per state change with the elapsed time, gives up after an overall timeout,
and on a failed state raises with the service's own ``failureReason``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airctx.errors import ResourceError, ResourceFailed, WaitTimeout

log = logging.getLogger(__name__)

ACTIVE = "ACTIVE"
IN_FLIGHT = ("CREATE PENDING", "CREATE IN_PROGRESS")
FAILED = ("CREATE FAILED", "DELETE FAILED", "UPDATE FAILED", "CREATE STOPPED")
Describe = Callable[[], Mapping[str, Any] | None]
StateReport = Callable[[str, str, str, float], None]


@dataclass
class Waiter:
    """Polls with backoff; ``sleep`` and ``clock`` are injectable for tests."""

    poll_seconds: float = 1.0
    max_poll_seconds: float = 30.0
    report: StateReport | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    seen: dict[str, str] = field(default_factory=dict)

    def wait(
        self,
        kind: str,
        arn: str,
        describe: Describe,
        *,
        timeout: float,
        until: tuple[str, ...] = (ACTIVE,),
        status_of: Callable[[Mapping[str, Any]], str] | None = None,
        progress: Callable[[], str | None] | None = None,
    ) -> Mapping[str, Any] | None:
        """Poll ``describe`` until the status is in ``until``.

        ``describe`` returns the resource document, or None once the resource no
        longer exists (which is the goal when ``until`` is ``("DELETED",)``).
        ``progress``, where the backend can tell it, says what the job is doing; a
        change of it is reported like a change of status.
        """
        start = self.clock()
        delay = self.poll_seconds
        last = None
        while True:
            document = describe()
            status = "DELETED" if document is None else _status(document, status_of)
            elapsed = self.clock() - start
            doing = (
                progress() if progress is not None and document is not None else None
            )
            shown = f"{status} ({doing})" if doing and status not in until else status
            if shown != last:
                log.debug("%s %s is %s after %.1fs", kind, arn, shown, elapsed)
                if self.report is not None:
                    self.report(kind, arn, shown, elapsed)
                last = shown
            if status in until:
                return document
            if document is None:
                raise ResourceError(
                    f"{kind} {arn} no longer exists; it was deleted while airctx "
                    "waited for it to become " + " or ".join(until)
                )
            if status in FAILED or (status == "ACTIVE" and "DELETED" in until):
                # A failed campaign update keeps the campaign ACTIVE; its reason is
                # on the update.
                update = document.get("latestCampaignUpdate") or {}
                reason = document.get("failureReason") or update.get("failureReason")
                if status == "ACTIVE":
                    reason = reason or "the deletion was rejected"
                raise ResourceFailed(arn, status, reason)
            if elapsed >= timeout:
                raise WaitTimeout(
                    f"{kind} {arn} is still {status} after {seconds(elapsed)} (the "
                    f"timeout for {kind} is {seconds(timeout)}); run `airctx wait` "
                    "(with --timeout SECONDS for a longer wait) to keep waiting, or "
                    "raise waits.timeouts in the configuration"
                )
            self.sleep(min(delay, max(0.0, timeout - elapsed)))
            delay = min(delay * 1.5, self.max_poll_seconds)


def seconds(value: float) -> str:
    """``0.5s``, ``7.5s``, ``20s``: whole seconds only where a fraction is noise."""
    if value >= 10:
        return f"{value:.0f}s"
    return f"{value:.2g}s"


def _status(
    document: Mapping[str, Any], status_of: Callable[[Mapping[str, Any]], str] | None
) -> str:
    if status_of is not None:
        return status_of(document)
    return str(document.get("status", "UNKNOWN"))
