"""The context-aware recipe behind aws-user-personalization and its relatives.

A score for every item is a weighted blend of normalised components (each scaled to a
maximum of 1 so that the weights compare):

- popularity: time-decayed, rating-weighted interaction strength over all events;
- context: the same strength among events recorded with the query's context value
  (e.g. CABIN_TYPE=First Class), smoothed towards overall popularity for rare values;
- metadata: the same strength among users sharing the user's categorical metadata
  values (e.g. USER_RESIDENCE=Norway);
- history: the user's own items, recent ones and ones used in the query's context
  counting more;
- co-occurrence: items used by the same users as the user's items (cosine);
- sequence: items other users used right before or after the user's items (their
  next or previous event), which catches trips reviewed leg by leg;
- item metadata: items sharing categorical metadata values with the user's items.

Events recorded after training (``Query.live_events``) join the user's history at query
time, so they change recommendations without retraining. A user the model never saw is
served from context, metadata and popularity.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import sparse

from airctx.engine.recipes import _common, ranker
from airctx.engine.recipes.base import (
    EVENT_VALUE,
    TIMESTAMP,
    LiveEvent,
    ProgressCallback,
    Query,
    Recommender,
    TrainingData,
)

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

WEIGHTS = (
    "popularity_weight",
    "context_weight",
    "metadata_weight",
    "history_weight",
    "cooccurrence_weight",
    "item_metadata_weight",
    "sequence_weight",
)
_BOUNDS: Mapping[str, tuple[float, float]] = {
    **{name: (0.0, 100.0) for name in WEIGHTS},
    "rating_weight": (0.0, 1.0),
    "recency_half_life_days": (1.0, 36_500.0),
    "context_smoothing": (0.0, 1e6),
    "history_context_boost": (0.0, 100.0),
    "rerank_candidates": (0.0, 10_000.0),
    "rerank_l2": (0.0, 100.0),
    "rerank_rounds": (1.0, 20.0),
    "ease_lambda": (0.0, 1e6),
}
# The second stage needs enough "next interaction" examples to learn from; with
# fewer, the blend alone serves. Beyond the maximum, a random sample is used.
MIN_RANKER_EXAMPLES = 100
MAX_RANKER_EXAMPLES = 5000
# Amazon Personalize's own hyperparameters for these recipes: accepted so that a
# configuration written for AWS trains here too, but they have no local meaning.
_AWS_ONLY = (
    "hidden_dimension",
    "bptt",
    "recency_mask",
    "min_user_history_length_percentile",
    "max_user_history_length_percentile",
    "item_id_hidden_dimension",
    "item_metadata_hidden_dimension",
    "user_history_hidden_dimension",
)


class UserPersonalization(Recommender):
    """Context-, metadata- and history-aware scoring (see the module docstring).

    Hyperparameters (strings, as Personalize passes them):

    - ``popularity_weight``, ``context_weight``, ``metadata_weight``,
      ``history_weight``, ``cooccurrence_weight``, ``item_metadata_weight``,
      ``sequence_weight``: the blend;
    - ``rating_weight`` (0-1): how much EVENT_VALUE scales an event's strength
      (0 counts every event alike, 1 scales by the normalised rating);
    - ``recency_half_life_days``: an event this old counts half as much as a new one;
    - ``context_smoothing``: pseudo-events pulling a context or metadata value's
      distribution towards overall popularity (matters for rare values);
    - ``history_context_boost``: extra weight for history events whose context
      matches the query's.
    """

    RECIPE = "aws-user-personalization"
    AWS_HYPERPARAMETERS = _AWS_ONLY
    HYPERPARAMETER_BOUNDS: ClassVar[Mapping[str, tuple[float, float]]] = _BOUNDS
    # Defaults: rounded from a TPE search (scripts/bench_recipes.py --tune-recipe)
    # on a validation split carved from the training part of the Skytrax
    # interactions, never their test rows; the metadata weights from an earlier
    # search with residence metadata. HPO refines them per dataset.
    DEFAULT_HYPERPARAMETERS: ClassVar[Mapping[str, str]] = {
        "popularity_weight": "0.3",
        "context_weight": "0.75",
        "metadata_weight": "0.4",
        "history_weight": "1.6",
        "cooccurrence_weight": "0.6",
        "item_metadata_weight": "0.3",
        "sequence_weight": "1.2",
        "rating_weight": "0.7",
        "recency_half_life_days": "1400",
        "context_smoothing": "2",
        "history_context_boost": "6",
        "rerank_candidates": "50",
        "rerank_l2": "0.01",
        "rerank_rounds": "1",
        "ease_lambda": "10",
    }
    DEFAULT_HPO_RANGES: ClassVar[Mapping[str, Any]] = {
        "continuousHyperParameterRanges": [
            {"name": "popularity_weight", "minValue": 0.0, "maxValue": 2.0},
            {"name": "context_weight", "minValue": 0.0, "maxValue": 3.0},
            {"name": "metadata_weight", "minValue": 0.0, "maxValue": 3.0},
            {"name": "history_weight", "minValue": 0.0, "maxValue": 3.0},
            {"name": "cooccurrence_weight", "minValue": 0.0, "maxValue": 3.0},
            {"name": "sequence_weight", "minValue": 0.0, "maxValue": 3.0},
            {"name": "history_context_boost", "minValue": 0.0, "maxValue": 10.0},
            {"name": "rating_weight", "minValue": 0.0, "maxValue": 1.0},
            {
                "name": "rerank_l2",
                "minValue": 0.001,
                "maxValue": 1.0,
                "scalingType": "Logarithmic",
            },
            {
                "name": "recency_half_life_days",
                "minValue": 30.0,
                "maxValue": 3650.0,
                "scalingType": "Logarithmic",
            },
            {
                "name": "context_smoothing",
                "minValue": 1.0,
                "maxValue": 1000.0,
                "scalingType": "Logarithmic",
            },
        ],
    }

    def __init__(self) -> None:
        self.hyperparameters: dict[str, str] = {}
        self.params: dict[str, float] = {}
        self.context_fields: tuple[str, ...] = ()
        self.user_fields: tuple[str, ...] = ()
        self.item_fields: tuple[str, ...] = ()
        self.context_values: dict[str, list[str]] = {}
        self.user_values: dict[str, list[str]] = {}
        self.value_range = (0.0, 1.0)
        self.reference_time = 0.0
        self.item_ids = np.array([], dtype=str)
        self.user_ids = np.array([], dtype=str)
        self.popularity = np.zeros(0)
        self.context_tables: dict[str, _common.FloatArray] = {}
        self.metadata_tables: dict[str, _common.FloatArray] = {}
        # Per user metadata field: items x values, the share of each value among
        # the item's users whose value is known (for users whose value is not).
        self.metadata_given_item: dict[str, _common.FloatArray] = {}
        self.user_metadata = np.zeros((0, 0), dtype=np.int64)
        self.event_indptr = np.zeros(1, dtype=np.int64)
        self.event_items = np.zeros(0, dtype=np.int64)
        self.event_times = np.zeros(0)
        self.event_quality = np.zeros(0)
        self.event_context = np.zeros((0, 0), dtype=np.int64)
        self.cooccurrence = sparse.csr_matrix((0, 0))
        self.sequence = sparse.csr_matrix((0, 0))
        self.item_features = sparse.csr_matrix((0, 0))
        self.tables: ranker.ItemTables | None = None
        self.ranker: ranker.LinearRanker | None = None
        self.ranker_examples = 0
        self._reindex()

    # ---- training -------------------------------------------------------------

    def fit(
        self,
        data: TrainingData,
        hyperparameters: Mapping[str, str],
        progress: ProgressCallback | None = None,
    ) -> None:
        """Build the first stage's tables, then learn the second stage (if enabled)."""
        frame = data.interactions
        _common.require_interactions(self.RECIPE, frame)
        missing = [f for f in data.context_fields if f not in frame.columns]
        if missing:
            raise ValueError(
                f"{self.RECIPE}: interactions lack the context column(s) {missing}"
            )
        self.params = _common.parse_hyperparameters(
            self.RECIPE,
            hyperparameters,
            self.DEFAULT_HYPERPARAMETERS,
            _BOUNDS,
            _AWS_ONLY,
        )
        self.hyperparameters = {k: f"{v:g}" for k, v in self.params.items()}
        learned = self._learn_second_stage(data)
        self._fit_tables(data)
        self.ranker = learned
        if learned is None:
            self.tables = None
        if progress is not None:
            progress(
                "fit",
                {
                    "interactions": float(len(frame)),
                    "items": float(self.item_ids.size),
                    "ranker_examples": float(self.ranker_examples),
                },
            )

    def _fit_tables(self, data: TrainingData) -> None:
        """Everything the first stage and the second stage's features read."""
        frame = data.interactions
        self.context_fields = tuple(data.context_fields)
        self.user_fields = tuple(data.user_fields) if data.users is not None else ()
        self.item_fields = tuple(data.item_fields) if data.items is not None else ()

        # Index users (with or without interactions) and items.
        self.item_ids = _common.catalog(frame, data.items)
        known_users = set(frame["USER_ID"].astype(str))
        if data.users is not None:
            known_users.update(data.users.index.astype(str))
        self.user_ids = np.array(sorted(known_users), dtype=str)
        users = np.searchsorted(self.user_ids, frame["USER_ID"].astype(str).to_numpy())
        items = _common.item_positions(frame, self.item_ids)
        n_items = self.item_ids.size

        # Each event's strength: recency decay times rating quality.
        times = frame[TIMESTAMP].to_numpy(dtype=np.float64)
        quality = self._event_quality(frame)
        half_life = self.params["recency_half_life_days"] * _common.SECONDS_PER_DAY
        self.reference_time = _common.reference_time(times)
        age = np.maximum(self.reference_time - times, 0.0)
        strength = 0.5 ** (age / half_life) * quality
        share = np.bincount(items, weights=strength, minlength=n_items).astype(
            np.float64
        )
        share /= share.sum() if share.sum() > 0 else 1.0
        self.popularity = _common.normalise(share)

        # Item strength conditioned on each context value and user metadata value.
        smoothing = self.params["context_smoothing"]
        self.context_values, self.context_tables = {}, {}
        event_context = np.full((len(frame), len(self.context_fields)), -1, np.int64)
        for k, name in enumerate(self.context_fields):
            values, event_codes = _vocabulary(frame[name])
            self.context_values[name] = values
            self.context_tables[name] = _conditional_table(
                event_codes, items, strength, len(values), share, smoothing
            )
            event_context[:, k] = event_codes
        self._fit_user_metadata(data.users, users, items, strength, share)

        # Per-user event history, sorted by user then time, for query-time scoring.
        order = np.lexsort((times, users))
        self.event_indptr = np.concatenate(
            ([0], np.cumsum(np.bincount(users, minlength=self.user_ids.size)))
        ).astype(np.int64)
        self.event_items = items[order]
        self.event_times = times[order]
        self.event_quality = quality[order]
        self.event_context = event_context[order]

        self.cooccurrence = sparse.csr_matrix(
            _common.cooccurrence(users, items, self.user_ids.size, n_items).T
        )
        self.sequence = _common.transitions(users[order], items[order], n_items)
        self.item_features = _item_features(data.items, self.item_fields, self.item_ids)
        self.tables = None
        if self.params["rerank_candidates"] > 0:
            self.tables = ranker.ItemTables.build(
                users,
                items,
                times,
                quality,
                event_context,
                [len(self.context_values[name]) for name in self.context_fields],
                self.user_ids.size,
                n_items,
                self.params["ease_lambda"],
            )
        self._reindex()

    def _learn_second_stage(self, data: TrainingData) -> ranker.LinearRanker | None:
        """Fit the reranker on each user's latest training event, hidden.

        A model of the same kind is trained without those events; its features
        for the hidden event's user and context, over its own candidates, teach
        the ranker which candidate came next. None when disabled or when too
        few users have two or more events.
        """
        self.ranker_examples = 0
        if self.params["rerank_candidates"] <= 0:
            return None
        groups: list[_common.FloatArray] = []
        positives: list[int] = []
        frame = data.interactions.sort_values(["USER_ID", TIMESTAMP], kind="stable")
        for _ in range(int(self.params["rerank_rounds"])):
            is_last = ~frame.duplicated("USER_ID", keep="last").to_numpy()
            size = frame.groupby("USER_ID", sort=False)["USER_ID"].transform("size")
            held = is_last & (size.to_numpy() >= 2)
            if int(held.sum()) < MIN_RANKER_EXAMPLES:
                break
            frame, hidden = frame[~held], frame[held]
            hidden = hidden[hidden["ITEM_ID"].isin(set(frame["ITEM_ID"]))]
            if len(hidden) > MAX_RANKER_EXAMPLES:
                hidden = hidden.sample(MAX_RANKER_EXAMPLES, random_state=0)
            inner = type(self)()
            inner.params = {**self.params}
            inner._fit_tables(
                TrainingData(
                    frame,
                    users=data.users,
                    items=data.items,
                    context_fields=data.context_fields,
                    user_fields=data.user_fields,
                    item_fields=data.item_fields,
                )
            )
            found, rows = inner._examples(hidden)
            groups.extend(found)
            positives.extend(rows)
        self.ranker_examples = len(groups)
        if len(groups) < MIN_RANKER_EXAMPLES:
            logger.info(
                "%s: %d training examples; second stage skipped",
                self.RECIPE,
                len(groups),
            )
            return None
        return ranker.fit_softmax(groups, positives, self.params["rerank_l2"])

    def _examples(
        self, hidden: pd.DataFrame
    ) -> tuple[list[_common.FloatArray], list[int]]:
        """Candidate features per hidden event, and the hidden item's row."""
        k = int(self.params["rerank_candidates"])
        groups: list[_common.FloatArray] = []
        positives: list[int] = []
        tables = self.tables
        if tables is None:
            return groups, positives
        targets = _common.item_positions(hidden, self.item_ids)
        contexts = {
            name: np.where(hidden[name].notna(), hidden[name].astype(str), "")
            for name in self.context_fields
        }
        for row, (user_id, target) in enumerate(
            zip(hidden["USER_ID"].astype(str), targets, strict=True)
        ):
            context = {
                name: str(values[row])
                for name, values in contexts.items()
                if values[row]
            }
            query = Query(user_id, context)
            user = self._users.get(user_id)
            events = self._events(user, query)
            blend, parts = self._blend(user, query, events)
            candidates = _candidates(blend, k)
            found = np.flatnonzero(candidates == target)
            if found.size == 0:
                continue
            groups.append(
                self._features(tables, query, events, blend, parts, candidates)
            )
            positives.append(int(found[0]))
        return groups, positives

    def _event_quality(self, frame: pd.DataFrame) -> _common.FloatArray:
        """1 for every event when ratings are ignored; the scaled rating otherwise."""
        if EVENT_VALUE in frame.columns:
            values = frame[EVENT_VALUE].to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = np.full(len(frame), np.nan)
        self.value_range = _common.value_range(values)
        return self._quality(values)

    def _quality(self, values: _common.FloatArray) -> _common.FloatArray:
        low, high = self.value_range
        if high > low:
            scaled = np.clip((values - low) / (high - low), 0.0, 1.0)
        else:
            scaled = np.ones_like(values)
        # An event without a value is neither good nor bad evidence: neutral weight.
        scaled = np.where(np.isfinite(scaled), scaled, 1.0)
        rating_weight = self.params["rating_weight"]
        result: _common.FloatArray = (1.0 - rating_weight) + rating_weight * scaled
        return result

    def _fit_user_metadata(
        self,
        users_frame: pd.DataFrame | None,
        users: _common.IntArray,
        items: _common.IntArray,
        strength: _common.FloatArray,
        share: _common.FloatArray,
    ) -> None:
        self.user_values, self.metadata_tables = {}, {}
        self.metadata_given_item = {}
        self.user_metadata = np.full((self.user_ids.size, len(self.user_fields)), -1)
        if users_frame is None or not self.user_fields:
            return
        frame = users_frame[~users_frame.index.duplicated(keep="last")]
        positions = np.searchsorted(self.user_ids, frame.index.astype(str).to_numpy())
        for k, name in enumerate(self.user_fields):
            if name not in frame.columns:
                raise ValueError(f"{self.RECIPE}: users data lacks the column {name}")
            values, user_codes = _vocabulary(frame[name])
            self.user_values[name] = values
            self.user_metadata[positions, k] = user_codes
            self.metadata_tables[name] = _conditional_table(
                self.user_metadata[users, k],
                items,
                strength,
                len(values),
                share,
                self.params["context_smoothing"],
            )
            self.metadata_given_item[name] = _values_given_item(
                self.user_metadata[users, k], items, len(values), share.size
            )

    # ---- serving --------------------------------------------------------------

    def _reindex(self) -> None:
        self._items = {str(v): k for k, v in enumerate(self.item_ids)}
        self._users = {str(v): k for k, v in enumerate(self.user_ids)}
        self._context_codes = {
            name: {v: k for k, v in enumerate(values)}
            for name, values in self.context_values.items()
        }
        self._user_codes = {
            name: {v: k for k, v in enumerate(values)}
            for name, values in self.user_values.items()
        }
        self._features_t = sparse.csr_matrix(self.item_features.T)

    def scores(self, query: Query) -> _common.FloatArray:
        """Every catalogue item's score for ``query`` (comparable within one query).

        With a second stage, its candidates score in (1, 2] in its order and every
        other item keeps its first-stage score scaled into [0, 1].
        """
        user = self._users.get(query.user_id) if query.user_id is not None else None
        events = self._events(user, query)
        blend, parts = self._blend(user, query, events)
        if self.ranker is None or self.tables is None:
            return blend
        return self._rerank(self.ranker, self.tables, query, events, blend, parts)

    def _blend(
        self, user: int | None, query: Query, events: _Events
    ) -> tuple[_common.FloatArray, dict[str, _common.FloatArray]]:
        """The first stage: the weighted blend, and the history components."""
        p = self.params
        total = p["popularity_weight"] * self.popularity
        parts: dict[str, _common.FloatArray] = {}
        # A component the query has nothing for (no context, no metadata, no
        # history) is left out rather than replaced by popularity, which would
        # silently raise the popularity weight for exactly those queries.
        context = self._context_component(query.context)
        if context is not None:
            total = total + p["context_weight"] * context
        metadata = self._metadata_component(user, query.user_metadata, events)
        if metadata is not None:
            total = total + p["metadata_weight"] * metadata
            parts["metadata"] = metadata
        history = self._history(events, query)
        if history is None:
            return total, parts
        total = total + p["history_weight"] * _common.normalise(history)
        # The second stage uses these components whatever their blend weight.
        wanted = self.tables is not None
        if (wanted or p["cooccurrence_weight"] > 0) and self.cooccurrence.nnz:
            parts["cooccurrence"] = _common.normalise(self.cooccurrence @ history)
            total = total + p["cooccurrence_weight"] * parts["cooccurrence"]
        if (wanted or p["sequence_weight"] > 0) and self.sequence.nnz:
            parts["sequence"] = _common.normalise(self.sequence @ history)
            total = total + p["sequence_weight"] * parts["sequence"]
        if p["item_metadata_weight"] > 0 and self.item_features.nnz:
            alike = self.item_features @ (self._features_t @ history)
            total = total + p["item_metadata_weight"] * _common.normalise(alike)
        return total, parts

    def _rerank(
        self,
        learned: ranker.LinearRanker,
        tables: ranker.ItemTables,
        query: Query,
        events: _Events,
        blend: _common.FloatArray,
        parts: dict[str, _common.FloatArray],
    ) -> _common.FloatArray:
        candidates = _candidates(blend, int(self.params["rerank_candidates"]))
        peak = float(blend.max())
        result = blend / peak if peak > 0 else blend.copy()
        result = np.minimum(result, 1.0)
        s = learned.score(
            self._features(tables, query, events, blend, parts, candidates)
        )
        gap = float(s.max()) - s
        # Monotone in the ranker's score, above every other item.
        result[candidates] = 1.0 + 1.0 / (1.0 + gap)
        return result

    def _features(
        self,
        tables: ranker.ItemTables,
        query: Query,
        events: _Events,
        blend: _common.FloatArray,
        parts: dict[str, _common.FloatArray],
        candidates: _common.IntArray,
    ) -> _common.FloatArray:
        """The second stage's features (ranker.FEATURES) of the candidate items."""
        n_items = self.item_ids.size
        columns: dict[str, _common.FloatArray] = {}
        zero = np.zeros(candidates.size)
        columns["blend"] = blend[candidates]
        columns["log_popularity"] = np.log(self.popularity[candidates] + ranker.EPS)
        columns["log_recent"] = tables.log_recent[candidates]
        columns["log_idle_days"] = tables.log_idle_days[candidates]
        # Without metadata (known or inferred) the feature takes its metadata-free
        # value, as the context features do.
        columns["log_metadata"] = (
            np.log(parts["metadata"][candidates] + ranker.EPS)
            if "metadata" in parts
            else columns["log_popularity"]
        )
        codes = self._query_codes(query.context)
        log_context, given, quality = [], [], []
        for k, name in enumerate(self.context_fields):
            code = codes[k]
            if code >= 0:
                log_context.append(
                    np.log(self.context_tables[name][code, candidates] + ranker.EPS)
                )
                given.append(tables.context_given_item[k][code, candidates])
                quality.append(tables.context_quality[k][code, candidates])
        if log_context:
            columns["log_context"] = np.mean(log_context, axis=0)
            columns["context_given_item"] = np.mean(given, axis=0)
            columns["context_quality"] = np.mean(quality, axis=0)
        else:
            # Without context, the context features take their context-free
            # values, so the weights learned with context still make sense.
            columns["log_context"] = columns["log_popularity"]
            columns["context_given_item"] = np.ones(candidates.size)
            columns["context_quality"] = tables.item_quality[candidates]

        items, times = events.items, events.times
        # Live events newer than the training data are placed at its end: the
        # tables know nothing later.
        when = (
            min(float(times.max()), tables.latest_time)
            if items.size
            else (tables.latest_time)
        )
        columns["log_near_short"] = tables.near(
            when, ranker.SHORT_WINDOW_DAYS, candidates
        )
        columns["log_near_long"] = tables.near(
            when, ranker.LONG_WINDOW_DAYS, candidates
        )
        if items.size:
            counts = np.bincount(items, minlength=n_items).astype(np.float64)
            asked = codes >= 0
            if asked.any():
                match = (events.contexts[:, asked] == codes[asked]).all(axis=1)
                in_context = np.bincount(items[match], minlength=n_items).astype(
                    np.float64
                )
            else:
                in_context = np.zeros(n_items)
            own = np.bincount(items, weights=events.quality, minlength=n_items)
            latest_item = int(items[np.flatnonzero(times == times.max())[-1]])
            repeat = np.log1p(counts[candidates])
            columns["repeat"] = repeat
            columns["repeat_in_context"] = np.log1p(in_context[candidates])
            columns["is_last"] = (candidates == latest_item).astype(np.float64)
            columns["own_quality"] = own[candidates] / np.maximum(
                counts[candidates], 1.0
            )
            row = self.sequence.getrow(latest_item)
            following = np.zeros(n_items)
            following[row.indices] = row.data
            columns["sequence_last"] = np.log1p(following[candidates])
            if tables.ease.size:
                columns["ease"] = tables.ease[np.unique(items)][:, candidates].sum(
                    axis=0
                )
            columns["repeat_x_activity"] = repeat * np.log1p(items.size)
        for name in ("cooccurrence", "sequence"):
            if name in parts:
                columns[name] = parts[name][candidates]
        return np.column_stack([columns.get(name, zero) for name in ranker.FEATURES])

    def _query_codes(self, context: Mapping[str, str]) -> _common.IntArray:
        """Each context field's value code in the query; -1 when absent or unknown."""
        return np.array(
            [
                self._context_codes[name].get(str(context.get(name)), -1)
                if name in context
                else -1
                for name in self.context_fields
            ],
            dtype=np.int64,
        )

    def _context_component(
        self, context: Mapping[str, str]
    ) -> _common.FloatArray | None:
        """Mean of the tables of the query's known context values; None if none."""
        rows = []
        for name in self.context_fields:
            code = self._context_codes[name].get(str(context.get(name)))
            if code is not None:
                rows.append(self.context_tables[name][code])
        return _mean(rows)

    def _metadata_component(
        self,
        user: int | None,
        override: Mapping[str, str] | None,
        events: _Events | None = None,
    ) -> _common.FloatArray | None:
        """Mean of the tables of the user's metadata values; None if none is known.

        With ``events``, a field whose value is unknown for this user is inferred
        from their items: the tables of every value, weighted by the share of that
        value among the users of those items.
        """
        rows = []
        for k, name in enumerate(self.user_fields):
            code: int | None = None
            if override is not None and name in override:
                code = self._user_codes[name].get(str(override[name]))
            elif user is not None and self.user_metadata[user, k] >= 0:
                code = int(self.user_metadata[user, k])
            if code is not None:
                rows.append(self.metadata_tables[name][code])
            elif events is not None and events.items.size:
                given = self.metadata_given_item.get(name)
                if given is not None and given.size:
                    mix = given[events.items].mean(axis=0)
                    rows.append(_common.normalise(mix @ self.metadata_tables[name]))
        return _mean(rows)

    def _events(self, user: int | None, query: Query) -> _Events:
        """The user's training events followed by the query's live events."""
        if user is not None:
            start, stop = self.event_indptr[user], self.event_indptr[user + 1]
            events = _Events(
                self.event_items[start:stop],
                self.event_times[start:stop],
                self.event_quality[start:stop],
                self.event_context[start:stop],
            )
        else:
            events = _Events(
                np.zeros(0, np.int64),
                np.zeros(0),
                np.zeros(0),
                np.zeros((0, len(self.context_fields)), np.int64),
            )
        live = [e for e in query.live_events if e.item_id in self._items]
        if live:
            events = _Events(
                *self._append_live(
                    live, events.items, events.times, events.quality, events.contexts
                )
            )
        return events

    def _history(self, events: _Events, query: Query) -> _common.FloatArray | None:
        """Decayed, rating- and context-weighted item vector of the user's events."""
        items, times, contexts = events.items, events.times, events.contexts
        if items.size == 0:
            return None

        half_life = self.params["recency_half_life_days"] * _common.SECONDS_PER_DAY
        # Decay from the user's latest event, or from the model's "now" when live
        # events are newer than the training data, so that one event recorded
        # years later does not make the rest of the history look stale.
        now = min(float(times.max()), self.reference_time)
        age = np.maximum(now - times, 0.0)
        weight = 0.5 ** (age / half_life) * events.quality
        wanted = np.array(
            [
                self._context_codes[name].get(str(query.context.get(name)), -2)
                for name in self.context_fields
            ],
            dtype=np.int64,
        )
        if wanted.size and (wanted != -2).any():
            asked = wanted != -2
            match = (contexts[:, asked] == wanted[asked]).mean(axis=1)
            weight = weight * (1.0 + self.params["history_context_boost"] * match)
        history = np.bincount(items, weights=weight, minlength=self.item_ids.size)
        return history.astype(np.float64)

    def _append_live(
        self,
        live: Sequence[LiveEvent],
        items: _common.IntArray,
        times: _common.FloatArray,
        quality: _common.FloatArray,
        contexts: _common.IntArray,
    ) -> tuple[
        _common.IntArray, _common.FloatArray, _common.FloatArray, _common.IntArray
    ]:
        values = np.array(
            [np.nan if e.event_value is None else e.event_value for e in live]
        )
        live_contexts = np.array(
            [
                [
                    self._context_codes[name].get(str(e.context.get(name)), -1)
                    for name in self.context_fields
                ]
                for e in live
            ],
            dtype=np.int64,
        ).reshape(len(live), len(self.context_fields))
        return (
            np.concatenate([items, [self._items[e.item_id] for e in live]]).astype(
                np.int64
            ),
            np.concatenate([times, [float(e.timestamp) for e in live]]),
            np.concatenate([quality, self._quality(values)]),
            np.concatenate([contexts, live_contexts]),
        )

    def knows(self, item_id: str) -> bool:
        return item_id in self._items

    def recommend(
        self, query: Query, num_results: int, exclude: Sequence[str] = ()
    ) -> list[tuple[str, float]]:
        """The best-scoring items for the query's user, context and metadata."""
        excluded = np.array(
            [self._items[i] for i in exclude if i in self._items], dtype=np.int64
        )
        return _common.top_k(self.scores(query), self.item_ids, num_results, excluded)

    def rank(self, query: Query, item_ids: Sequence[str]) -> list[tuple[str, float]]:
        """``item_ids`` best first; items the model never saw go last, as given."""
        scores = self.scores(query)
        known = [
            (i, float(scores[self._items[i]])) for i in item_ids if i in self._items
        ]
        known.sort(key=lambda pair: -pair[1])
        return known + [(i, 0.0) for i in item_ids if i not in self._items]

    # ---- storage --------------------------------------------------------------

    def save(self, directory: Path) -> None:
        arrays: dict[str, npt.NDArray[Any]] = {
            "item_ids": self.item_ids,
            "user_ids": self.user_ids,
            "popularity": self.popularity,
            "user_metadata": self.user_metadata,
            "event_indptr": self.event_indptr,
            "event_items": self.event_items,
            "event_times": self.event_times,
            "event_quality": self.event_quality,
            "event_context": self.event_context,
            **_common.csr_arrays("cooccurrence", self.cooccurrence),
            **_common.csr_arrays("item_features", self.item_features),
            **_common.csr_arrays("sequence", self.sequence),
        }
        if self.tables is not None and self.ranker is not None:
            arrays.update(self.tables.arrays())
            arrays.update(self.ranker.arrays())
        for k, name in enumerate(self.context_fields):
            arrays[f"context_{k}"] = self.context_tables[name]
        for k, name in enumerate(self.user_fields):
            arrays[f"metadata_{k}"] = self.metadata_tables[name]
            arrays[f"metadata_given_item_{k}"] = self.metadata_given_item[name]
        meta = {
            "recipe": self.RECIPE,
            "hyperparameters": self.hyperparameters,
            "context_fields": list(self.context_fields),
            "user_fields": list(self.user_fields),
            "item_fields": list(self.item_fields),
            "context_values": self.context_values,
            "user_values": self.user_values,
            "value_range": list(self.value_range),
            "reference_time": self.reference_time,
            "ranker_features": list(ranker.FEATURES) if self.ranker else [],
            "ranker_examples": self.ranker_examples,
        }
        _common.write_model(directory, arrays, meta)

    @classmethod
    def load(cls, directory: Path) -> UserPersonalization:
        arrays, meta = _common.read_model(directory, cls.RECIPE)
        model = cls()
        # A model saved by an older version lacks newer hyperparameters; their
        # defaults apply (a component the model has no table for scores nothing).
        model.hyperparameters = {
            **cls.DEFAULT_HYPERPARAMETERS,
            **meta["hyperparameters"],
        }
        model.params = {k: float(v) for k, v in model.hyperparameters.items()}
        model.context_fields = tuple(meta["context_fields"])
        model.user_fields = tuple(meta["user_fields"])
        model.item_fields = tuple(meta["item_fields"])
        model.context_values = {k: list(v) for k, v in meta["context_values"].items()}
        model.user_values = {k: list(v) for k, v in meta["user_values"].items()}
        low, high = meta["value_range"]
        model.value_range = (float(low), float(high))
        model.item_ids = arrays["item_ids"].astype(str)
        # Models saved before the reference time was recorded used the newest event.
        model.reference_time = float(
            meta.get("reference_time", arrays["event_times"].max(initial=0.0))
        )
        model.user_ids = arrays["user_ids"].astype(str)
        model.popularity = arrays["popularity"]
        model.user_metadata = arrays["user_metadata"]
        model.event_indptr = arrays["event_indptr"]
        model.event_items = arrays["event_items"]
        model.event_times = arrays["event_times"]
        model.event_quality = arrays["event_quality"]
        model.event_context = arrays["event_context"]
        model.cooccurrence = _common.csr_from("cooccurrence", arrays)
        model.item_features = _common.csr_from("item_features", arrays)
        # Models saved before the sequence component existed still load and serve.
        model.sequence = (
            _common.csr_from("sequence", arrays)
            if "sequence_shape" in arrays
            else sparse.csr_matrix((model.item_ids.size, model.item_ids.size))
        )
        model.context_tables = {
            name: arrays[f"context_{k}"] for k, name in enumerate(model.context_fields)
        }
        model.metadata_tables = {
            name: arrays[f"metadata_{k}"] for k, name in enumerate(model.user_fields)
        }
        # Models saved before metadata inference serve known values only.
        model.metadata_given_item = {
            name: arrays[f"metadata_given_item_{k}"]
            for k, name in enumerate(model.user_fields)
            if f"metadata_given_item_{k}" in arrays
        }
        # The second stage is used only when it was saved with the same features.
        if meta.get("ranker_features") == list(ranker.FEATURES):
            model.ranker = ranker.LinearRanker.from_arrays(arrays)
            model.tables = ranker.ItemTables.from_arrays(
                arrays, len(model.context_fields)
            )
            model.ranker_examples = int(meta.get("ranker_examples", 0))
        model._reindex()
        return model

    def describe(self) -> Mapping[str, Any]:
        return {
            "items": int(self.item_ids.size),
            "users": int(self.user_ids.size),
            "interactions": int(self.event_items.size),
            "context_fields": list(self.context_fields),
            "user_metadata_fields": list(self.user_fields),
            "item_metadata_fields": list(self.item_fields),
            "item_pairs": int(self.cooccurrence.nnz),
            "item_transitions": int(self.sequence.nnz),
            "second_stage": self.ranker is not None,
            "second_stage_examples": self.ranker_examples,
        }


class UserPersonalizationV2(UserPersonalization):
    """aws-user-personalization-v2: the same local model."""

    RECIPE = "aws-user-personalization-v2"


class HrnnMetadata(UserPersonalization):
    """aws-hrnn-metadata (legacy on AWS): the same local model."""

    RECIPE = "aws-hrnn-metadata"


class PersonalizedRanking(UserPersonalization):
    """aws-personalized-ranking: the same model, used through :meth:`rank`."""

    RECIPE = "aws-personalized-ranking"


class PersonalizedRankingV2(UserPersonalization):
    """aws-personalized-ranking-v2: the same model, used through :meth:`rank`."""

    RECIPE = "aws-personalized-ranking-v2"


class _Events(NamedTuple):
    """One user's events (training, then live), oldest first."""

    items: _common.IntArray
    times: _common.FloatArray
    quality: _common.FloatArray
    contexts: _common.IntArray


def _candidates(scores: _common.FloatArray, k: int) -> _common.IntArray:
    """The ``k`` best items by ``scores``, best first, ties in catalogue order."""
    if k >= scores.size:
        chosen = np.arange(scores.size)
    else:
        # The k-th best score may be tied: keep every item tied with it, then cut
        # in catalogue order so the choice does not depend on argpartition.
        threshold = np.partition(scores, scores.size - k)[scores.size - k]
        chosen = np.flatnonzero(scores >= threshold)
    order = np.lexsort((chosen, -scores[chosen]))
    result: _common.IntArray = chosen[order][:k].astype(np.int64)
    return result


def _mean(rows: list[_common.FloatArray]) -> _common.FloatArray | None:
    if not rows:
        return None
    if len(rows) == 1:
        return rows[0]
    result: _common.FloatArray = np.mean(rows, axis=0)
    return result


def _vocabulary(column: pd.Series) -> tuple[list[str], _common.IntArray]:
    """Sorted distinct non-missing values as strings, and each row's code (-1 = NaN)."""
    present = column.notna().to_numpy()
    text = column.astype(str).to_numpy()
    values = sorted(set(text[present]))
    codes = np.full(len(column), -1, dtype=np.int64)
    codes[present] = _common.codes(text[present], values)
    return values, codes


def _conditional_table(
    group_codes: _common.IntArray,
    items: _common.IntArray,
    strength: _common.FloatArray,
    n_groups: int,
    share: _common.FloatArray,
    smoothing: float,
) -> _common.FloatArray:
    """Per group, item strength shares smoothed towards ``share``, row maximum 1."""
    n_items = share.size
    keep = group_codes >= 0
    flat = np.bincount(
        group_codes[keep] * n_items + items[keep],
        weights=strength[keep],
        minlength=n_groups * n_items,
    )
    table = flat.reshape(n_groups, n_items)
    table = (table + smoothing * share) / (table.sum(axis=1, keepdims=True) + smoothing)
    peak = table.max(axis=1, keepdims=True)
    result: _common.FloatArray = table / np.where(peak > 0, peak, 1.0)
    return result


def _values_given_item(
    group_codes: _common.IntArray, items: _common.IntArray, n_groups: int, n_items: int
) -> _common.FloatArray:
    """Items x groups: each item's share of events per group, among events whose
    group is known, smoothed with one pseudo-event spread like all of them."""
    keep = group_codes >= 0
    counts = np.zeros((n_items, n_groups))
    np.add.at(counts, (items[keep], group_codes[keep]), 1.0)
    overall = counts.sum(axis=0)
    prior = overall / overall.sum() if overall.sum() > 0 else overall
    result: _common.FloatArray = (counts + prior) / (
        counts.sum(axis=1, keepdims=True) + 1.0
    )
    return result


def _item_features(
    items: pd.DataFrame | None,
    fields: Sequence[str],
    item_ids: npt.NDArray[np.str_],
) -> sparse.csr_matrix:
    """One-hot categorical item metadata, rows scaled to unit length."""
    if items is None or not fields:
        return sparse.csr_matrix((item_ids.size, 0))
    frame = items[~items.index.duplicated(keep="last")]
    rows = np.searchsorted(item_ids, frame.index.astype(str).to_numpy())
    blocks = []
    for name in fields:
        if name not in frame.columns:
            raise ValueError(f"items data lacks the metadata column {name}")
        values, codes = _vocabulary(frame[name])
        present = codes >= 0
        blocks.append(
            sparse.csr_matrix(
                (np.ones(int(present.sum())), (rows[present], codes[present])),
                shape=(item_ids.size, len(values)),
            )
        )
    features = sparse.csr_matrix(sparse.hstack(blocks))
    norms = np.sqrt(np.asarray(features.multiply(features).sum(axis=1)).ravel())
    scale = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)
    return sparse.csr_matrix(sparse.diags(scale) @ features)
