"""The learned second stage of the context-aware recipe: tables and a softmax ranker.

The first stage (the hand-weighted blend in :mod:`context`) proposes candidates; a
linear model over richer per-item features reorders them. The model is fitted on
"next interaction" examples carved from the training data itself: each user's latest
training event is hidden, the tables are rebuilt without those events, and the
weights are chosen to put the hidden item first among the candidates (a softmax over
the candidates, L2-penalised). Everything here is numpy/scipy; the weights are plain
arrays, so the model saves without pickle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from airctx.engine.recipes import _common

logger = logging.getLogger(__name__)

# Per-item features, in column order. "user's" features are zero for a user without
# history; context features are zero (hence constant, hence ignored) without context.
FEATURES = (
    "blend",  # the first-stage score
    "log_context",  # log share of the item among events in the query's context
    "log_popularity",  # log share over all events
    "log_recent",  # log share over the last RECENT_DAYS of training
    "log_near_short",  # log events of the item within SHORT_WINDOW_DAYS of the
    "log_near_long",  # user's latest event (of the newest event for a new user)
    "log_idle_days",  # days since the item's latest event
    "log_metadata",  # log of the user metadata component (known or inferred)
    "context_given_item",  # share of the item's events recorded in the context
    "context_quality",  # mean rating quality of the item in the context
    "repeat",  # log(1 + the user's events on the item)
    "repeat_in_context",  # the same, events in the query's context only
    "is_last",  # the item of the user's latest event
    "own_quality",  # mean quality of the user's events on the item
    "cooccurrence",  # first-stage co-occurrence component
    "sequence",  # first-stage sequence component
    "sequence_last",  # log(1 + transitions from the user's latest item)
    "ease",  # item-item ridge regression on the user's items
    "repeat_x_activity",  # repeat times log(1 + the user's events)
)
N_FEATURES = len(FEATURES)
RECENT_DAYS = 365.0
SHORT_WINDOW_DAYS = 14.0
LONG_WINDOW_DAYS = 90.0
# Beyond this many items the dense EASE matrix would cost too much memory.
MAX_EASE_ITEMS = 2000
# Time buckets for the "near the user's latest event" counts: at most this many.
MAX_BUCKETS = 1024
BUCKET_DAYS = 7.0
EPS = 1e-6

FloatArray = _common.FloatArray
IntArray = _common.IntArray


@dataclass
class ItemTables:
    """Item statistics the second stage needs beyond the first stage's tables."""

    log_recent: FloatArray
    log_idle_days: FloatArray
    bucket_counts: FloatArray  # items x (buckets + 1), cumulative over time
    bucket_origin: float
    bucket_seconds: float
    latest_time: float
    ease: FloatArray  # items x items, or 0 x 0 when the catalogue is too large
    item_quality: FloatArray  # mean rating quality per item, for context-free queries
    context_given_item: dict[int, FloatArray] = field(default_factory=dict)
    context_quality: dict[int, FloatArray] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        users: IntArray,
        items: IntArray,
        times: FloatArray,
        quality: FloatArray,
        event_context: IntArray,
        n_contexts: list[int],
        n_users: int,
        n_items: int,
        ease_lambda: float,
    ) -> ItemTables:
        """Build every table from the training events (codes already assigned)."""
        latest = _common.reference_time(times)
        recent = np.bincount(
            items[times >= latest - RECENT_DAYS * _common.SECONDS_PER_DAY],
            minlength=n_items,
        ).astype(np.float64)
        log_recent = np.log(recent / max(recent.sum(), 1.0) + EPS)
        last_seen = np.full(n_items, float(times.min()))
        np.maximum.at(last_seen, items, times)
        idle = np.maximum(latest - last_seen, 0.0)
        log_idle = np.log1p(idle / _common.SECONDS_PER_DAY)

        origin = float(times.min())
        span = max(latest - origin, 1.0)
        width = max(BUCKET_DAYS * _common.SECONDS_PER_DAY, span / MAX_BUCKETS)
        n_buckets = int(span // width) + 1
        buckets = np.minimum(
            ((times - origin) // width).astype(np.int64), n_buckets - 1
        )
        counts = np.zeros((n_items, n_buckets + 1))
        np.add.at(counts, (items, buckets + 1), 1.0)
        cumulative = np.cumsum(counts, axis=1)

        context_given_item: dict[int, FloatArray] = {}
        context_quality: dict[int, FloatArray] = {}
        per_item = np.bincount(items, minlength=n_items).astype(np.float64)
        prior = float(quality.mean())
        item_quality = (
            np.bincount(items, weights=quality, minlength=n_items) + 2.0 * prior
        ) / (per_item + 2.0)
        for k, n_values in enumerate(n_contexts):
            codes = event_context[:, k]
            keep = codes >= 0
            flat = codes[keep] * n_items + items[keep]
            size = n_values * n_items
            count = np.bincount(flat, minlength=size).reshape(n_values, n_items)
            total = np.bincount(flat, weights=quality[keep], minlength=size)
            context_given_item[k] = count / np.maximum(per_item, 1.0)
            # Shrunk towards the overall mean quality: two pseudo-events.
            context_quality[k] = (total.reshape(n_values, n_items) + 2.0 * prior) / (
                count + 2.0
            )
        return cls(
            log_recent=log_recent,
            log_idle_days=log_idle,
            bucket_counts=cumulative,
            bucket_origin=origin,
            bucket_seconds=width,
            latest_time=latest,
            ease=ease(users, items, n_users, n_items, ease_lambda),
            item_quality=item_quality,
            context_given_item=context_given_item,
            context_quality=context_quality,
        )

    def near(self, when: float, window_days: float, rows: IntArray) -> FloatArray:
        """log(1 + events of the ``rows`` items within ``window_days`` of ``when``)."""
        n_buckets = self.bucket_counts.shape[1] - 1
        half = window_days * _common.SECONDS_PER_DAY
        start = (when - half - self.bucket_origin) // self.bucket_seconds
        stop = (when + half - self.bucket_origin) // self.bucket_seconds + 1
        low = int(np.clip(start, 0, n_buckets))
        high = int(np.clip(stop, 0, n_buckets))
        result: FloatArray = np.log1p(
            self.bucket_counts[rows, high] - self.bucket_counts[rows, low]
        )
        return result

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        result: dict[str, npt.NDArray[Any]] = {
            "ltr_log_recent": self.log_recent,
            "ltr_log_idle_days": self.log_idle_days,
            "ltr_bucket_counts": self.bucket_counts,
            "ltr_time": np.array(
                [self.bucket_origin, self.bucket_seconds, self.latest_time]
            ),
            "ltr_ease": self.ease,
            "ltr_item_quality": self.item_quality,
        }
        for k, table in self.context_given_item.items():
            result[f"ltr_context_given_item_{k}"] = table
            result[f"ltr_context_quality_{k}"] = self.context_quality[k]
        return result

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, npt.NDArray[Any]], n_contexts: int
    ) -> ItemTables:
        origin, width, latest = (float(v) for v in arrays["ltr_time"])
        return cls(
            log_recent=arrays["ltr_log_recent"],
            log_idle_days=arrays["ltr_log_idle_days"],
            bucket_counts=arrays["ltr_bucket_counts"],
            bucket_origin=origin,
            bucket_seconds=width,
            latest_time=latest,
            ease=arrays["ltr_ease"],
            item_quality=arrays["ltr_item_quality"],
            context_given_item={
                k: arrays[f"ltr_context_given_item_{k}"] for k in range(n_contexts)
            },
            context_quality={
                k: arrays[f"ltr_context_quality_{k}"] for k in range(n_contexts)
            },
        )


def ease(
    users: IntArray, items: IntArray, n_users: int, n_items: int, lam: float
) -> FloatArray:
    """EASE item-item weights (closed-form ridge regression, zero diagonal)."""
    if n_items > MAX_EASE_ITEMS or lam <= 0:
        return np.zeros((0, 0))
    x = sparse.csr_matrix(
        (np.ones(users.size), (users, items)), shape=(n_users, n_items)
    )
    x.data[:] = 1.0
    gram = np.asarray((x.T @ x).todense(), dtype=np.float64)
    gram[np.diag_indices(n_items)] += lam
    inverse = np.linalg.inv(gram)
    weights: FloatArray = -inverse / np.diag(inverse)[None, :]
    weights[np.diag_indices(n_items)] = 0.0
    return weights


@dataclass
class LinearRanker:
    """Feature standardisation plus weights; scores are a dot product."""

    mean: FloatArray
    scale: FloatArray
    weights: FloatArray

    def score(self, features: FloatArray) -> FloatArray:
        result: FloatArray = ((features - self.mean) / self.scale) @ self.weights
        return result

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {
            "ltr_mean": self.mean,
            "ltr_scale": self.scale,
            "ltr_weights": self.weights,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[Any]]) -> LinearRanker | None:
        if "ltr_weights" not in arrays:
            return None
        return cls(arrays["ltr_mean"], arrays["ltr_scale"], arrays["ltr_weights"])


def fit_softmax(
    groups: list[FloatArray], positives: list[int], l2: float
) -> LinearRanker:
    """Weights maximising the mean log-softmax of each group's positive row."""
    stacked = np.concatenate(groups)
    mean = stacked.mean(axis=0)
    scale = stacked.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    x = (stacked - mean) / scale
    sizes = np.array([g.shape[0] for g in groups])
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    group_of = np.repeat(np.arange(len(groups)), sizes)
    positive_rows = starts + np.asarray(positives)
    n = len(groups)

    def loss(w: FloatArray) -> tuple[float, FloatArray]:
        s = x @ w
        peak = np.maximum.reduceat(s, starts)
        e = np.exp(s - peak[group_of])
        z = np.add.reduceat(e, starts)
        value = float(np.sum(np.log(z) + peak - s[positive_rows])) / n
        p = e / z[group_of]
        grad = (x.T @ p - x[positive_rows].sum(axis=0)) / n
        value += 0.5 * l2 * float(w @ w)
        return value, grad + l2 * w

    start = np.zeros(x.shape[1])
    # Imported here: serving loads this module and must not pay for the optimiser.
    from scipy import optimize

    result = optimize.minimize(
        loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500}
    )
    if not result.success:
        logger.info("second stage: optimiser stopped early (%s)", result.message)
    return LinearRanker(mean, scale, np.asarray(result.x, dtype=np.float64))
