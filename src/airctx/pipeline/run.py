"""run: every step in order, then a sample query that shows the context at work."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airctx.config import Settings
from airctx.pipeline.deploy import deploy
from airctx.pipeline.imports import import_data
from airctx.pipeline.prep import prep_data
from airctx.pipeline.project import Project
from airctx.pipeline.query import (
    Recommendations,
    format_score,
    rank,
    recipe_type,
    recommend,
)
from airctx.pipeline.train import check_recipe, train


@dataclass
class RunResult:
    steps: dict[str, Any] = field(default_factory=dict)
    samples: list[Recommendations] = field(default_factory=list)
    # With a ranking recipe: how many of the most used items each sample reorders.
    ranked_from: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**self.steps, "samples": [s.as_dict() for s in self.samples]}

    def summary(self) -> str:
        lines = []
        metrics = self.steps.get("train", {}).get("metrics", {})
        if metrics:
            lines.append("offline metrics of the solution version:")
            lines += [f"  {k:<45} {v:.4f}" for k, v in sorted(metrics.items())]
        for sample in self.samples:
            ctx = (
                ", ".join(f"{k}={v}" for k, v in sample.context.items()) or "no context"
            )
            if sample.item_id is not None:
                lines.append(f"\ntop {len(sample.items)} related to {sample.item_id}:")
            elif self.ranked_from is not None:
                lines.append(
                    f"\ntop {len(sample.items)} of the {self.ranked_from} items with "
                    f"the most interactions, ranked for {sample.user_id} ({ctx}):"
                )
            else:
                lines.append(f"\ntop {len(sample.items)} for {sample.user_id} ({ctx}):")
            lines += [
                f"  {n:>2}. {item:<40} {format_score(score)}".rstrip()
                for n, (item, score) in enumerate(sample.items, 1)
            ]
        return "\n".join(lines)


def run_all(
    settings: Settings,
    project: Project,
    *,
    retrain: bool = False,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
    input_path: Path | None = None,
    input_format: str | None = None,
    users_input: Path | None = None,
) -> RunResult:
    say = progress or (lambda _m: None)
    result = RunResult()
    # A recipe the backend does not offer fails here, before any data is moved.
    check_recipe(project)
    say("[1/5] prep-data")
    prepared = prep_data(
        settings, input_path, input_format, progress=say, users_input=users_input
    )
    result.steps["prep"] = prepared.as_dict()
    say("[2/5] import (schemas, dataset group, datasets, import jobs)")
    result.steps["import"] = import_data(project, replace=replace).as_dict()
    say("[3/5] train")
    trained = train(project, retrain=retrain)
    if trained.training_hours is not None:
        say(f"training took {trained.training_hours:.4f} training hours")
    result.steps["train"] = trained.as_dict()
    say("[4/5] deploy")
    result.steps["deploy"] = deploy(project).as_dict()
    say("[5/5] sample recommendations")
    sample = sample_query(settings)
    spec = settings.interactions
    kind = recipe_type(settings.solution.recipe)
    if kind == "RELATED_ITEMS":
        # A related-items campaign answers for an item, whatever the context.
        if sample.items:
            related = recommend(project, None, {}, 10, item_id=sample.items[0])
            result.samples.append(related)
        return result
    if sample.user is None or not spec.context_fields:
        return result
    for value in sample.values:
        context = {spec.context_fields[0]: value}
        if kind == "PERSONALIZED_RANKING":
            # A ranking campaign reorders a given list; rank the most used items.
            result.ranked_from = len(sample.items)
            ranked = rank(project, sample.user, sample.items, context)
            ranked.items = ranked.items[:10]
            result.samples.append(ranked)
        else:
            result.samples.append(recommend(project, sample.user, context, 10))
    return result


@dataclass
class Sample:
    """Who to show recommendations for, in which contexts, and the most used items."""

    user: str | None = None
    values: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)


def sample_query(settings: Settings) -> Sample:
    """The most active user of the prepared data, two contrasting context values and
    the 25 most used items."""
    path = settings.prepared_csv("INTERACTIONS")
    spec = settings.interactions
    if not path.is_file():
        return Sample()
    field_name = spec.context_fields[0] if spec.context_fields else None
    users: Counter[str] = Counter()
    values: Counter[str] = Counter()
    items: Counter[str] = Counter()
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            users[row["USER_ID"]] += 1
            items[row["ITEM_ID"]] += 1
            if field_name and row.get(field_name):
                values[row[field_name]] += 1
    if not users:
        return Sample()
    common = [v for v, _n in values.most_common()]
    picks = [common[0], common[-1]] if len(common) > 1 else common
    top_items = [i for i, _n in items.most_common(25)]
    return Sample(users.most_common(1)[0][0], picks, top_items)
