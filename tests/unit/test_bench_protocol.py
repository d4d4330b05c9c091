"""The recipe benchmark's protocol: the split, the tie rules and the metrics.

The figures in the README come from scripts/bench_recipes.py; these tests pin the
parts of it that decide what is being measured, on data small enough to check by hand.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_recipes.py"


@pytest.fixture(scope="module")
def bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_recipes", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_recipes"] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("bench_recipes", None)


HEADER = "ITEM_ID,USER_ID,TIMESTAMP,CABIN_TYPE,EVENT_VALUE,EVENT_TYPE\n"


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "interactions.csv"
    path.write_text(HEADER + "".join(line + "\n" for line in lines))
    return path


def test_load_drops_exact_duplicates_and_bad_timestamps(
    bench: Any, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        [
            "a,u1,100,Economy,5.0,RATING",
            "a,u1,100,Economy,5.0,RATING",  # exact duplicate
            "a,u1,100,Economy,6.0,RATING",  # differs in the rating: kept
            "b,u2,0,Economy,5.0,RATING",  # bad date
            "b,u2,-5,Economy,5.0,RATING",
        ],
    )
    frame = bench.load(path)
    assert len(frame) == 2
    assert list(frame["EVENT_VALUE"]) == [5.0, 6.0]


def test_leave_last_out_holds_out_the_latest_row_and_the_later_line_on_ties(
    bench: Any, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        [
            "late,u1,300,Economy,5.0,RATING",  # u1's latest, though first in file
            "a,u1,100,Economy,5.0,RATING",
            "a,u2,200,Business Class,5.0,RATING",
            "b,u2,200,First Class,5.0,RATING",  # tie with the line above: held out
            "a,u3,100,Economy,5.0,RATING",  # single row: stays in training
            "b,u4,50,Economy,5.0,RATING",
            "new,u4,60,Economy,5.0,RATING",  # item unseen in training: dropped
            "late,u5,10,Economy,5.0,RATING",
        ],
    )
    train, test = bench.leave_last_out(bench.load(path))
    assert sorted(zip(test["USER_ID"], test["ITEM_ID"], strict=True)) == [
        ("u1", "late"),
        ("u2", "b"),
    ]
    assert test.loc[test["USER_ID"] == "u2", "CABIN_TYPE"].item() == "First Class"
    assert "u3" in set(train["USER_ID"])
    assert "new" not in set(train["ITEM_ID"])
    assert len(train) + len(test) == 7  # only u4's unseen item is lost


def test_ranks_break_ties_towards_the_earlier_catalogue_item(bench: Any) -> None:
    scores = np.array([[1.0, 1.0, 1.0, 0.0], [0.0, 2.0, 2.0, 3.0]])
    assert list(bench.ranks(scores, np.array([1, 2]))) == [1, 2]
    assert list(bench.ranks(scores, np.array([0, 3]))) == [0, 0]


def test_metrics_on_a_hand_checked_example(bench: Any) -> None:
    # Three queries over five items, their targets at ranks 0, 3 and 4.
    scores = np.array(
        [
            [5.0, 4.0, 3.0, 2.0, 1.0],  # target 0 at rank 0
            [5.0, 4.0, 3.0, 2.0, 1.0],  # target 3 at rank 3
            [5.0, 4.0, 3.0, 2.0, 1.0],  # target 4 at rank 4
        ]
    )
    result = bench.metrics(scores, np.array([0, 3, 4]), catalog_size=5)
    assert result["HR@5"] == pytest.approx(1.0)
    expected_ndcg = (1.0 + 1.0 / np.log2(5.0) + 1.0 / np.log2(6.0)) / 3
    assert result["NDCG@10"] == pytest.approx(expected_ndcg)
    assert result["MRR@25"] == pytest.approx((1.0 + 1 / 4 + 1 / 5) / 3)
    assert result["cov@10"] == pytest.approx(1.0)
    each = bench.ndcg10_each(scores, np.array([0, 3, 4]))
    assert each.mean() == pytest.approx(expected_ndcg)


def test_ratio_interval_is_paired_and_brackets_the_ratio(bench: Any) -> None:
    rng = np.random.default_rng(1)
    theirs = rng.random(500)
    low, high = bench.ratio_interval(theirs * 1.2, theirs)
    # Paired: the same queries scale both means, so the ratio cannot move.
    assert low == pytest.approx(1.2) and high == pytest.approx(1.2)

    mine = np.clip(theirs + rng.normal(0.05, 0.2, size=500), 0, 1)
    low, high = bench.ratio_interval(mine, theirs)
    point = mine.mean() / theirs.mean()
    assert low < point < high
    assert high - low < 0.5
