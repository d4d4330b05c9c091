"""Recommend, rank and track events: the runtime side of the pipeline.

Context keys are checked against the context fields the interactions dataset
declares before any call is made; event properties are sent under the camelCase
names Personalize expects.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airctx.aws.errors import translate_errors
from airctx.errors import ContextError
from airctx.pipeline.deploy import campaign_arn, ensure_event_tracker
from airctx.pipeline.project import Project

log = logging.getLogger(__name__)


@dataclass
class Recommendations:
    user_id: str
    context: dict[str, str]
    items: list[tuple[str, float]]
    recommendation_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "userId": self.user_id,
            "context": self.context,
            "recommendationId": self.recommendation_id,
            "itemList": [{"itemId": i, "score": s} for i, s in self.items],
        }


def check_context(project: Project, context: Mapping[str, str]) -> dict[str, str]:
    declared = project.settings.interactions.context_fields
    for key in context:
        if key not in declared:
            known = ", ".join(declared) or "none"
            raise ContextError(
                f"context key {key!r} is not a context field of the interactions schema "
                f"(declared: {known}); context keys are schema field names, e.g. "
                f"{declared[0] if declared else 'CABIN_TYPE'}=VALUE"
            )
    return dict(context)


def recommend(
    project: Project, user_id: str, context: Mapping[str, str], num_results: int = 10,
    *, filter_arn: str | None = None, filter_values: Mapping[str, str] | None = None,
) -> Recommendations:
    ctx = check_context(project, context)
    arn = campaign_arn(project)
    params: dict[str, Any] = {"campaignArn": arn, "userId": user_id, "numResults": num_results}
    if ctx:
        params["context"] = ctx
    if filter_arn:
        params["filterArn"] = filter_arn
        params["filterValues"] = dict(filter_values or {})
    with translate_errors(arn):
        answer = project.clients.runtime.get_recommendations(**params)
    items = [(i["itemId"], float(i.get("score", 0.0))) for i in answer["itemList"]]
    return Recommendations(user_id, ctx, items, answer.get("recommendationId", ""))


def rank(
    project: Project, user_id: str, items: Sequence[str], context: Mapping[str, str]
) -> Recommendations:
    ctx = check_context(project, context)
    arn = campaign_arn(project)
    params: dict[str, Any] = {"campaignArn": arn, "userId": user_id, "inputList": list(items)}
    if ctx:
        params["context"] = ctx
    with translate_errors(arn):
        answer = project.clients.runtime.get_personalized_ranking(**params)
    ranked = [(i["itemId"], float(i.get("score", 0.0))) for i in answer["personalizedRanking"]]
    return Recommendations(user_id, ctx, ranked, answer.get("recommendationId", ""))


def camel_case(name: str) -> str:
    from airctx.data.schema import camel_case as convert

    return convert(name)


def track_event(
    project: Project, user_id: str, item_id: str, event_type: str,
    value: float | None, context: Mapping[str, str], session_id: str | None = None,
) -> dict[str, Any]:
    """Record one event with its context through the project's event tracker."""
    ctx = check_context(project, context)
    _tracker, tracking_id = ensure_event_tracker(project)
    event: dict[str, Any] = {
        "eventType": event_type, "itemId": item_id, "sentAt": time.time(),
        "eventId": str(uuid.uuid4()),
    }
    if value is not None:
        event["eventValue"] = float(value)
    if ctx:
        event["properties"] = json.dumps({camel_case(k): v for k, v in ctx.items()})
    session = session_id or f"{user_id}-{uuid.uuid4().hex[:12]}"
    with translate_errors(f"event tracker {tracking_id}"):
        project.clients.events.put_events(
            trackingId=tracking_id, userId=user_id, sessionId=session, eventList=[event]
        )
    return {"trackingId": tracking_id, "sessionId": session, "event": event}
