"""Which events a solution learns from: its eventType and eventValueThreshold.

Training filters the interactions with these settings and serving filters the
events recorded since training with the same rule, so the two agree. Kept free of
pandas and the training code, which serving does not load.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def event_filters(version: Mapping[str, Any]) -> tuple[str | None, float | None]:
    """The eventType and eventValueThreshold a solution (version) trains with."""
    config = version.get("solutionConfig") or {}
    threshold = config.get("eventValueThreshold")
    event_type = version.get("eventType")
    return (
        str(event_type) if event_type else None,
        float(threshold) if threshold is not None else None,
    )


def keeps_event(
    event_type: str,
    event_value: float | None,
    want_type: str | None,
    threshold: float | None,
) -> bool:
    """Whether training would keep one event (the rule of ``filter_events``)."""
    if want_type and event_type != want_type:
        return False
    if threshold is not None:
        return event_value is not None and event_value >= threshold
    return True
