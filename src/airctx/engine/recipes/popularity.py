"""aws-popularity-count: every user gets the most interacted-with items.

This is the baseline Personalize reports metrics against; it ignores context, metadata
and the user's own history on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from airctx.engine.recipes import _common
from airctx.engine.recipes.base import (
    ProgressCallback,
    Query,
    Recommender,
    TrainingData,
)


class PopularityCount(Recommender):
    """Ranks items by their number of interactions in the training data."""

    RECIPE = "aws-popularity-count"
    DEFAULT_HYPERPARAMETERS: ClassVar[Mapping[str, str]] = {}

    def __init__(self) -> None:
        self.item_ids = np.array([], dtype=str)
        self.counts = np.array([], dtype=np.float64)
        self._index: dict[str, int] = {}

    def fit(
        self,
        data: TrainingData,
        hyperparameters: Mapping[str, str],
        progress: ProgressCallback | None = None,
    ) -> None:
        """Count each item's interactions."""
        _common.require_interactions(self.RECIPE, data.interactions)
        _common.parse_hyperparameters(self.RECIPE, hyperparameters, {}, {})
        self.item_ids = _common.catalog(data.interactions, data.items)
        positions = _common.item_positions(data.interactions, self.item_ids)
        self.counts = np.bincount(positions, minlength=self.item_ids.size).astype(
            np.float64
        )
        self._index = {str(v): k for k, v in enumerate(self.item_ids)}

    def knows(self, item_id: str) -> bool:
        return item_id in self._index

    def recommend(
        self, query: Query, num_results: int, exclude: Sequence[str] = ()
    ) -> list[tuple[str, float]]:
        """The most popular items, whoever asks."""
        excluded = np.array(
            [self._index[i] for i in exclude if i in self._index], dtype=np.int64
        )
        return _common.top_k(self.counts, self.item_ids, num_results, excluded)

    def rank(self, query: Query, item_ids: Sequence[str]) -> list[tuple[str, float]]:
        """``item_ids`` by popularity; items never seen go last in their given order."""
        known = [
            (i, float(self.counts[self._index[i]]))
            for i in item_ids
            if i in self._index
        ]
        known.sort(key=lambda pair: -pair[1])
        unseen = [(i, 0.0) for i in item_ids if i not in self._index]
        return known + unseen

    def save(self, directory: Path) -> None:
        _common.write_model(
            directory,
            {"item_ids": self.item_ids, "counts": self.counts},
            {"recipe": self.RECIPE},
        )

    @classmethod
    def load(cls, directory: Path) -> PopularityCount:
        arrays, _meta = _common.read_model(directory, cls.RECIPE)
        model = cls()
        model.item_ids = arrays["item_ids"].astype(str)
        model.counts = arrays["counts"]
        model._index = {str(v): k for k, v in enumerate(model.item_ids)}
        return model

    def describe(self) -> Mapping[str, Any]:
        return {
            "items": int(self.item_ids.size),
            "interactions": int(self.counts.sum()),
        }
