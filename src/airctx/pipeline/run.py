"""run: every step in order, then a sample query that shows the context at work."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airctx.config import Settings
from airctx.pipeline.deploy import deploy
from airctx.pipeline.imports import import_data
from airctx.pipeline.prep import prep_data
from airctx.pipeline.project import Project
from airctx.pipeline.query import Recommendations, recommend
from airctx.pipeline.train import train


@dataclass
class RunResult:
    steps: dict[str, Any] = field(default_factory=dict)
    samples: list[Recommendations] = field(default_factory=list)

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
            lines.append(f"\ntop {len(sample.items)} for {sample.user_id} ({ctx}):")
            lines += [
                f"  {n:>2}. {item:<40} {score:.4f}"
                for n, (item, score) in enumerate(sample.items, 1)
            ]
        return "\n".join(lines)


def run_all(
    settings: Settings,
    project: Project,
    *,
    retrain: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    say = progress or (lambda _m: None)
    result = RunResult()
    say("[1/5] prep-data")
    result.steps["prep"] = prep_data(settings, progress=say).as_dict()
    say("[2/5] import (schemas, dataset group, datasets, import jobs)")
    result.steps["import"] = import_data(project).as_dict()
    say("[3/5] train")
    trained = train(project, retrain=retrain)
    if trained.training_hours is not None:
        say(f"training took {trained.training_hours:.4f} training hours")
    result.steps["train"] = trained.as_dict()
    say("[4/5] deploy")
    result.steps["deploy"] = deploy(project).as_dict()
    say("[5/5] sample recommendations")
    user, values = sample_query(settings)
    spec = settings.interactions
    if user is not None and spec.context_fields:
        for value in values:
            result.samples.append(
                recommend(project, user, {spec.context_fields[0]: value}, 10)
            )
    return result


def sample_query(settings: Settings) -> tuple[str | None, list[str]]:
    """The most active user of the prepared data, and two contrasting context values."""
    path = settings.prepared_csv("INTERACTIONS")
    spec = settings.interactions
    if not spec.context_fields or not path.is_file():
        return None, []
    field_name = spec.context_fields[0]
    users: Counter[str] = Counter()
    values: Counter[str] = Counter()
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            users[row["USER_ID"]] += 1
            if row.get(field_name):
                values[row[field_name]] += 1
    if not users:
        return None, []
    common = [v for v, _n in values.most_common()]
    picks = [common[0], common[-1]] if len(common) > 1 else common
    return users.most_common(1)[0][0], picks
