"""The recommender contract every local recipe implements: fit, recommend, save, load.

Training runs in the engine's worker with pandas at hand; serving runs in whichever
process answers GetRecommendations and must not need pandas, so :meth:`Recommender.load`
and the query methods use only numpy and the standard library. Artifacts are numpy
``.npz`` files read with ``allow_pickle=False`` plus JSON: a model file from an
untrusted source cannot execute code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pandas as pd

# The column names the engine uses for interactions handed to ``fit``, whatever the
# dataset's schema calls its context and metadata columns (those keep their names).
USER_ID = "USER_ID"
ITEM_ID = "ITEM_ID"
TIMESTAMP = "TIMESTAMP"
EVENT_TYPE = "EVENT_TYPE"
EVENT_VALUE = "EVENT_VALUE"

ProgressCallback = Callable[[str, Mapping[str, float]], None]


@dataclass(frozen=True)
class TrainingData:
    """What a recipe learns from, already filtered by eventType/eventValueThreshold.

    ``interactions`` has the columns USER_ID, ITEM_ID, TIMESTAMP (int epoch seconds),
    EVENT_TYPE, EVENT_VALUE (float, NaN when absent) and one column per context field
    named in ``context_fields``. ``users`` and ``items`` are indexed by USER_ID /
    ITEM_ID and hold the categorical metadata columns named in ``user_fields`` /
    ``item_fields`` (strings; missing values are NaN).
    """

    interactions: pd.DataFrame
    users: pd.DataFrame | None = None
    items: pd.DataFrame | None = None
    context_fields: tuple[str, ...] = ()
    user_fields: tuple[str, ...] = ()
    item_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class LiveEvent:
    """An event recorded after training (PutEvents), used at query time."""

    item_id: str
    timestamp: float
    event_type: str = ""
    event_value: float | None = None
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    """One recommendation request, as the runtime API receives it."""

    user_id: str | None = None
    context: Mapping[str, str] = field(default_factory=dict)
    # Events recorded for this user since training, oldest first.
    live_events: Sequence[LiveEvent] = ()
    # Metadata recorded with PutUsers since training; overrides the trained values.
    user_metadata: Mapping[str, str] | None = None


class Recommender(ABC):
    """A trained model. Subclasses register a recipe name in ``RECIPE``."""

    RECIPE: ClassVar[str]
    # Recipes whose hyperparameters HPO may tune, with Personalize-style defaults.
    DEFAULT_HYPERPARAMETERS: ClassVar[Mapping[str, str]] = {}
    # Amazon Personalize's hyperparameters of the recipe this one stands in for:
    # accepted (so AWS configurations work) but without local meaning.
    AWS_HYPERPARAMETERS: ClassVar[tuple[str, ...]] = ()
    # The inclusive [low, high] each local hyperparameter accepts.
    HYPERPARAMETER_BOUNDS: ClassVar[Mapping[str, tuple[float, float]]] = {}

    @abstractmethod
    def fit(
        self,
        data: TrainingData,
        hyperparameters: Mapping[str, str],
        progress: ProgressCallback | None = None,
    ) -> None:
        """Learn from ``data``; ValueError when the data cannot train this recipe."""

    @abstractmethod
    def recommend(
        self, query: Query, num_results: int, exclude: Sequence[str] = ()
    ) -> list[tuple[str, float]]:
        """The top ``num_results`` item ids with scores, best first."""

    @abstractmethod
    def knows(self, item_id: str) -> bool:
        """Whether the model was trained with ``item_id`` in its catalogue."""

    def rank(self, query: Query, item_ids: Sequence[str]) -> list[tuple[str, float]]:
        """``item_ids`` reordered best first; items the model never saw go last."""
        raise NotImplementedError(f"{self.RECIPE} does not rank item lists")

    def similar_items(self, item_id: str, num_results: int) -> list[tuple[str, float]]:
        """Items related to ``item_id`` (the aws-sims family)."""
        raise NotImplementedError(f"{self.RECIPE} does not find related items")

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the model to ``directory`` (created if missing) without pickle."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Recommender:
        """Read a model written by :meth:`save`."""

    def describe(self) -> Mapping[str, Any]:
        """Facts about the trained model worth showing a user (sizes, features)."""
        return {}
