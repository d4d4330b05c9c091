"""aws-sims: item-to-item similarity from items that the same users interacted with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy import sparse

from airctx.engine.recipes import _common
from airctx.engine.recipes.base import (
    ProgressCallback,
    Query,
    Recommender,
    TrainingData,
)

_BOUNDS = {
    "popularity_discount_factor": (0.0, 1.0),
    "min_cointeraction_count": (0.0, 10.0),
}
# Personalize's own SIMS hyperparameters that have no local meaning.
_AWS_ONLY = (
    "max_item_interaction_count_percentile",
    "max_user_history_length_percentile",
)


class Sims(Recommender):
    """Item-item co-occurrence, discounted by popularity.

    Hyperparameters: ``popularity_discount_factor`` (0 keeps raw co-occurrence
    counts, 0.5 is cosine, 1 favours rare items) and ``min_cointeraction_count``
    (pairs shared by fewer users are ignored). Items without enough co-occurrence are
    padded with popular items, as Personalize does.
    """

    RECIPE = "aws-sims"
    AWS_HYPERPARAMETERS = _AWS_ONLY
    HYPERPARAMETER_BOUNDS: ClassVar[Mapping[str, tuple[float, float]]] = _BOUNDS
    DEFAULT_HYPERPARAMETERS: ClassVar[Mapping[str, str]] = {
        "popularity_discount_factor": "0.5",
        "min_cointeraction_count": "1",
    }
    DEFAULT_HPO_RANGES: ClassVar[Mapping[str, Any]] = {
        "continuousHyperParameterRanges": [
            {"name": "popularity_discount_factor", "minValue": 0.0, "maxValue": 1.0}
        ],
        "integerHyperParameterRanges": [
            {"name": "min_cointeraction_count", "minValue": 1, "maxValue": 5}
        ],
    }

    def __init__(self) -> None:
        self.item_ids = np.array([], dtype=str)
        self.user_ids = np.array([], dtype=str)
        self.counts = np.array([], dtype=np.float64)
        self.similarity = sparse.csr_matrix((0, 0))
        self.history = sparse.csr_matrix((0, 0))
        self.hyperparameters: dict[str, str] = {}
        self._reindex()

    def _reindex(self) -> None:
        self._items = {str(v): k for k, v in enumerate(self.item_ids)}
        self._users = {str(v): k for k, v in enumerate(self.user_ids)}

    def fit(
        self,
        data: TrainingData,
        hyperparameters: Mapping[str, str],
        progress: ProgressCallback | None = None,
    ) -> None:
        """Build the item-item similarity table and each user's item set."""
        _common.require_interactions(self.RECIPE, data.interactions)
        params = _common.parse_hyperparameters(
            self.RECIPE,
            hyperparameters,
            self.DEFAULT_HYPERPARAMETERS,
            _BOUNDS,
            _AWS_ONLY,
        )
        self.hyperparameters = {k: f"{v:g}" for k, v in params.items()}
        self.item_ids = _common.catalog(data.interactions, data.items)
        self.user_ids, users = _common.user_index(data.interactions)
        items = _common.item_positions(data.interactions, self.item_ids)
        n_users, n_items = self.user_ids.size, self.item_ids.size
        self.counts = np.bincount(items, minlength=n_items).astype(np.float64)
        self.similarity = _common.cooccurrence(
            users,
            items,
            n_users,
            n_items,
            params["popularity_discount_factor"],
            int(params["min_cointeraction_count"]),
        )
        history = sparse.csr_matrix(
            (np.ones(users.size), (users, items)), shape=(n_users, n_items)
        )
        history.data[:] = 1.0
        self.history = history
        self._reindex()

    def similar_items(self, item_id: str, num_results: int) -> list[tuple[str, float]]:
        """The items most often used by the same users, padded with popular items."""
        position = self._items.get(item_id)
        scores = np.zeros(self.item_ids.size)
        excluded = np.array([], dtype=np.int64)
        if position is not None:
            row = self.similarity.getrow(position)
            scores[row.indices] = row.data
            excluded = np.array([position], dtype=np.int64)
        return self._with_popular(scores, num_results, excluded)

    def knows(self, item_id: str) -> bool:
        return item_id in self._items

    def recommend(
        self, query: Query, num_results: int, exclude: Sequence[str] = ()
    ) -> list[tuple[str, float]]:
        """Items similar to everything the user used; popular items for a new user."""
        weights = np.zeros(self.item_ids.size)
        user = self._users.get(query.user_id) if query.user_id is not None else None
        if user is not None:
            row = self.history.getrow(user)
            weights[row.indices] += row.data
        for event in query.live_events:
            if event.item_id in self._items:
                weights[self._items[event.item_id]] += 1.0
        scores = self.similarity.T @ weights
        excluded = np.array(
            [self._items[i] for i in exclude if i in self._items], dtype=np.int64
        )
        return self._with_popular(scores, num_results, excluded)

    def _with_popular(
        self, scores: _common.FloatArray, num_results: int, excluded: _common.IntArray
    ) -> list[tuple[str, float]]:
        # Items with any similarity rank above the popular padding: similarity is
        # mapped into (1, 2], popularity into [0, 1).
        composite = np.where(
            scores > 0,
            1.0 + _common.normalise(scores),
            0.999 * _common.normalise(self.counts),
        )
        return _common.top_k(composite, self.item_ids, num_results, excluded)

    def save(self, directory: Path) -> None:
        arrays = {
            "item_ids": self.item_ids,
            "user_ids": self.user_ids,
            "counts": self.counts,
            **_common.csr_arrays("similarity", self.similarity),
            **_common.csr_arrays("history", self.history),
        }
        meta = {"recipe": self.RECIPE, "hyperparameters": self.hyperparameters}
        _common.write_model(directory, arrays, meta)

    @classmethod
    def load(cls, directory: Path) -> Sims:
        arrays, meta = _common.read_model(directory, cls.RECIPE)
        model = cls()
        model.item_ids = arrays["item_ids"].astype(str)
        model.user_ids = arrays["user_ids"].astype(str)
        model.counts = arrays["counts"]
        model.similarity = _common.csr_from("similarity", arrays)
        model.history = _common.csr_from("history", arrays)
        model.hyperparameters = dict(meta.get("hyperparameters", {}))
        model._reindex()
        return model

    def describe(self) -> Mapping[str, Any]:
        return {
            "items": int(self.item_ids.size),
            "users": int(self.user_ids.size),
            "item_pairs": int(self.similarity.nnz),
        }
