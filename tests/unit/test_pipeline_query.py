"""Query-side checks that run before any call: context keys and values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from airctx.cli.main import cli
from airctx.config import load_settings
from airctx.data.summary import PreparedSummary, summary_path
from airctx.errors import ContextError
from airctx.pipeline.project import Project
from airctx.pipeline.query import check_context, event_warnings, track_event
from tests.conftest import write_project_config


@pytest.fixture
def project(tmp_path: Path) -> tuple[Project, list[str]]:
    settings = load_settings(write_project_config(tmp_path))
    lines: list[str] = []
    # These checks make no AWS call, so no clients are needed.
    no_clients: Any = None
    return Project(settings, no_clients, report=lines.append), lines


def test_an_unknown_key_is_an_error_naming_the_declared_ones(
    project: tuple[Project, list[str]],
) -> None:
    with pytest.raises(ContextError, match=r"'SEAT'.*declared: CABIN_TYPE"):
        check_context(project[0], {"SEAT": "1A"})


def test_a_value_the_prepared_data_never_had_is_a_warning(
    project: tuple[Project, list[str]],
) -> None:
    proj, lines = project
    path = proj.settings.context_values_path
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"CABIN_TYPE": ["Economy", "First Class"]}))

    assert check_context(proj, {"CABIN_TYPE": "Economy"}) == {"CABIN_TYPE": "Economy"}
    assert lines == []
    check_context(proj, {"CABIN_TYPE": "Econ"})
    assert len(lines) == 1
    assert "CABIN_TYPE='Econ' does not occur" in lines[0]
    assert "Economy, First Class" in lines[0]


@pytest.mark.parametrize(
    ("value", "guess"),
    [
        ("economy", "Economy"),
        ("ECONOMY ", "Economy"),
        ("Premium Economic", "Premium Economy"),
        ("first", "First Class"),
        ("zzz", None),
    ],
    ids=["case", "case-and-space", "close", "prefix", "nothing-like-it"],
)
def test_an_unseen_value_close_to_a_known_one_suggests_it(
    project: tuple[Project, list[str]], value: str, guess: str | None
) -> None:
    proj, lines = project
    path = proj.settings.context_values_path
    path.parent.mkdir(parents=True)
    known = ["Economy", "First Class", "Premium Economy", "Business Class"]
    path.write_text(json.dumps({"CABIN_TYPE": known}))

    check_context(proj, {"CABIN_TYPE": value})

    assert len(lines) == 1
    assert f"CABIN_TYPE={value!r} does not occur" in lines[0]
    if guess is None:
        assert "did you mean" not in lines[0]
    else:
        assert lines[0].endswith(f"; did you mean {guess!r}?")


def test_a_repeated_context_key_is_a_usage_error(tmp_path: Path) -> None:
    config = write_project_config(tmp_path)
    args = ["--config", str(config), "recommend", "--user", "u"]
    args += ["--context", "CABIN_TYPE=Economy", "--context", "CABIN_TYPE=First Class"]

    result = CliRunner().invoke(cli, args)

    assert result.exit_code == 2
    assert "CABIN_TYPE is given twice" in result.output


def test_ctrl_c_while_waiting_says_the_work_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airctx.pipeline.train as train_step

    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(train_step, "train", interrupted)
    monkeypatch.setattr("airctx.cli.main.App.project", lambda *_a, **_k: None)
    config = write_project_config(tmp_path)

    result = CliRunner().invoke(cli, ["--config", str(config), "train"])

    assert result.exit_code == 130
    assert "goes on running on the backend" in result.output


# -- track-event checks ---


class RecordingEvents:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def put_events(self, **params: Any) -> dict[str, Any]:
        self.sent.append(params)
        return {}


@pytest.fixture
def tracked(
    project: tuple[Project, list[str]], monkeypatch: pytest.MonkeyPatch
) -> tuple[Project, list[str], RecordingEvents]:
    from types import SimpleNamespace

    import airctx.pipeline.query as query

    proj, lines = project
    events = RecordingEvents()
    proj.clients = SimpleNamespace(events=events)
    monkeypatch.setattr(query, "ensure_event_tracker", lambda _p: ({}, "tid"))
    PreparedSummary((1.0, 10.0), ("RATING",), frozenset({"emirates", "klm"})).save(
        summary_path(proj.settings.data.output_dir)
    )
    return proj, lines, events


@pytest.mark.parametrize(
    ("item", "event_type", "value", "expected"),
    [
        ("emirates", "RATING", 9.0, []),
        ("emirates", "RATING", None, []),
        (
            "emirates",
            "RATING",
            1e9,
            [
                "--value 1e+09 is outside the EVENT_VALUE range of the prepared "
                "interactions (1 to 10); it is recorded as given"
            ],
        ),
        (
            "moon-air",
            "RATING",
            9.0,
            [
                "item 'moon-air' does not occur in the prepared interactions; it "
                "counts only once it is in the training data (or the items "
                "dataset) and a new solution version is trained"
            ],
        ),
        (
            "klm",
            "CLICK",
            9.0,
            [
                "event type 'CLICK' is not the one the solution trains on "
                "(solution.event_type: 'RATING'); training will ignore this event "
                "(use --event-type RATING)"
            ],
        ),
    ],
    ids=["usable", "no-value", "absurd-value", "unknown-item", "other-type"],
)
def test_an_event_the_model_cannot_use_is_recorded_with_a_warning(
    tracked: tuple[Project, list[str], RecordingEvents],
    item: str,
    event_type: str,
    value: float | None,
    expected: list[str],
) -> None:
    proj, lines, events = tracked

    answer = track_event(proj, "u1", item, event_type, value, {})

    assert len(events.sent) == 1
    assert events.sent[0]["eventList"][0]["itemId"] == item
    assert lines == [f"warning: {w}" for w in expected]
    assert answer.get("warnings", []) == expected


def test_a_new_session_for_a_user_id_of_the_longest_length_fits_putevents(
    tracked: tuple[Project, list[str], RecordingEvents],
) -> None:
    proj, _lines, events = tracked
    user = "u" * 256

    answer = track_event(proj, user, "item1", "RATING", 8.0, {})

    session = events.sent[0]["sessionId"]
    assert answer["sessionId"] == session
    assert len(session) == 256 and session.startswith("u" * 200)


def test_without_a_prepared_summary_only_the_event_type_is_checked(
    project: tuple[Project, list[str]],
) -> None:
    proj, _lines = project

    assert event_warnings(proj, "anything", "RATING", 1e9) == []
    assert len(event_warnings(proj, "anything", "CLICK", None)) == 1


def test_a_summary_of_another_projects_data_is_not_used_to_judge_events(
    project: tuple[Project, list[str]],
) -> None:
    proj, _lines = project
    PreparedSummary(
        (1.0, 10.0), ("RATING",), frozenset({"klm"}), project="someone-else"
    ).save(summary_path(proj.settings.data.output_dir))

    assert event_warnings(proj, "moon-air", "RATING", 1e9) == []


# -- rank ---


class RecordingRuntime:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def get_personalized_ranking(self, **params: Any) -> dict[str, Any]:
        self.sent.append(params)
        ranked = [{"itemId": i, "score": 0.1} for i in params["inputList"]]
        return {"personalizedRanking": ranked, "recommendationId": "RID-1"}


def test_an_item_given_twice_is_ranked_once_with_a_warning(
    project: tuple[Project, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    import airctx.pipeline.query as query

    proj, lines = project
    runtime = RecordingRuntime()
    proj.clients = SimpleNamespace(runtime=runtime)
    monkeypatch.setattr(query, "campaign_arn", lambda _p: "arn:campaign")

    result = query.rank(proj, "u1", ["klm", "emirates", "klm", "qantas"], {})

    assert runtime.sent[0]["inputList"] == ["klm", "emirates", "qantas"]
    assert [item for item, _s in result.items] == ["klm", "emirates", "qantas"]
    assert lines == ["warning: klm given more than once; each item is ranked once"]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ("", "--items: holds no item ids"),
        (" , ,", "--items: holds no item ids"),
        (",".join(f"i{n}" for n in range(501)), "--items: holds 501 item ids"),
    ],
    ids=["empty", "only-commas", "too-many"],
)
def test_an_unusable_item_list_is_a_usage_error(
    tmp_path: Path, items: str, message: str
) -> None:
    config = write_project_config(tmp_path)
    args = ["--config", str(config), "rank", "--user", "u", "--items", items]

    result = CliRunner().invoke(cli, args)

    assert result.exit_code == 2, result.output
    assert message in result.output


class AnsweringRuntime(RecordingRuntime):
    def get_recommendations(self, **params: Any) -> dict[str, Any]:
        self.sent.append(params)
        return {"itemList": [{"itemId": "klm", "score": 0.5}], "recommendationId": "R"}


@pytest.fixture
def queried(
    project: tuple[Project, list[str]], monkeypatch: pytest.MonkeyPatch
) -> tuple[Project, list[str], AnsweringRuntime]:
    from types import SimpleNamespace

    import airctx.pipeline.query as query

    proj, lines = project
    runtime = AnsweringRuntime()
    proj.clients = SimpleNamespace(runtime=runtime)
    monkeypatch.setattr(query, "campaign_arn", lambda _p: "arn:campaign")
    PreparedSummary((1.0, 10.0), ("RATING",), frozenset({"emirates", "klm"})).save(
        summary_path(proj.settings.data.output_dir)
    )
    return proj, lines, runtime


def test_ranking_items_the_prepared_data_lacks_warns_before_the_call(
    queried: tuple[Project, list[str], AnsweringRuntime],
) -> None:
    import airctx.pipeline.query as query

    proj, lines, runtime = queried

    result = query.rank(proj, "u1", ["klm", "moon-air", "sky-blue"], {})

    expected = (
        "items 'moon-air', 'sky-blue' do not occur in the prepared interactions; "
        "the model has learnt nothing about them, so their ranks mean little"
    )
    assert lines == [f"warning: {expected}"]
    assert result.as_dict()["warnings"] == [expected]
    assert runtime.sent[0]["inputList"] == ["klm", "moon-air", "sky-blue"]
    assert "warnings" not in query.rank(proj, "u1", ["klm"], {}).as_dict()


def test_related_items_of_an_unknown_item_or_with_unused_options_warn(
    queried: tuple[Project, list[str], AnsweringRuntime],
) -> None:
    import dataclasses

    import airctx.pipeline.query as query

    proj, lines, runtime = queried
    solution = dataclasses.replace(proj.settings.solution, recipe="aws-sims")
    proj.settings = dataclasses.replace(proj.settings, solution=solution)

    result = query.recommend(
        proj, "u1", {"CABIN_TYPE": "Economy"}, 5, item_id="moon-air"
    )

    expected = [
        "item 'moon-air' does not occur in the prepared interactions; the model "
        "has learnt nothing about it, so the items listed say nothing about it",
        "--user and --context are not used by solution.recipe 'aws-sims': a "
        "related-items campaign answers for the item alone",
    ]
    assert lines == [f"warning: {w}" for w in expected]
    assert result.as_dict()["warnings"] == expected
    assert len(runtime.sent) == 1
    lines.clear()
    assert "warnings" not in query.recommend(proj, None, {}, item_id="klm").as_dict()
    assert lines == []


# -- run's samples ---


def test_run_labels_a_ranking_sample_as_the_ranked_items_not_a_top_n() -> None:
    from airctx.pipeline.query import Recommendations
    from airctx.pipeline.run import RunResult

    sample = Recommendations("ColinPay", {"CABIN_TYPE": "Economy"}, [("klm", 0.9)], "R")
    ranked = RunResult(samples=[sample], ranked_from=25).summary()
    recommended = RunResult(samples=[sample]).summary()

    assert ranked.splitlines()[1] == (
        "top 1 of the 25 items with the most interactions, ranked for ColinPay "
        "(CABIN_TYPE=Economy):"
    )
    assert recommended.splitlines()[1] == "top 1 for ColinPay (CABIN_TYPE=Economy):"


class ScoringRuntime(RecordingRuntime):
    """Answers as Personalize does: small relative scores, or none at all."""

    def __init__(self, scored: bool) -> None:
        super().__init__()
        self.scored = scored

    def get_recommendations(self, **params: Any) -> dict[str, Any]:
        self.sent.append(params)
        shares = {"klm": 0.0212865, "emirates": 0.0113043}
        return {
            "itemList": [
                {"itemId": i, "score": s} if self.scored else {"itemId": i}
                for i, s in shares.items()
            ],
            "recommendationId": "R",
        }


def test_scores_show_four_significant_digits(
    queried: tuple[Project, list[str], AnsweringRuntime],
) -> None:
    from types import SimpleNamespace

    import airctx.pipeline.query as query
    from airctx.pipeline.run import RunResult

    proj, _lines, _runtime = queried
    proj.clients = SimpleNamespace(runtime=ScoringRuntime(scored=True))

    result = query.recommend(proj, "u1", {}, 2)

    rows, headers = result.table()
    assert headers == ["rank", "item", "score"]
    assert rows == [["1", "klm", "0.02129"], ["2", "emirates", "0.01130"]]
    assert result.as_dict()["itemList"][0] == {"itemId": "klm", "score": 0.0212865}
    summary = RunResult(samples=[result]).summary()
    assert "klm" in summary and summary.splitlines()[-1].endswith("0.01130")


def test_an_answer_without_scores_shows_none(
    queried: tuple[Project, list[str], AnsweringRuntime],
) -> None:
    from types import SimpleNamespace

    import airctx.pipeline.query as query
    from airctx.pipeline.run import RunResult

    proj, _lines, _runtime = queried
    proj.clients = SimpleNamespace(runtime=ScoringRuntime(scored=False))

    result = query.recommend(proj, None, {}, 2, item_id="klm")

    rows, headers = result.table()
    assert headers == ["rank", "item"]
    assert rows == [["1", "klm"], ["2", "emirates"]]
    assert result.as_dict()["itemList"] == [{"itemId": "klm"}, {"itemId": "emirates"}]
    assert RunResult(samples=[result]).summary().splitlines()[-1].endswith("emirates")
