"""The ``personalize-runtime`` and ``personalize-events`` operations.

Serving loads a campaign's model once per process (keyed by its directory) and
answers from memory. Events recorded with PutEvents are stored durably and, for the
user they concern, fed to the model at query time, so recommendations follow them
without retraining; the next training includes them in the interactions. Like
training, the query keeps only the events of the solution's eventType that reach its
eventValueThreshold.

Scores follow Personalize's rules (see :func:`relative_scores`): a
user-personalization answer's scores are shares of one over the whole catalogue, a
personalized ranking's over the items given; recipes Personalize answers without
scores (SIMS, Popularity-Count) get none.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airctx.engine import filters
from airctx.engine.arns import Arns
from airctx.engine.catalog import recipe_by_arn
from airctx.engine.errors import InvalidInput, ResourceNotFound
from airctx.engine.recipes.base import LiveEvent, Query, Recommender
from airctx.engine.store import Resource, Store
from airctx.engine.trained_events import event_filters, keeps_event

log = logging.getLogger(__name__)

MAX_RESULTS = 500
# Asking a recipe for this many items returns its whole catalogue, ranked.
EVERY_ITEM = sys.maxsize
# Personalize returns scores with seven decimals.
SCORE_DIGITS = 7
MAX_CONTEXT = 150
MAX_PROPERTIES = 1024
FORBIDDEN_PROPERTIES = {
    "userId",
    "sessionId",
    "eventType",
    "timestamp",
    "recommendationId",
    "impression",
}


def _camel(name: str) -> str:
    from airctx.data.schema import camel_case

    return camel_case(name)


class Runtime:
    """GetRecommendations, GetPersonalizedRanking, PutEvents, PutUsers, PutItems.

    It sees only the resources of its own region and account (``arns``).
    """

    def __init__(self, store: Store, arns: Arns) -> None:
        self.store = store
        self.arns = arns
        self._models: dict[str, tuple[float, Recommender]] = {}
        self._lock = threading.Lock()

    # -- serving -------------------------------------------------------------------

    def _own(self, arn: Any, kind: str, what: str) -> Resource:
        """The ``kind`` resource at ``arn`` in this region; ResourceNotFound if none."""
        found = self.store.get(arn) if self.arns.owns(arn) else None
        if found is None or found.type != kind:
            raise self.arns.not_here(str(arn), what)
        return found

    def _campaign(self, params: Mapping[str, Any]) -> tuple[Resource, Resource]:
        if params.get("recommenderArn"):
            raise InvalidInput(
                "Recommenders (domain dataset groups) are not supported locally"
            )
        arn = params.get("campaignArn")
        if not arn:
            raise InvalidInput("campaignArn is required")
        campaign = self._own(arn, "campaign", "campaign")
        if campaign.status != "ACTIVE":
            raise InvalidInput(f"Campaign {arn} is {campaign.status}, not ACTIVE")
        version = self.store.get(campaign.body["solutionVersionArn"])
        if version is None or version.status != "ACTIVE":
            raise ResourceNotFound(
                f"Solution version {campaign.body['solutionVersionArn']} of campaign "
                f"{arn} is not available"
            )
        return campaign, version

    def model(self, version: Resource) -> Recommender:
        from airctx.engine.recipes import recipe_class

        model_dir = Path(version.body["_modelDir"])
        key = str(model_dir)
        stamp = model_dir.stat().st_mtime
        with self._lock:
            cached = self._models.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        info = recipe_by_arn(version.body["recipeArn"])
        model = recipe_class(info.name if info else "").load(model_dir)
        with self._lock:
            self._models[key] = (stamp, model)
        return model

    def _query(self, version: Resource, user_id: str | None, context: Any) -> Query:
        if context is not None and (
            not isinstance(context, dict) or len(context) > MAX_CONTEXT
        ):
            raise InvalidInput(
                f"context must be a map of at most {MAX_CONTEXT} entries"
            )
        live: list[LiveEvent] = []
        metadata = None
        group = version.body["datasetGroupArn"]
        if user_id:
            rows = self.store.events_for_user(
                group, user_id, int(version.body.get("_eventWatermark", 0))
            )
            fields = self._interaction_fields(group)
            # The model sees only the events its training kept, so a click cannot
            # move an item in a solution trained on ratings; filters see them all.
            wanted = event_filters(version.body)
            for row in rows:
                if not row["item_id"] or not keeps_event(
                    row["event_type"], row["event_value"], *wanted
                ):
                    continue
                props = json.loads(row["properties"] or "{}")
                live.append(
                    LiveEvent(
                        item_id=row["item_id"],
                        timestamp=row["sent_at"],
                        event_type=row["event_type"],
                        event_value=row["event_value"],
                        context={f: props[c] for c, f in fields.items() if c in props},
                    )
                )
            users = self.store.list("dataset", group, prefix=self.arns.prefix)
            for dataset in users:
                if dataset.body["datasetType"] == "USERS":
                    record = self.store.live_record(dataset.arn, user_id)
                    if record is not None:
                        by_camel = self._fields(dataset)
                        metadata = {
                            by_camel[k]: v for k, v in record.items() if k in by_camel
                        }
        return Query(
            user_id=user_id,
            context=dict(context or {}),
            live_events=live,
            user_metadata=metadata,
        )

    def _fields(self, dataset: Resource) -> dict[str, str]:
        """camelCase property name -> schema field name, for one dataset."""
        from airctx.data.schema import spec_from_avro

        schema = self.store.get(dataset.body["schemaArn"])
        if schema is None:
            return {}
        spec = spec_from_avro(schema.body["schema"], dataset.body["datasetType"])
        return {_camel(f.name): f.name for f in spec.fields}

    def _interaction_fields(self, group: str) -> dict[str, str]:
        for dataset in self.store.list("dataset", group, prefix=self.arns.prefix):
            if dataset.body["datasetType"] == "INTERACTIONS":
                return self._fields(dataset)
        return {}

    def GetRecommendations(self, params: Mapping[str, Any]) -> dict[str, Any]:
        _campaign, version = self._campaign(params)
        info = recipe_by_arn(version.body["recipeArn"])
        num = params.get("numResults", 25)
        if not isinstance(num, int) or not 1 <= num <= MAX_RESULTS:
            raise InvalidInput(f"numResults must be from 1 to {MAX_RESULTS}")
        model = self.model(version)
        scored = info is not None and info.scored
        if info is not None and info.recipe_type == "RELATED_ITEMS":
            item_id = params.get("itemId")
            if not item_id:
                raise InvalidInput("itemId is required for a related-items campaign")
            ranked = model.similar_items(item_id, MAX_RESULTS)
        elif info is not None and info.recipe_type == "PERSONALIZED_RANKING":
            raise InvalidInput(
                "This campaign uses a personalized-ranking recipe; call "
                "GetPersonalizedRanking instead"
            )
        else:
            user_id = params.get("userId")
            if not user_id:
                raise InvalidInput(
                    "userId is required for a user-personalization campaign"
                )
            query = self._query(version, user_id, params.get("context"))
            # Scores are shares of the whole catalogue, so every item is scored;
            # a filter may also remove any number of the best items.
            every = scored or params.get("filterArn")
            ranked = model.recommend(query, EVERY_ITEM if every else num)
            if scored:
                ranked = relative_scores(ranked)
        if params.get("filterArn"):
            ranked = self._filter(version, params, ranked)
        items = [_predicted(item, score, scored) for item, score in ranked[:num]]
        return {"itemList": items, "recommendationId": f"RID-{uuid.uuid4()}"}

    def GetPersonalizedRanking(self, params: Mapping[str, Any]) -> dict[str, Any]:
        _campaign, version = self._campaign(params)
        info = recipe_by_arn(version.body["recipeArn"])
        if info is None or info.recipe_type != "PERSONALIZED_RANKING":
            raise InvalidInput(
                "GetPersonalizedRanking needs a campaign of a personalized-ranking "
                "recipe (aws-personalized-ranking)"
            )
        items = params.get("inputList") or []
        if not 1 <= len(items) <= MAX_RESULTS:
            raise InvalidInput(f"inputList must hold 1 to {MAX_RESULTS} item ids")
        query = self._query(version, params.get("userId"), params.get("context"))
        model = self.model(version)
        ranked = model.rank(query, items)
        if info.scored:
            # Shares of one among the items given; one the model never saw gets 0.
            known = [pair for pair in ranked if model.knows(pair[0])]
            unseen = [(item, 0.0) for item, _s in ranked if not model.knows(item)]
            ranked = relative_scores(known) + unseen
        if params.get("filterArn"):
            ranked = self._filter(version, params, ranked)
        return {
            "personalizedRanking": [
                _predicted(item, score, info.scored) for item, score in ranked
            ],
            "recommendationId": f"RID-{uuid.uuid4()}",
        }

    def _filter(
        self,
        version: Resource,
        params: Mapping[str, Any],
        ranked: list[tuple[str, float]],
    ) -> list[tuple[str, float]]:
        from airctx.engine.datafiles import dataset_specs, read_parts

        resource = self._own(params["filterArn"], "filter", "filter")
        if resource.status != "ACTIVE":
            raise InvalidInput(
                f"Filter {resource.arn} is {resource.status}, not ACTIVE"
            )
        if resource.body["datasetGroupArn"] != version.body["datasetGroupArn"]:
            raise InvalidInput(
                f"Filter {resource.arn} belongs to another dataset group"
            )
        clauses = filters.parse(resource.body["filterExpression"])
        try:
            values = filters.parse_filter_values(params.get("filterValues") or {})
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        group = version.body["datasetGroupArn"]
        specs = dataset_specs(self.store, group)
        metadata: dict[str, dict[str, Any]] = {}
        if "ITEMS" in specs:
            dataset, spec = specs["ITEMS"]
            frame = read_parts(dataset.body.get("_imports", []), spec)
            metadata = {
                str(r["ITEM_ID"]): {str(k): v for k, v in r.items()}
                for r in frame.to_dict("records")
            }
            # Items sent with PutItems replace their imported metadata at once.
            by_camel = self._fields(dataset)
            for rid, props in self.store.live_records(dataset.arn).items():
                fields = {by_camel[k]: v for k, v in props.items() if k in by_camel}
                metadata[rid] = {**metadata.get(rid, {}), **fields, "ITEM_ID": rid}
        rows: list[dict[str, Any]] = []
        user_id = params.get("userId")
        if user_id and "INTERACTIONS" in specs:
            dataset, spec = specs["INTERACTIONS"]
            frame = read_parts(dataset.body.get("_imports", []), spec)
            rows = frame[frame["USER_ID"] == user_id].to_dict("records")
            by_camel = self._fields(dataset)
            for event in self.store.events_for_user(group, user_id, 0):
                props = json.loads(event["properties"] or "{}")
                rows.append(
                    {
                        **{by_camel[k]: v for k, v in props.items() if k in by_camel},
                        "ITEM_ID": event["item_id"],
                        "EVENT_TYPE": event["event_type"],
                        "EVENT_VALUE": event["event_value"],
                    }
                )
        try:
            allowed = filters.apply(
                clauses,
                values,
                filters.FilterInput([i for i, _ in ranked], metadata, rows),
            )
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        return [(item, score) for item, score in ranked if item in allowed]

    # -- events --------------------------------------------------------------------

    def PutEvents(self, params: Mapping[str, Any]) -> dict[str, Any]:
        import time

        tracking_id = params.get("trackingId")
        tracker = next(
            (
                t
                for t in self.store.list("event-tracker", prefix=self.arns.prefix)
                if t.body.get("trackingId") == tracking_id
            ),
            None,
        )
        if tracker is None:
            raise ResourceNotFound(
                f"No event tracker of region {self.arns.region} has the tracking ID "
                f"{tracking_id}"
            )
        if tracker.status != "ACTIVE":
            raise InvalidInput(
                f"Event tracker {tracker.arn} is {tracker.status}, not ACTIVE"
            )
        events = params.get("eventList") or []
        if not 1 <= len(events) <= 10:
            raise InvalidInput("eventList must hold 1 to 10 events")
        group = tracker.body["datasetGroupArn"]
        allowed = self._interaction_fields(group)
        user_id = params.get("userId") or ""
        session_id = params.get("sessionId")
        if not session_id:
            raise InvalidInput("sessionId is required")
        now = time.time()
        rows = []
        for index, event in enumerate(events):
            where = f"eventList[{index}]"
            if not isinstance(event, dict):
                raise InvalidInput(f"{where} must be an event structure")
            properties = _properties(
                event.get("properties"), where, allowed, forbidden=FORBIDDEN_PROPERTIES
            )
            event_type = event.get("eventType")
            if not isinstance(event_type, str) or not event_type:
                raise InvalidInput(f"{where}.eventType is required")
            sent_at = _number(event.get("sentAt"), f"{where}.sentAt", required=True)
            value = _number(event.get("eventValue"), f"{where}.eventValue")
            rows.append(
                (
                    group,
                    tracking_id,
                    user_id,
                    session_id,
                    event.get("eventId"),
                    event_type,
                    value,
                    event.get("itemId"),
                    sent_at,
                    json.dumps(properties) if properties else None,
                    now,
                )
            )
        self.store.add_events(rows)
        log.debug(
            "recorded %d event(s) for user %s", len(rows), user_id or "(anonymous)"
        )
        return {}

    def _put_records(
        self, params: Mapping[str, Any], kind: str, list_key: str, id_key: str
    ) -> dict[str, Any]:
        import time

        arn = params.get("datasetArn")
        dataset = self._own(arn, "dataset", "dataset")
        if dataset.body["datasetType"] != kind:
            raise InvalidInput(
                f"Dataset {arn} is a {dataset.body['datasetType']} dataset, not {kind}"
            )
        records = params.get(list_key) or []
        if not 1 <= len(records) <= 10:
            raise InvalidInput(f"{list_key} must hold 1 to 10 records")
        allowed = self._fields(dataset)
        out = []
        for index, record in enumerate(records):
            props = _properties(
                record.get("properties"),
                f"{list_key}[{index}]",
                allowed,
                forbidden={id_key},
            )
            out.append((record[id_key], json.dumps(props)))
        self.store.put_live_records(dataset.arn, out, time.time())
        return {}

    def PutUsers(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._put_records(params, "USERS", "users", "userId")

    def PutItems(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._put_records(params, "ITEMS", "items", "itemId")


def relative_scores(ranked: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """``ranked`` with its scores turned into shares of one, in the same order.

    Personalize scores user-personalization recommendations relative to each other
    over the whole catalogue, and a personalized ranking over the items given: a
    softmax of the model's scores, each in [0, 1] and all summing to 1. The local
    recipes' scores serve as the softmax's inputs; a softmax keeps their order.
    """
    if not ranked:
        return []
    import numpy as np

    raw = np.fromiter((s for _i, s in ranked), dtype=np.float64, count=len(ranked))
    # Shifted by the maximum so that exp cannot overflow; the shares are the same.
    shares = np.exp(raw - raw.max())
    shares /= shares.sum()
    return [
        (item, share) for (item, _s), share in zip(ranked, shares.tolist(), strict=True)
    ]


def _predicted(item: str, score: float, scored: bool) -> dict[str, Any]:
    """One entry of an answer's item list; without a score for unscored recipes."""
    if not scored:
        return {"itemId": item}
    return {"itemId": item, "score": round(score, SCORE_DIGITS)}


def _number(value: Any, where: str, *, required: bool = False) -> float | None:
    """A numeric request field (botocore sends floats, or datetimes as epoch)."""
    if value is None:
        if required:
            raise InvalidInput(f"{where} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{where} must be a number, not {value!r}")
    return float(value)


def _properties(
    text: Any, where: str, allowed: Mapping[str, str], *, forbidden: set[str]
) -> dict[str, Any]:
    """Parse a ``properties`` JSON string and check its keys against the schema."""
    if text is None:
        return {}
    if not isinstance(text, str) or len(text) > MAX_PROPERTIES:
        raise InvalidInput(
            f"{where}.properties must be a JSON string of at most {MAX_PROPERTIES} "
            "characters"
        )
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{where}.properties is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}.properties must be a JSON object")
    for key in value:
        if key in forbidden:
            raise InvalidInput(f"{where}.properties must not contain the key {key!r}")
        if key not in allowed:
            raise InvalidInput(
                f"{where}.properties has the key {key!r}, which matches no field of "
                "the dataset's schema; valid keys are camelCase field names: "
                + ", ".join(sorted(k for k in allowed if k not in forbidden))
            )
    return value
