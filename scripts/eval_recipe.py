"""Train a local recipe on the Skytrax interactions and report metrics and timings.

Usage:
    PYTHONPATH=src python scripts/eval_recipe.py [--recipe NAME] [--hpo-trials N]
        [--data-dir DIR | --prepared DIR] [--set NAME=VALUE ...]

DIR (or AIRCTX_DATA_DIR) holds personalize-format/df_interactions.csv and
derived_user_id_to_nationality.csv, as in the shared Skytrax data folder.
``--prepared`` reads what ``airctx prep-data`` wrote instead (interactions.csv and,
when present, users.csv, e.g. build/data after the quickstart). ``--set`` fixes a
hyperparameter (e.g. ``--set rerank_candidates=0`` for the blend alone).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

from airctx.engine.recipes.base import Query, TrainingData
from airctx.engine.training import train


def load(data_dir: Path) -> TrainingData:
    folder = data_dir / "personalize-format"
    interactions = pd.read_csv(
        folder / "df_interactions.csv", dtype={"ITEM_ID": str, "USER_ID": str}
    )
    users = pd.read_csv(
        folder / "derived_user_id_to_nationality.csv", dtype={"USER_ID": str}
    ).set_index("USER_ID")[["NATIONALITY"]]
    return TrainingData(
        interactions,
        users=users,
        context_fields=("CABIN_TYPE",),
        user_fields=("NATIONALITY",),
    )


def load_prepared(folder: Path) -> TrainingData:
    interactions = pd.read_csv(
        folder / "interactions.csv", dtype={"ITEM_ID": str, "USER_ID": str}
    )
    users = None
    if (folder / "users.csv").is_file():
        users = pd.read_csv(folder / "users.csv", dtype=str).set_index("USER_ID")
    return TrainingData(
        interactions,
        users=users,
        context_fields=("CABIN_TYPE",),
        user_fields=tuple(users.columns) if users is not None else (),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="aws-user-personalization")
    parser.add_argument("--hpo-trials", type=int, default=0)
    default_dir = os.environ.get("AIRCTX_DATA_DIR", "../shared/data/skytrax")
    parser.add_argument("--data-dir", type=Path, default=Path(default_dir))
    parser.add_argument("--prepared", type=Path, help="a prep-data output folder")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", dest="fixed"
    )
    args = parser.parse_args()
    fixed = dict(pair.split("=", 1) for pair in args.fixed)

    data = load_prepared(args.prepared) if args.prepared else load(args.data_dir)
    hpo_config = {
        "hpoResourceConfig": {
            "maxNumberOfTrainingJobs": str(args.hpo_trials),
            "maxParallelTrainingJobs": "1",
        },
        "algorithmHyperParameterRanges": {},
    }

    def progress(stage: str, figures: object) -> None:
        if stage == "hpo_trial":
            print(f"  {stage}: {figures}", file=sys.stderr)

    result = train(
        args.recipe,
        data,
        hyperparameters=fixed,
        perform_hpo=args.hpo_trials > 0,
        hpo_config=hpo_config if args.hpo_trials > 0 else None,
        progress=progress,
    )
    print(f"recipe: {args.recipe}  interactions: {len(data.interactions)}")
    print(f"training with holdout metrics: {result.training_seconds:.2f} s")

    started = time.perf_counter()
    result.model.fit(data, result.hyperparameters)
    print(f"final fit alone: {time.perf_counter() - started:.2f} s")

    # Latency over a mix of known and unknown users, each cabin.
    user_ids = data.interactions["USER_ID"].drop_duplicates().head(200).tolist()
    cabins = sorted(data.interactions["CABIN_TYPE"].dropna().unique())
    queries = [
        Query(user, {"CABIN_TYPE": cabin})
        for user in [*user_ids, "new-user"]
        for cabin in cabins
    ]
    started = time.perf_counter()
    for query in queries:
        result.model.recommend(query, 25)
    micro = (time.perf_counter() - started) / len(queries) * 1e6
    print(f"query latency (top 25, mean of {len(queries)}): {micro:.0f} us")

    print(f"{'metric':48} {'model':>8} {'popularity':>10}")
    for name, value in result.metrics.items():
        print(f"{name:48} {value:8.4f} {result.baseline_metrics[name]:10.4f}")
    print("hyperparameters:", result.hyperparameters)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
