"""Pieces shared by the local recipes: hyperparameter parsing, indexing, top-k, storage.

Everything used at query time needs numpy (and scipy) only; helpers that build tables
from pandas frames import pandas lazily so a serving process never loads it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from airctx.engine.recipes.base import ITEM_ID, USER_ID

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MODEL_FILE = "model.npz"
META_FILE = "model.json"
FORMAT_VERSION = 1
SECONDS_PER_DAY = 86_400.0
# Neighbours kept per item in co-occurrence tables: bounds model size and query time
# on large catalogues while keeping every neighbour for catalogues of a few hundred.
MAX_NEIGHBOURS = 200
# A model's "now" (for recency decay and recent popularity) is the time by which this
# share of its events had happened, and its rating scale spans the same central share
# of EVENT_VALUE: a few events far newer than the rest (live events recorded years
# after a historical import) or one absurd value must not rescale everything else.
ROBUST_QUANTILE = 0.99


def parse_hyperparameters(
    recipe: str,
    given: Mapping[str, str],
    defaults: Mapping[str, str],
    bounds: Mapping[str, tuple[float, float]],
    ignored: Iterable[str] = (),
) -> dict[str, float]:
    """Merge ``given`` over ``defaults`` and check each value is a number in bounds.

    Names in ``ignored`` are Amazon Personalize's own hyperparameters for the recipe
    (e.g. ``hidden_dimension``): a configuration written for AWS still trains here.
    """
    ignored_names = set(ignored)
    values: dict[str, float] = {}
    for name, raw in {**defaults, **given}.items():
        if name in ignored_names:
            logger.info(
                "%s: hyperparameter %s applies to AWS only; ignored", recipe, name
            )
            continue
        if name not in bounds:
            known = ", ".join(sorted(bounds))
            raise ValueError(
                f"{recipe}: unknown hyperparameter {name!r}; known: {known}"
            )
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError(
                f"{recipe}: hyperparameter {name}={raw!r} is not a number"
            ) from None
        low, high = bounds[name]
        if not (low <= value <= high) or math.isnan(value):
            raise ValueError(
                f"{recipe}: hyperparameter {name}={raw} is outside [{low:g}, {high:g}]"
            )
        values[name] = value
    return values


def require_interactions(recipe: str, data_interactions: pd.DataFrame) -> None:
    """Raise ValueError when there is nothing to learn from."""
    if len(data_interactions) == 0:
        raise ValueError(f"{recipe}: no interactions to train on")
    for column in (USER_ID, ITEM_ID):
        if column not in data_interactions.columns:
            raise ValueError(f"{recipe}: interactions have no {column} column")


def catalog(
    interactions: pd.DataFrame, items: pd.DataFrame | None = None
) -> npt.NDArray[np.str_]:
    """Sorted item ids: every item with an interaction plus every item in ``items``."""
    ids = set(interactions[ITEM_ID].astype(str))
    if items is not None:
        ids.update(items.index.astype(str))
    return np.array(sorted(ids), dtype=str)


def codes(values: Sequence[str] | Any, vocabulary: Sequence[str]) -> IntArray:
    """Positions of ``values`` in ``vocabulary``; -1 for values not in it."""
    lookup = {v: k for k, v in enumerate(vocabulary)}
    return np.fromiter((lookup.get(str(v), -1) for v in values), dtype=np.int64)


def top_k(
    scores: FloatArray,
    item_ids: npt.NDArray[np.str_],
    num_results: int,
    excluded: IntArray | None = None,
) -> list[tuple[str, float]]:
    """The ``num_results`` best items, ties broken by catalogue order for stability."""
    if num_results <= 0:
        return []
    scores = scores.copy()
    if excluded is not None and excluded.size:
        scores[excluded] = -np.inf
    eligible = np.flatnonzero(np.isfinite(scores))
    k = min(num_results, eligible.size)
    if k == 0:
        return []
    if k < eligible.size:
        part = np.argpartition(-scores[eligible], k - 1)[:k]
        eligible = eligible[part]
    order = np.lexsort((eligible, -scores[eligible]))
    chosen = eligible[order]
    return [(str(item_ids[j]), float(scores[j])) for j in chosen]


def reference_time(times: FloatArray) -> float:
    """The time by which ROBUST_QUANTILE of the events had happened (0 if none)."""
    if times.size == 0:
        return 0.0
    return float(np.quantile(times, ROBUST_QUANTILE, method="higher"))


def value_range(values: FloatArray) -> tuple[float, float]:
    """The central ROBUST_QUANTILE of the finite values; (0, 0) when they are equal."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (0.0, 0.0)
    tail = (1.0 - ROBUST_QUANTILE) / 2.0
    low = float(np.quantile(finite, tail, method="lower"))
    high = float(np.quantile(finite, 1.0 - tail, method="higher"))
    return (low, high) if high > low else (0.0, 0.0)


def normalise(vector: FloatArray) -> FloatArray:
    """Scale to a maximum of 1 so that blended components share one scale."""
    peak = float(vector.max()) if vector.size else 0.0
    return vector / peak if peak > 0 else vector


def cooccurrence(
    user_codes: IntArray,
    item_codes: IntArray,
    n_users: int,
    n_items: int,
    popularity_discount: float = 0.5,
    min_count: int = 1,
) -> sparse.csr_matrix:
    """Item-item similarity from shared users, divided by (n_i * n_j) ** discount.

    A discount of 0.5 is cosine similarity; higher values favour rarer neighbours.
    Pairs shared by fewer than ``min_count`` users are dropped as noise.
    """
    x = sparse.csr_matrix(
        (np.ones(user_codes.size), (user_codes, item_codes)), shape=(n_users, n_items)
    )
    x.data[:] = 1.0  # a user who rated an item twice counts once
    counts = np.asarray(x.sum(axis=0)).ravel()
    c = sparse.csr_matrix(x.T @ x)
    c.setdiag(0.0)
    c.data[c.data < min_count] = 0.0
    c.eliminate_zeros()
    scale = np.where(counts > 0, counts, 1.0) ** -popularity_discount
    c = sparse.csr_matrix(sparse.diags(scale) @ c @ sparse.diags(scale))
    return prune_rows(c, MAX_NEIGHBOURS)


def transitions(
    user_codes: IntArray, item_codes: IntArray, n_items: int
) -> sparse.csr_matrix:
    """How often two items were consecutive events of one user, in either order.

    The events must be sorted by user, then time. Symmetric: row i holds the items
    used just before or just after item i.
    """
    same_user = user_codes[1:] == user_codes[:-1]
    before, after = item_codes[:-1][same_user], item_codes[1:][same_user]
    counts = sparse.csr_matrix(
        (np.ones(before.size), (before, after)), shape=(n_items, n_items)
    )
    return prune_rows(sparse.csr_matrix(counts + counts.T), MAX_NEIGHBOURS)


def prune_rows(matrix: sparse.csr_matrix, keep: int) -> sparse.csr_matrix:
    """Keep the ``keep`` largest entries of each row."""
    rows = np.diff(matrix.indptr)
    if rows.size == 0 or rows.max() <= keep:
        return matrix
    lil = matrix.tolil()
    for r in np.flatnonzero(rows > keep):
        data = np.asarray(lil.data[r])
        best = np.sort(np.argpartition(-data, keep - 1)[:keep])
        lil.rows[r] = [lil.rows[r][k] for k in best]
        lil.data[r] = data[best].tolist()
    return sparse.csr_matrix(lil)


def csr_arrays(prefix: str, matrix: sparse.csr_matrix) -> dict[str, npt.NDArray[Any]]:
    """The arrays that rebuild ``matrix``, keyed for ``np.savez``."""
    return {
        f"{prefix}_data": matrix.data.astype(np.float64),
        f"{prefix}_indices": matrix.indices.astype(np.int64),
        f"{prefix}_indptr": matrix.indptr.astype(np.int64),
        f"{prefix}_shape": np.array(matrix.shape, dtype=np.int64),
    }


def csr_from(prefix: str, arrays: Mapping[str, npt.NDArray[Any]]) -> sparse.csr_matrix:
    """The inverse of :func:`csr_arrays`."""
    shape = tuple(int(n) for n in arrays[f"{prefix}_shape"])
    return sparse.csr_matrix(
        (
            arrays[f"{prefix}_data"],
            arrays[f"{prefix}_indices"],
            arrays[f"{prefix}_indptr"],
        ),
        shape=shape,
    )


def write_model(
    directory: Path, arrays: Mapping[str, npt.NDArray[Any]], meta: Mapping[str, Any]
) -> None:
    """Write arrays (npz, no object arrays) and metadata (JSON) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        if array.dtype == object:
            raise TypeError(f"array {name} has dtype object and would need pickle")
    np.savez(directory / MODEL_FILE, **arrays)  # type: ignore[arg-type]
    document = {"format_version": FORMAT_VERSION, **meta}
    (directory / META_FILE).write_text(json.dumps(document, indent=1, sort_keys=True))


def read_model(
    directory: Path, recipe: str
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    """Read what :func:`write_model` wrote; refuse another recipe's model."""
    meta: dict[str, Any] = json.loads((directory / META_FILE).read_text())
    if meta.get("recipe") != recipe:
        raise ValueError(
            f"{directory}: holds a {meta.get('recipe')!r} model, not {recipe!r}"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{directory}: model format {meta.get('format_version')} is not "
            f"{FORMAT_VERSION}; retrain the solution version"
        )
    with np.load(directory / MODEL_FILE, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return arrays, meta


def user_index(interactions: pd.DataFrame) -> tuple[npt.NDArray[np.str_], IntArray]:
    """Sorted user ids and each interaction's user position."""
    users = interactions[USER_ID].astype(str).to_numpy()
    ids, inverse = np.unique(users, return_inverse=True)
    return ids.astype(str), inverse.astype(np.int64)


def item_positions(
    interactions: pd.DataFrame, item_ids: npt.NDArray[np.str_]
) -> IntArray:
    """Each interaction's item position in the sorted catalogue ``item_ids``."""
    items = interactions[ITEM_ID].astype(str).to_numpy()
    return np.searchsorted(item_ids, items).astype(np.int64)
