"""The learned second stage of the context-aware recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airctx.engine.recipes import ranker
from airctx.engine.recipes.base import LiveEvent, Query, TrainingData
from airctx.engine.recipes.context import UserPersonalization

DAY = 86_400


def chain_data(n_users: int = 240) -> TrainingData:
    """Economy travellers use items e0-e9, First travellers f0-f9; whoever used
    item k next uses item k+1 of the same cabin (two or three events each)."""
    rng = np.random.default_rng(3)
    rows = []
    for u in range(n_users):
        cabin, prefix = ("First", "f") if u % 3 == 0 else ("Economy", "e")
        start = int(rng.integers(0, 10))
        for step in range(2 + u % 2):
            rows.append(
                (
                    f"u{u}",
                    f"{prefix}{(start + step) % 10}",
                    1_600_000_000 + (u + step * 400) * DAY,
                    cabin,
                    float(rng.integers(5, 11)),
                )
            )
    frame = pd.DataFrame(
        rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "CABIN", "EVENT_VALUE"]
    )
    frame["EVENT_TYPE"] = "RATING"
    return TrainingData(frame, context_fields=("CABIN",))


@pytest.fixture(scope="module")
def model() -> UserPersonalization:
    fitted = UserPersonalization()
    fitted.fit(chain_data(), {})
    return fitted


def test_second_stage_is_learned_when_enough_users_have_two_events(
    model: UserPersonalization,
) -> None:
    facts = model.describe()
    assert facts["second_stage"] is True
    assert int(facts["second_stage_examples"]) >= 100


def test_second_stage_learns_the_next_item_of_the_chain(
    model: UserPersonalization,
) -> None:
    live = [LiveEvent("e4", 1_800_000_000.0, context={"CABIN": "Economy"})]
    top = [i for i, _ in model.recommend(Query("new", {"CABIN": "Economy"}, live), 3)]
    assert "e5" in top


def test_context_still_decides_with_a_second_stage(model: UserPersonalization) -> None:
    economy = model.recommend(Query("new", {"CABIN": "Economy"}), 1)[0][0]
    first = model.recommend(Query("new", {"CABIN": "First"}), 1)[0][0]
    assert economy.startswith("e")
    assert first.startswith("f")


def test_candidates_score_above_every_other_item(model: UserPersonalization) -> None:
    scores = model.scores(Query("u1", {"CABIN": "Economy"}))
    above = scores > 1.0
    assert int(above.sum()) == min(50, scores.size)
    assert scores.max() <= 2.0


def test_save_load_keeps_the_second_stage(
    model: UserPersonalization, tmp_path: Path
) -> None:
    model.save(tmp_path)
    loaded = UserPersonalization.load(tmp_path)
    assert loaded.describe()["second_stage"] is True
    for query in (
        Query("u1", {"CABIN": "Economy"}),
        Query("u3", {"CABIN": "First"}),
        Query("new", {}),
    ):
        assert loaded.recommend(query, 8) == model.recommend(query, 8)


def test_a_model_saved_without_the_second_stage_serves_the_blend(
    model: UserPersonalization, tmp_path: Path
) -> None:
    model.save(tmp_path)
    with np.load(tmp_path / "model.npz", allow_pickle=False) as npz:
        older = {k: npz[k] for k in npz.files if not k.startswith("ltr_")}
    np.savez(tmp_path / "model.npz", **older)
    text = (tmp_path / "model.json").read_text()
    (tmp_path / "model.json").write_text(
        text.replace('"ranker_features"', '"old_ranker_features"')
    )
    loaded = UserPersonalization.load(tmp_path)
    assert loaded.describe()["second_stage"] is False
    assert len(loaded.recommend(Query("u1", {"CABIN": "Economy"}), 5)) == 5


def test_second_stage_can_be_switched_off() -> None:
    plain = UserPersonalization()
    plain.fit(chain_data(), {"rerank_candidates": "0"})
    assert plain.describe()["second_stage"] is False
    assert float(plain.scores(Query("u1", {"CABIN": "Economy"})).max()) <= 10.0


def test_too_few_users_with_two_events_leave_the_blend_alone() -> None:
    small = UserPersonalization()
    small.fit(chain_data(n_users=60), {})
    assert small.describe()["second_stage"] is False


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rerank_candidates": "-1"}, "outside"),
        ({"rerank_l2": "lots"}, "not a number"),
        ({"rerank_rounds": "0"}, "outside"),
    ],
)
def test_bad_second_stage_hyperparameters_are_rejected(
    params: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        UserPersonalization().fit(chain_data(n_users=30), params)


def test_softmax_ranker_puts_the_marked_row_first() -> None:
    rng = np.random.default_rng(0)
    groups, positives = [], []
    for _ in range(200):
        features = rng.normal(size=(10, 3))
        best = int(np.argmax(features[:, 1] - features[:, 2]))
        groups.append(features)
        positives.append(best)
    model = ranker.fit_softmax(groups, positives, l2=0.001)
    assert model.weights[1] > 0 > model.weights[2]
    hits = [
        int(np.argmax(model.score(g))) == p
        for g, p in zip(groups, positives, strict=True)
    ]
    assert np.mean(hits) > 0.9


def test_ease_relates_items_used_together() -> None:
    # Users 0-3 use items 0 and 1 together; users 4-5 use item 2 alone.
    users = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 5])
    items = np.array([0, 1, 0, 1, 0, 1, 0, 1, 2, 2])
    weights = ranker.ease(users, items, 6, 3, lam=1.0)
    assert np.allclose(np.diag(weights), 0.0)
    assert weights[0, 1] > 0.5
    assert abs(weights[0, 2]) < 1e-9


def test_near_counts_events_around_a_time() -> None:
    times = np.array([0.0, 1.0, 2.0, 100.0, 101.0]) * DAY + 1_600_000_000
    items = np.array([0, 0, 1, 1, 1])
    tables = ranker.ItemTables.build(
        np.arange(5),
        items,
        times,
        np.ones(5),
        np.zeros((5, 0), np.int64),
        [],
        5,
        2,
        ease_lambda=0.0,
    )
    around_start = np.expm1(tables.near(float(times[0]), 14.0, np.arange(2)))
    around_end = np.expm1(tables.near(float(times[-1]), 14.0, np.arange(2)))
    assert around_start.round().tolist() == [2.0, 1.0]
    assert around_end.round().tolist() == [0.0, 2.0]
    assert tables.ease.size == 0
