"""Benchmark the default local recipe against open-source recommenders on Skytrax.

Usage:
    PYTHONPATH=src python scripts/bench_recipes.py [--data CSV] [--trials N]
        [--users CSV | --no-users] [--no-peers] [--scale] [--tune-recipe N]

CSV defaults to $AIRCTX_DATA_DIR/personalize-format/df_interactions.csv, else the
shared Skytrax folder. Peers need the optional ``bench`` extra (implicit, cornac);
a peer whose library is missing is reported as such and skipped.

User metadata (``--users``, by default ``derived_user_id_to_nationality.csv`` beside
the interactions when present: NATIONALITY for about 5% of the users) is given to the
recipe in a second run, and to every peer's blend as popularity among users of the
same value, tuned like the other blend weights.

Protocol (see docs/benchmarks.md): exact duplicate rows and rows with TIMESTAMP <= 0
are dropped; every user with 2 or more rows has the latest held out (ties: the later
line in the file); test rows whose item is not in training are dropped. The query is
the user plus the held-out row's CABIN_TYPE, and the whole catalogue is ranked
without excluding items the user already rated. Tuning uses a validation split
carved the same way from the training part only; test rows are never looked at
until each model's settings are fixed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from airctx.engine.recipes import recipe_class
from airctx.engine.recipes.base import Query, Recommender, TrainingData

CONTEXT = "CABIN_TYPE"
PREMIUM = ("Premium Economy", "Business Class", "First Class")
DEFAULT_RECIPE = "aws-user-personalization"
METRICS = ("HR@5", "HR@10", "NDCG@10", "MRR@25", "cov@10")
BLEND_GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
GROUP_GRID = (0.0, 0.25, 1.0, 4.0)
USERS_FILE = "derived_user_id_to_nationality.csv"
USER_FIELD = "NATIONALITY"
LATENCY_QUERIES = 500
Matrix = np.ndarray[Any, np.dtype[np.float64]]


# ---- data and protocol ---------------------------------------------------------


def default_data_path() -> Path:
    root = os.environ.get("AIRCTX_DATA_DIR")
    if root:
        return Path(root) / "personalize-format" / "df_interactions.csv"
    here = Path(__file__).resolve()
    return (
        here.parents[2]
        / "shared"
        / "data"
        / "skytrax"
        / ("personalize-format/df_interactions.csv")
    )


def load(path: Path) -> pd.DataFrame:
    """The interactions, cleaned, with the row index giving file order."""
    if not path.exists():
        raise SystemExit(f"{path}: not found; pass --data or set AIRCTX_DATA_DIR")
    frame = pd.read_csv(path, dtype={"ITEM_ID": str, "USER_ID": str})
    frame = frame.drop_duplicates()
    frame = frame[frame["TIMESTAMP"] > 0]
    return frame.reset_index(drop=True)


def load_users(path: Path | None, field_name: str) -> pd.DataFrame | None:
    """The users metadata, indexed by USER_ID, with the one categorical field."""
    if path is None:
        return None
    if not path.exists():
        raise SystemExit(f"{path}: not found; pass --users or --no-users")
    frame = pd.read_csv(path, dtype=str)
    if "USER_ID" not in frame.columns or field_name not in frame.columns:
        raise SystemExit(
            f"{path}: needs the columns USER_ID and {field_name} "
            f"(found {list(frame.columns)}); pass --user-field"
        )
    return frame.drop_duplicates("USER_ID", keep="last").set_index("USER_ID")[
        [field_name]
    ]


def leave_last_out(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training rows and each multi-row user's latest row (whose item is known)."""
    # A stable sort keeps file order within equal timestamps, so the last row of a
    # user is the latest, and among ties the later line in the file.
    ordered = frame.sort_values(["USER_ID", "TIMESTAMP"], kind="stable")
    is_last = ~ordered.duplicated("USER_ID", keep="last").to_numpy()
    size = ordered.groupby("USER_ID", sort=False)["USER_ID"].transform("size")
    held = is_last & (size.to_numpy() >= 2)
    train = ordered[~held].sort_index()
    test = ordered[held].sort_index()
    test = test[test["ITEM_ID"].isin(set(train["ITEM_ID"]))]
    return train, test


@dataclass
class Split:
    """A training part, its catalogue and the queries with their held-out items."""

    train: pd.DataFrame
    catalog: np.ndarray[Any, np.dtype[np.str_]]
    users: list[str]
    cabins: list[str]
    targets: np.ndarray[Any, np.dtype[np.int64]]

    @classmethod
    def of(cls, train: pd.DataFrame, test: pd.DataFrame) -> Split:
        catalog = np.array(sorted(set(train["ITEM_ID"])), dtype=str)
        return cls(
            train,
            catalog,
            test["USER_ID"].tolist(),
            test[CONTEXT].astype(str).tolist(),
            np.searchsorted(catalog, test["ITEM_ID"].to_numpy()).astype(np.int64),
        )


# ---- metrics --------------------------------------------------------------------


def ranks(scores: Matrix, targets: np.ndarray[Any, np.dtype[np.int64]]) -> Any:
    """0-based rank of each target; ties go to the earlier catalogue item."""
    rows = np.arange(targets.size)
    mine = scores[rows, targets][:, None]
    before = np.arange(scores.shape[1])[None, :] < targets[:, None]
    return ((scores > mine) | ((scores == mine) & before)).sum(axis=1)


def metrics(scores: Matrix, targets: Any, catalog_size: int) -> dict[str, float]:
    rank = ranks(scores, targets)
    top10 = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    return {
        "HR@5": float((rank < 5).mean()),
        "HR@10": float((rank < 10).mean()),
        "NDCG@10": float(np.where(rank < 10, 1.0 / np.log2(rank + 2.0), 0.0).mean()),
        "MRR@25": float(np.where(rank < 25, 1.0 / (rank + 1.0), 0.0).mean()),
        "cov@10": len(np.unique(top10)) / catalog_size,
    }


def ndcg10_each(scores: Matrix, targets: Any) -> Any:
    """NDCG@10 of every query (one relevant item each)."""
    rank = ranks(scores, targets)
    return np.where(rank < 10, 1.0 / np.log2(rank + 2.0), 0.0)


def ndcg10(scores: Matrix, targets: Any) -> float:
    return float(ndcg10_each(scores, targets).mean())


# ---- shared signals for peers and blends -----------------------------------------


def interaction_matrix(
    split: Split, user_ids: np.ndarray[Any, np.dtype[np.str_]]
) -> sparse.csr_matrix:
    """Users x items counts of the training part."""
    users = np.searchsorted(user_ids, split.train["USER_ID"].to_numpy())
    items = np.searchsorted(split.catalog, split.train["ITEM_ID"].to_numpy())
    return sparse.csr_matrix(
        (np.ones(users.size), (users, items)),
        shape=(user_ids.size, split.catalog.size),
    )


@dataclass
class Signals:
    """Per-query popularity, popularity in the query's cabin, the user's history and
    popularity among users of the same metadata value (zero when it is unknown)."""

    popularity: Matrix
    in_cabin: Matrix
    history: Matrix
    in_group: Matrix | None = None
    group: str = ""  # the metadata field behind in_group

    @classmethod
    def of(cls, split: Split, users: pd.DataFrame | None = None) -> Signals:
        n = split.catalog.size
        items = np.searchsorted(split.catalog, split.train["ITEM_ID"].to_numpy())
        counts = np.bincount(items, minlength=n).astype(np.float64)
        cabins = split.train[CONTEXT].astype(str).to_numpy()
        per_cabin = {
            c: np.bincount(items[cabins == c], minlength=n).astype(np.float64)
            for c in set(cabins)
        }
        user_ids = np.array(sorted(set(split.train["USER_ID"])), dtype=str)
        x = interaction_matrix(split, user_ids)
        rows = np.searchsorted(user_ids, np.array(split.users, dtype=str))
        known = (rows < user_ids.size) & (
            user_ids[np.minimum(rows, user_ids.size - 1)] == np.array(split.users)
        )
        history = np.zeros((len(split.users), n))
        history[known] = x[rows[known]].toarray()
        # Cabins unseen in training fall back to overall popularity.
        in_cabin = np.stack([per_cabin.get(c, counts) for c in split.cabins])
        # A tiny popularity term breaks in-cabin ties in favour of popular items.
        in_cabin = in_cabin + 1e-6 * counts
        popularity = np.broadcast_to(counts, (len(split.users), n)).copy()
        group = "" if users is None else str(users.columns[0])
        return cls(popularity, in_cabin, history, group_popularity(split, users), group)


def group_popularity(split: Split, users: pd.DataFrame | None) -> Matrix | None:
    """Per query, item counts among training users sharing the user's value."""
    if users is None:
        return None
    column = users.iloc[:, 0]
    n = split.catalog.size
    items = np.searchsorted(split.catalog, split.train["ITEM_ID"].to_numpy())
    groups = split.train["USER_ID"].map(column).to_numpy()
    known = pd.notna(groups)
    per_group = {
        g: np.bincount(items[known & (groups == g)], minlength=n).astype(np.float64)
        for g in set(groups[known])
    }
    zero = np.zeros(n)
    return np.stack([per_group.get(column.get(u), zero) for u in split.users])


def rescale(scores: Matrix) -> Matrix:
    """Each row min-max scaled to [0, 1], so that blend weights compare."""
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    result: Matrix = (scores - low) / np.where(span > 0, span, 1.0)
    return result


Weights = tuple[float, float, float]  # cabin popularity, history, group popularity


def blend(peer: Matrix, signals: Signals, weights: Weights) -> Matrix:
    w_cabin, w_history, w_group = weights
    result: Matrix = (
        rescale(peer)
        + w_cabin * rescale(signals.in_cabin)
        + w_history * rescale(signals.history)
    )
    if signals.in_group is not None and w_group:
        result += w_group * rescale(signals.in_group)
    return result


def tune_blend(
    peer: Matrix, signals: Signals, targets: Any, with_group: bool
) -> Weights:
    """The blend weights with the best validation NDCG@10."""
    groups = GROUP_GRID if with_group and signals.in_group is not None else (0.0,)
    best: tuple[float, Weights] = (-1.0, (0.0, 0.0, 0.0))
    for weights in itertools.product(BLEND_GRID, BLEND_GRID, groups):
        value = ndcg10(blend(peer, signals, weights), targets)
        if value > best[0]:
            best = (value, weights)
    return best[1]


# ---- models ---------------------------------------------------------------------


class Peer:
    """A model that scores the whole catalogue for a batch of queries."""

    name = "peer"
    grid: tuple[Mapping[str, Any], ...] = ({},)

    def fit(self, split: Split, params: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def score(self, users: Sequence[str], cabins: Sequence[str]) -> Matrix:
        raise NotImplementedError


class Popularity(Peer):
    name = "popularity"

    def fit(self, split: Split, params: Mapping[str, Any]) -> None:
        items = np.searchsorted(split.catalog, split.train["ITEM_ID"].to_numpy())
        self.counts = np.bincount(items, minlength=split.catalog.size).astype(float)

    def score(self, users: Sequence[str], cabins: Sequence[str]) -> Matrix:
        return np.broadcast_to(self.counts, (len(users), self.counts.size)).copy()


class CabinPopularity(Popularity):
    name = "popularity in cabin"

    def fit(self, split: Split, params: Mapping[str, Any]) -> None:
        super().fit(split, params)
        items = np.searchsorted(split.catalog, split.train["ITEM_ID"].to_numpy())
        cabins = split.train[CONTEXT].astype(str).to_numpy()
        n = split.catalog.size
        self.per_cabin = {
            c: np.bincount(items[cabins == c], minlength=n) + 1e-6 * self.counts
            for c in set(cabins)
        }

    def score(self, users: Sequence[str], cabins: Sequence[str]) -> Matrix:
        return np.stack([self.per_cabin.get(c, self.counts) for c in cabins])


class FactorPeer(Peer):
    """A peer whose scores are user vectors times item vectors."""

    def set_factors(
        self, split: Split, user_ids: Any, user_f: Matrix, item_f: Matrix
    ) -> None:
        self.user_ids, self.user_f, self.item_f = user_ids, user_f, item_f

    def score(self, users: Sequence[str], cabins: Sequence[str]) -> Matrix:
        rows = np.searchsorted(self.user_ids, np.array(users, dtype=str))
        rows = np.minimum(rows, self.user_ids.size - 1)
        known = self.user_ids[rows] == np.array(users, dtype=str)
        result: Matrix = (self.user_f[rows] @ self.item_f.T).astype(np.float64)
        result[~known] = 0.0
        return result


class ImplicitALS(FactorPeer):
    name = "implicit ALS"
    grid = tuple(
        {"factors": f, "regularization": r, "alpha": a, "iterations": 15}
        for f in (16, 64)
        for r in (0.01, 0.1)
        for a in (1.0, 10.0)
    )

    def fit(self, split: Split, params: Mapping[str, Any]) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        user_ids = np.array(sorted(set(split.train["USER_ID"])), dtype=str)
        x = interaction_matrix(split, user_ids)
        x.data[:] = 1.0
        # implicit asks for a single-threaded BLAS; its own loop is the parallel one.
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                **params, random_state=7, num_threads=1, calculate_training_loss=False
            )
            model.fit(x, show_progress=False)
        self.set_factors(split, user_ids, model.user_factors, model.item_factors)


class ImplicitBPR(FactorPeer):
    name = "implicit BPR"
    grid = tuple(
        {"factors": f, "learning_rate": lr, "regularization": r, "iterations": 100}
        for f in (16, 64)
        for lr in (0.01, 0.05)
        for r in (0.001, 0.01)
    )

    def fit(self, split: Split, params: Mapping[str, Any]) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        user_ids = np.array(sorted(set(split.train["USER_ID"])), dtype=str)
        x = interaction_matrix(split, user_ids)
        x.data[:] = 1.0
        model = BayesianPersonalizedRanking(**params, random_state=7, num_threads=1)
        model.fit(x, show_progress=False)
        self.set_factors(split, user_ids, model.user_factors, model.item_factors)


def cornac_dataset(split: Split) -> Any:
    from cornac.data import Dataset

    triples = split.train[["USER_ID", "ITEM_ID"]].drop_duplicates()
    return Dataset.from_uir(
        [(u, i, 1.0) for u, i in triples.itertuples(index=False)], seed=7
    )


class CornacPeer(FactorPeer):
    """A cornac model, its scores mapped onto the benchmark's catalogue order."""

    def fit_cornac(self, split: Split, model: Any) -> None:
        data = cornac_dataset(split)
        model.fit(data)
        user_ids = np.array(sorted(data.uid_map), dtype=str)
        user_rows = np.array([data.uid_map[u] for u in user_ids])
        item_cols = np.array([data.iid_map[i] for i in split.catalog])
        full = np.stack([_dense(model.score(int(u))) for u in user_rows])
        # Keep a users x items table; FactorPeer.score multiplies by identity.
        self.set_factors(
            split, user_ids, full[:, item_cols], np.eye(split.catalog.size)
        )


def _dense(row: Any) -> Any:
    # EASE scores come back as a 1 x n sparse matrix, BPR's as a dense vector.
    return np.asarray(row.todense() if sparse.issparse(row) else row).ravel()


class CornacBPR(CornacPeer):
    name = "cornac BPR"
    grid = tuple(
        {"k": k, "learning_rate": lr, "lambda_reg": r, "max_iter": 100}
        for k in (16, 64)
        for lr in (0.01, 0.05)
        for r in (0.001, 0.01)
    )

    def fit(self, split: Split, params: Mapping[str, Any]) -> None:
        from cornac.models import BPR

        self.fit_cornac(split, BPR(**params, seed=7, num_threads=1, verbose=False))


class CornacEASE(CornacPeer):
    name = "cornac EASE"
    grid = tuple({"lamb": lamb} for lamb in (1.0, 10.0, 50.0, 200.0, 500.0))

    def fit(self, split: Split, params: Mapping[str, Any]) -> None:
        from cornac.models import EASE

        self.fit_cornac(split, EASE(**params, seed=7, verbose=False))


PEERS: tuple[type[Peer], ...] = (
    Popularity,
    CabinPopularity,
    ImplicitALS,
    ImplicitBPR,
    CornacBPR,
    CornacEASE,
)
LIBRARY: dict[type[Peer], str] = {ImplicitALS: "implicit", ImplicitBPR: "implicit"}
LIBRARY.update({CornacBPR: "cornac", CornacEASE: "cornac"})


def fit_recipe(
    split: Split,
    hyperparameters: Mapping[str, str] | None = None,
    users: pd.DataFrame | None = None,
) -> Recommender:
    model = recipe_class(DEFAULT_RECIPE)()
    data = TrainingData(
        split.train,
        users=users,
        context_fields=(CONTEXT,),
        user_fields=tuple(users.columns) if users is not None else (),
    )
    model.fit(data, hyperparameters or {})
    return model


def recipe_scores(model: Any, split: Split, with_context: bool) -> Matrix:
    return np.stack(
        [
            model.scores(Query(u, {CONTEXT: c} if with_context else {}))
            for u, c in zip(split.users, split.cabins, strict=True)
        ]
    )


# ---- reporting ------------------------------------------------------------------


@dataclass
class Row:
    name: str
    overall: dict[str, float]
    per_cabin: dict[str, float]  # NDCG@10 per cabin and pooled premium
    train_s: float = float("nan")
    query_us: float = float("nan")
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def evaluate(name: str, scores: Matrix, split: Split, **kw: Any) -> Row:
    cabins = np.array(split.cabins)
    groups = {c: cabins == c for c in sorted(set(split.cabins))}
    groups["premium"] = np.isin(cabins, PREMIUM)
    per_cabin = {
        c: ndcg10(scores[mask], split.targets[mask])
        for c, mask in groups.items()
        if mask.any()
    }
    overall = metrics(scores, split.targets, split.catalog.size)
    row = Row(name, overall, per_cabin, **kw)
    row.extra["gains"] = ndcg10_each(scores, split.targets)
    return row


def time_queries(query: Callable[[str, str], object], split: Split) -> float:
    """Mean microseconds per top-25 query over the first test queries."""
    pairs = list(zip(split.users, split.cabins, strict=True))[:LATENCY_QUERIES]
    started = time.perf_counter()
    for user, cabin in pairs:
        query(user, cabin)
    return (time.perf_counter() - started) / len(pairs) * 1e6


def top25(scores: Matrix) -> Any:
    part = np.argpartition(-scores, 24)[:25]
    return part[np.argsort(-scores[part], kind="stable")]


def print_table(rows: Sequence[Row], cabins: Sequence[str]) -> None:
    short = {
        "Economy": "Eco",
        "Premium Economy": "PremEco",
        "Business Class": "Bus",
        "First Class": "First",
        "premium": "Premium*",
    }
    head = f"{'model':48}" + "".join(f"{m:>8}" for m in METRICS)
    head += "".join(f"{short.get(c, c)[:8]:>9}" for c in cabins)
    head += f"{'train s':>9}{'query us':>9}"
    print(head)
    print("-" * len(head))
    for row in rows:
        line = f"{row.name[:48]:48}" + "".join(
            f"{row.overall[m]:8.4f}" for m in METRICS
        )
        line += "".join(f"{row.per_cabin.get(c, float('nan')):9.4f}" for c in cabins)
        latency = "-" if np.isnan(row.query_us) else f"{row.query_us:.0f}"
        line += f"{row.train_s:9.2f}{latency:>9}"
        print(line)
    print(
        "per-cabin columns: NDCG@10 within that CABIN_TYPE; Premium* pools Premium "
        "Economy, Business and First"
    )


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# ---- the run --------------------------------------------------------------------


def run_peer(
    peer_cls: type[Peer],
    val: Split,
    test: Split,
    val_signals: Signals,
    test_signals: Signals,
) -> list[Row]:
    """Tune on validation, refit on the training part, score test; also blended."""
    library = LIBRARY.get(peer_cls)
    if library is not None and version(library) == "not installed":
        print(f"  {peer_cls.name}: skipped, {library} is not installed", flush=True)
        return []
    peer = peer_cls()
    best: tuple[float, Mapping[str, Any]] = (-1.0, {})
    for params in peer.grid:
        peer.fit(val, params)
        value = ndcg10(peer.score(val.users, val.cabins), val.targets)
        if value > best[0]:
            best = (value, params)
    params = best[1]
    peer.fit(val, params)
    val_scores = peer.score(val.users, val.cabins)
    plain = tune_blend(val_scores, val_signals, val.targets, with_group=False)
    grouped = None
    if val_signals.in_group is not None:
        grouped = tune_blend(val_scores, val_signals, val.targets, with_group=True)
    started = time.perf_counter()
    peer.fit(test, params)
    train_s = time.perf_counter() - started
    scores = peer.score(test.users, test.cabins)

    def query(user: str, cabin: str) -> object:
        return top25(peer.score([user], [cabin])[0])

    query_us = time_queries(query, test)
    shown = ", ".join(f"{k}={v:g}" for k, v in params.items()) or "no parameters"
    group = val_signals.group
    print(
        f"  {peer.name}: {shown}; blend cabin={plain[0]:g} history={plain[1]:g}"
        + (
            ""
            if grouped is None
            else f", with {group} cabin={grouped[0]:g} "
            f"history={grouped[1]:g} {group}={grouped[2]:g}"
        )
        + f" (validation NDCG@10 {best[0]:.4f})",
        flush=True,
    )
    rows = [
        evaluate(peer.name, scores, test, train_s=train_s, query_us=query_us),
        evaluate(
            f"{peer.name} + cabin pop + history",
            blend(scores, test_signals, plain),
            test,
            train_s=train_s,
        ),
    ]
    if grouped is not None:
        rows.append(
            evaluate(
                f"{peer.name} + cabin, {group} pop + history",
                blend(scores, test_signals, grouped),
                test,
                train_s=train_s,
                extra={"metadata": True},
            )
        )
    # The blend used most, kept for the ensemble check: validation and test scores.
    chosen = grouped if grouped is not None else plain
    rows[-1].extra["scores"] = (
        blend(val_scores, val_signals, chosen),
        blend(scores, test_signals, chosen),
    )
    return rows


def benchmark(path: Path, users: pd.DataFrame | None, with_peers: bool) -> None:
    frame = load(path)
    train, test_rows = leave_last_out(frame)
    fit_part, val_rows = leave_last_out(train)
    test = Split.of(train, test_rows)
    val = Split.of(fit_part, val_rows)
    print(f"data: {path}")
    print(
        f"rows {len(frame)} after cleaning; training {len(train)}; test queries "
        f"{len(test.users)}; validation queries {len(val.users)} on {len(fit_part)} "
        f"rows; catalogue {test.catalog.size} items"
    )
    print(
        "versions: "
        + ", ".join(
            f"{p} {version(p)}" for p in ("numpy", "scipy", "implicit", "cornac")
        )
    )

    if users is not None:
        known = test_rows["USER_ID"].isin(users.index).mean()
        print(
            f"user metadata: {users.columns[0]} for {len(users)} users "
            f"({known:.0%} of test queries)"
        )

    started = time.perf_counter()
    model = fit_recipe(test, users=users)
    train_s = time.perf_counter() - started

    def query(user: str, cabin: str) -> object:
        return model.recommend(Query(user, {CONTEXT: cabin}), 25)

    query_us = time_queries(query, test)
    label = f"{DEFAULT_RECIPE} (default)"
    if users is not None:
        label = f"{DEFAULT_RECIPE} + {users.columns[0]}"
    rows = [
        evaluate(
            label,
            recipe_scores(model, test, with_context=True),
            test,
            train_s=train_s,
            query_us=query_us,
            extra={"metadata": users is not None},
        ),
        evaluate(
            f"{label}, no query context",
            recipe_scores(model, test, with_context=False),
            test,
            train_s=train_s,
        ),
    ]
    if users is not None:
        started = time.perf_counter()
        plain = fit_recipe(test)
        rows.append(
            evaluate(
                f"{DEFAULT_RECIPE}, interactions only",
                recipe_scores(plain, test, with_context=True),
                test,
                train_s=time.perf_counter() - started,
            )
        )
    recipes = len(rows)
    combined = None
    if with_peers:
        print("peers (tuned on the validation split):", flush=True)
        val_signals, test_signals = Signals.of(val, users), Signals.of(test, users)
        for peer_cls in PEERS:
            rows.extend(run_peer(peer_cls, val, test, val_signals, test_signals))
        on_val = recipe_scores(fit_recipe(val, users=users), val, with_context=True)
        combined = ensemble(
            val,
            test,
            on_val,
            recipe_scores(model, test, with_context=True),
            rows[recipes:],
        )

    cabins = [c for c in PREMIUM[::-1] if c in set(test.cabins)]
    cabins = ["Economy", *cabins[::-1], "premium"]
    print()
    print_table(rows, cabins)
    print()
    default, without = rows[0], rows[1]
    peers = rows[recipes:]
    if peers:
        plain_peers = [r for r in peers if not r.extra.get("metadata")]
        print_ratio("default", default, peers)
        if users is not None:
            print_ratio("interactions only", rows[2], plain_peers)
    premium = np.isin(np.array(test.cabins), PREMIUM)
    low, high = ratio_interval(
        without.extra["gains"][premium], default.extra["gains"][premium]
    )
    print(
        f"premium cabins NDCG@10: with context {default.per_cabin['premium']:.4f}, "
        f"without {without.per_cabin['premium']:.4f} (without / with "
        f"{without.per_cabin['premium'] / default.per_cabin['premium']:.3f}, 95% "
        f"bootstrap interval {low:.3f}-{high:.3f})"
    )
    if combined is not None:
        print(
            f"ensemble check (weight chosen on validation): {combined.name}: "
            f"NDCG@10 {combined.overall['NDCG@10']:.4f}, the default alone "
            f"{default.overall['NDCG@10']:.4f}"
        )


def reciprocal_rank(scores: Matrix) -> Matrix:
    """1 / (1 + rank) per row: scores of different models made comparable."""
    order = np.argsort(-scores, axis=1, kind="stable")
    result = np.empty_like(scores)
    rows = np.arange(scores.shape[0])[:, None]
    result[rows, order] = 1.0 / np.arange(1, scores.shape[1] + 1)
    return result


def ensemble(
    val: Split,
    test: Split,
    recipe_val: Matrix,
    recipe_test: Matrix,
    peers: Sequence[Row],
) -> Row | None:
    """The recipe plus the best blended peer, their weight chosen on validation.

    A ceiling check: if the peer knew something the recipe does not, adding it
    would lift validation NDCG@10 and the weight would come out above zero.
    """
    kept = [r for r in peers if "scores" in r.extra]
    if not kept:
        return None
    best, best_value = kept[0], -1.0
    for row in kept:
        value = ndcg10(row.extra["scores"][0], val.targets)
        if value > best_value:
            best, best_value = row, value
    peer_val, peer_test = best.extra["scores"]
    mine_val, theirs_val = reciprocal_rank(recipe_val), reciprocal_rank(peer_val)
    weight = max(
        BLEND_GRID,
        key=lambda w: (ndcg10(mine_val + w * theirs_val, val.targets), -w),
    )
    scores = reciprocal_rank(recipe_test) + weight * reciprocal_rank(peer_test)
    return evaluate(f"the default + {weight:g} x {best.name}", scores, test)


def print_ratio(label: str, recipe: Row, peers: Sequence[Row]) -> None:
    best = max(peers, key=lambda r: r.overall["NDCG@10"])
    mine, theirs = recipe.overall["NDCG@10"], best.overall["NDCG@10"]
    low, high = ratio_interval(recipe.extra["gains"], best.extra["gains"])
    print(
        f"{label}: NDCG@10 / best peer ({best.name}) = {mine:.4f} / {theirs:.4f} "
        f"= {mine / theirs:.3f} (95% bootstrap interval {low:.3f}-{high:.3f})"
    )


def ratio_interval(
    mine: Any, theirs: Any, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Paired bootstrap over the test queries of mean(mine) / mean(theirs).

    Both models are scored on the same resampled queries, so the interval shows
    how far the ratio could move with another draw of reviewers, not the spread
    of each model on its own.
    """
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, mine.size, size=(resamples, mine.size))
    ratios = mine[picks].mean(axis=1) / theirs[picks].mean(axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


# ---- scale ----------------------------------------------------------------------


def grow(frame: pd.DataFrame, factor: int) -> pd.DataFrame:
    """``factor`` copies of the interactions, each copy with fresh user ids."""
    copies = [
        frame.assign(USER_ID=frame["USER_ID"] + f"~{k}") if k else frame
        for k in range(factor)
    ]
    return pd.concat(copies, ignore_index=True)


def scale_child(path: Path, factor: int) -> None:
    """Fit the default recipe on ``factor`` copies; print a JSON line of figures."""
    frame = grow(load(path), factor)
    data = TrainingData(frame, context_fields=(CONTEXT,))
    before_fit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    model = recipe_class(DEFAULT_RECIPE)()
    model.fit(data, {})
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    user = str(frame["USER_ID"].iloc[-1])
    queries = [Query(user, {CONTEXT: c}) for c in PREMIUM] * 100
    started = time.perf_counter()
    for q in queries:
        model.recommend(q, 25)
    query_us = (time.perf_counter() - started) / len(queries) * 1e6
    # A second fit under tracemalloc isolates what training itself allocates
    # (numpy reports its buffers to tracemalloc); it is not timed.
    tracemalloc.start()
    recipe_class(DEFAULT_RECIPE)().fit(data, {})
    fit_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    figures = {
        "rows": len(frame),
        "fit_s": seconds,
        "fit_peak_mib": fit_peak / 2**20,
        "rss_before_mib": before_fit / 1024,
        "rss_peak_mib": peak / 1024,
        "query_us": query_us,
    }
    print(json.dumps(figures))


def scale(path: Path, factors: Iterable[int]) -> None:
    print()
    print("scale: the default recipe on copies of the data with fresh user ids")
    print(
        f"{'copies':>7}{'rows':>11}{'fit s':>9}{'fit peak MiB':>14}"
        f"{'RSS before fit':>16}{'RSS peak':>10}{'query us':>10}"
    )
    for factor in factors:
        command = [sys.executable, __file__, "--data", str(path)]
        out = subprocess.run(
            [*command, "--scale-child", str(factor)],
            capture_output=True,
            text=True,
            check=True,
        )
        f = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{factor:>7}{f['rows']:>11}{f['fit_s']:9.2f}{f['fit_peak_mib']:14.0f}"
            f"{f['rss_before_mib']:16.0f}{f['rss_peak_mib']:10.0f}"
            f"{f['query_us']:10.0f}",
            flush=True,
        )
    print(
        "fit peak: memory allocated by training (tracemalloc); RSS: the whole "
        "process in MiB (Python, the pandas frame, the model)."
    )


# ---- search for the recipe's defaults (validation split only) -----------------------


def tune_recipe(path: Path, users: pd.DataFrame | None, trials: int) -> None:
    """Search the recipe's hyperparameters on the validation split; print the best."""
    import optuna

    train, _ = leave_last_out(load(path))
    fit_part, val_rows = leave_last_out(train)
    val = Split.of(fit_part, val_rows)
    cls: Any = recipe_class(DEFAULT_RECIPE)
    ranges = cls.DEFAULT_HPO_RANGES["continuousHyperParameterRanges"]

    def objective(trial: optuna.Trial) -> float:
        params = {
            r["name"]: str(
                trial.suggest_float(
                    r["name"],
                    r["minValue"],
                    r["maxValue"],
                    log=r.get("scalingType") == "Logarithmic",
                )
            )
            for r in ranges
        }
        model = fit_recipe(val, params, users)
        return ndcg10(recipe_scores(model, val, True), val.targets)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=7)
    )
    study.enqueue_trial(
        {r["name"]: float(cls.DEFAULT_HYPERPARAMETERS[r["name"]]) for r in ranges}
    )
    study.optimize(objective, n_trials=trials)
    print(f"defaults: validation NDCG@10 {study.trials[0].value:.4f}")
    print(f"best of {trials}: validation NDCG@10 {study.best_value:.4f}")
    print(json.dumps({k: f"{v:.3g}" for k, v in study.best_params.items()}, indent=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_path())
    parser.add_argument(
        "--users",
        type=Path,
        help=f"users metadata CSV (default: {USERS_FILE} beside --data, if present)",
    )
    parser.add_argument(
        "--user-field", default=USER_FIELD, help="its categorical column"
    )
    parser.add_argument(
        "--no-users", action="store_true", help="interactions only, no metadata"
    )
    parser.add_argument("--no-peers", action="store_true", help="recipe only")
    parser.add_argument("--scale", action="store_true", help="also grow 10x, 100x")
    parser.add_argument(
        "--scale-factors", default="10,100", help="copies for --scale (comma list)"
    )
    parser.add_argument(
        "--tune-recipe",
        type=int,
        default=0,
        metavar="N",
        help="only search the recipe's hyperparameters on validation (N trials)",
    )
    parser.add_argument("--scale-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_child:
        scale_child(args.data, args.scale_child)
        return 0
    users_path = args.users
    if users_path is None and (args.data.parent / USERS_FILE).exists():
        users_path = args.data.parent / USERS_FILE
    users = None if args.no_users else load_users(users_path, args.user_field)
    if args.tune_recipe:
        tune_recipe(args.data, users, args.tune_recipe)
        return 0
    benchmark(args.data, users, with_peers=not args.no_peers)
    if args.scale:
        scale(args.data, [int(f) for f in args.scale_factors.split(",")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
