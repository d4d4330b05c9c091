"""Validation of prepared CSVs against schemas and Personalize's minimums."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airctx.data.validate import (
    MAX_PROBLEMS_PER_RULE,
    Problem,
    ValidationReport,
    validate_files,
)
from tests.conftest import INTERACTIONS, USERS

SPECS = {"INTERACTIONS": INTERACTIONS, "USERS": USERS}
HEADER = "USER_ID,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_TYPE,EVENT_VALUE"


def good_rows(n_users: int = 40, per_user: int = 30) -> list[str]:
    """``n_users * per_user`` valid interactions, ratings cycling 1-10."""
    return [
        f"u{u},i{(u + k) % 50},{1400000000 + k},"
        f"{'Economy' if k % 3 else 'First Class'},RATING,{1 + k % 10}"
        for u in range(n_users)
        for k in range(per_user)
    ]


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def validate(tmp_path: Path, rows: list[str]) -> ValidationReport:
    files = {"INTERACTIONS": write(tmp_path / "i.csv", HEADER, rows)}
    return validate_files(
        files,
        SPECS,
        event_type="RATING",
        event_value_threshold=None,
    )


def test_good_files_pass_with_summary(tmp_path: Path) -> None:
    files = {
        "INTERACTIONS": write(tmp_path / "i.csv", HEADER, good_rows()),
        "USERS": write(
            tmp_path / "u.csv",
            "USER_ID,USER_RESIDENCE",
            [f"u{u},Peru" for u in range(40)],
        ),
    }
    report = validate_files(
        files, SPECS, event_type="RATING", event_value_threshold=None
    )
    assert report.ok, report.problems
    assert report.problems == []
    summary = report.summary
    assert summary.rows == {"INTERACTIONS": 1200, "USERS": 40}
    assert summary.users == 40
    assert summary.items == 50
    assert summary.users_with_2plus == 40
    assert summary.interactions_after_filters == 1200
    assert summary.events_per_context == {"Economy": 800, "First Class": 400}
    json.dumps(report.as_dict())  # JSON-ready


def test_threshold_and_event_type_filters_apply_to_minimums(tmp_path: Path) -> None:
    rows = good_rows()
    rows[9] = rows[9].replace("RATING", "CLICK")  # a rating of 10
    report = validate_files(
        {"INTERACTIONS": write(tmp_path / "i.csv", HEADER, rows)},
        SPECS,
        event_type="RATING",
        event_value_threshold=6,
    )
    # ratings cycle 1..10: 5 of 10 are >= 6; one RATING row became CLICK
    assert report.summary.interactions_after_filters == 599
    assert [p.rule for p in report.errors] == ["min_interactions"]
    assert "after filtering on event type 'RATING' and event value >= 6" in (
        report.errors[0].message
    )


def test_too_few_users_with_two_interactions(tmp_path: Path) -> None:
    rows = good_rows(n_users=24, per_user=50)
    report = validate_files(
        {"INTERACTIONS": write(tmp_path / "i.csv", HEADER, rows)},
        SPECS,
        event_type=None,
        event_value_threshold=None,
    )
    assert report.summary.interactions_after_filters == 1200
    assert [p.rule for p in report.errors] == ["min_users"]
    assert "24 users have 2 or more" in report.errors[0].message


@pytest.mark.parametrize(
    ("bad_row", "rule", "column"),
    [
        ("u1,i1,1400000000000,Economy,RATING,5", "timestamp_seconds", "TIMESTAMP"),
        ("u1,i1,yesterday,Economy,RATING,5", "type", "TIMESTAMP"),
        ("u1,i1,1400000000,Economy,RATING,n/a", "type", "EVENT_VALUE"),
        (",i1,1400000000,Economy,RATING,5", "required", "USER_ID"),
        ("u1,i1,1400000000,,RATING,5", "required", "CABIN_TYPE"),
        ("u" + "x" * 300 + ",i1,1400000000,Economy,RATING,5", "id_length", "USER_ID"),
        (
            "u1,i1,1400000000," + "C" * 1001 + ",RATING,5",
            "categorical_length",
            "CABIN_TYPE",
        ),
    ],
    ids=["ms", "ts-text", "rating-na", "no-user", "no-cabin", "long-id", "long-cat"],
)
def test_row_errors_name_file_line_and_column(
    tmp_path: Path, bad_row: str, rule: str, column: str
) -> None:
    rows = good_rows()
    rows.insert(4, bad_row)  # data row 5 -> file line 6
    report = validate(tmp_path, rows)
    assert not report.ok
    errors = report.errors
    assert len(errors) == 1, errors
    problem = errors[0]
    assert (problem.file, problem.line, problem.column, problem.rule) == (
        str(tmp_path / "i.csv"),
        6,
        column,
        rule,
    )


def test_header_must_match_schema_order(tmp_path: Path) -> None:
    reordered = "ITEM_ID,USER_ID,TIMESTAMP,CABIN_TYPE,EVENT_TYPE,EVENT_VALUE"
    swapped = [
        ",".join([r.split(",")[1], r.split(",")[0], *r.split(",")[2:]])
        for r in good_rows()
    ]
    report = validate_files(
        {"INTERACTIONS": write(tmp_path / "i.csv", reordered, swapped)},
        SPECS,
        event_type="RATING",
        event_value_threshold=None,
    )
    assert [(p.rule, p.line) for p in report.errors] == [("header", 1)]
    assert "same columns in a different order" in report.errors[0].message
    # the rows were still read by name
    assert report.summary.interactions_after_filters == 1200


def test_a_repeated_column_is_named_at_line_1(tmp_path: Path) -> None:
    files = {
        "INTERACTIONS": write(tmp_path / "i.csv", HEADER, good_rows()),
        "USERS": write(
            tmp_path / "u.csv", "USER_ID,USER_ID,USER_RESIDENCE", ["u1,u2,Peru"]
        ),
    }
    report = validate_files(
        files, SPECS, event_type="RATING", event_value_threshold=None
    )
    assert [(p.file, p.line, p.column, p.rule) for p in report.errors] == [
        (str(files["USERS"]), 1, "USER_ID", "header")
    ]
    assert "column 'USER_ID' appears 2 times (columns 1, 2)" in report.errors[0].message


def test_missing_column_stops_that_file(tmp_path: Path) -> None:
    header = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"
    report = validate_files(
        {"INTERACTIONS": write(tmp_path / "i.csv", header, ["u,i,1,RATING,1"])},
        SPECS,
        event_type=None,
        event_value_threshold=None,
    )
    assert report.errors[0].rule == "header"
    assert "missing CABIN_TYPE" in report.errors[0].message


def test_problems_are_capped_per_rule_but_counted(tmp_path: Path) -> None:
    rows = [r.replace(",RATING,", ",RATING,x") for r in good_rows()]
    report = validate(tmp_path, rows)
    type_problems = [p for p in report.problems if p.rule == "type"]
    assert len(type_problems) == MAX_PROBLEMS_PER_RULE
    assert report.problem_counts["error:type"] == 1200
    assert report.error_count == 1200 + 2


def test_users_without_interactions_are_warnings(tmp_path: Path) -> None:
    files = {
        "INTERACTIONS": write(tmp_path / "i.csv", HEADER, good_rows()),
        "USERS": write(
            tmp_path / "u.csv",
            "USER_ID,USER_RESIDENCE",
            ["u1,Peru", "ghost,Chile", "u1,Peru"],
        ),
    }
    report = validate_files(
        files, SPECS, event_type="RATING", event_value_threshold=None
    )
    assert report.ok
    assert [(p.rule, p.line, p.severity) for p in report.warnings] == [
        ("duplicate_id", 4, "warning"),
        ("unused_user", 3, "warning"),
    ]
    assert "'ghost' has no interactions" in report.warnings[1].message


def test_missing_interactions_file_and_unreadable_files(tmp_path: Path) -> None:
    report = validate_files(
        {"USERS": tmp_path / "absent.csv"},
        SPECS,
        event_type=None,
        event_value_threshold=None,
    )
    rules = [p.rule for p in report.errors]
    assert rules == ["missing_file", "file"]
    assert "does not exist" in report.errors[1].message


def test_semicolon_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "i.csv"
    path.write_text(HEADER.replace(",", ";") + "\n")
    report = validate_files(
        {"INTERACTIONS": path}, SPECS, event_type=None, event_value_threshold=None
    )
    assert report.errors[0].rule == "delimiter"


def test_chunked_reading_keeps_line_numbers(tmp_path: Path) -> None:
    rows = good_rows()
    rows[1100] = rows[1100].rsplit(",", 1)[0] + ",bad"
    files = {"INTERACTIONS": write(tmp_path / "i.csv", HEADER, rows)}
    report = validate_files(
        files, SPECS, event_type=None, event_value_threshold=None, chunk_rows=7
    )
    assert [(p.rule, p.line) for p in report.errors] == [("type", 1102)]


def test_problem_renders_as_one_line() -> None:
    problem = Problem("i.csv", 6, "TIMESTAMP", "type", "'x' is not a long")
    assert str(problem) == "i.csv:6 [TIMESTAMP]: error: 'x' is not a long (type)"


def test_duplicates_and_unused_ids_are_found_across_chunks(tmp_path: Path) -> None:
    users = [f"u{i},Peru" for i in range(40)] + ["ghost,Chile", "u3,Peru", "u39,Peru"]
    files = {
        "INTERACTIONS": write(tmp_path / "i.csv", HEADER, good_rows()),
        "USERS": write(tmp_path / "u.csv", "USER_ID,USER_RESIDENCE", users),
    }
    report = validate_files(
        files, SPECS, event_type="RATING", event_value_threshold=None, chunk_rows=4
    )
    assert sorted((p.line, p.rule) for p in report.warnings) == [
        (42, "unused_user"),
        (43, "duplicate_id"),
        (44, "duplicate_id"),
    ]
    assert (report.summary.users, report.summary.items) == (40, 50)
    assert report.summary.users_with_2plus == 40
    # The scratch database lived beside the files and is gone.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.csv", "u.csv"]


def test_scratch_database_is_removed_when_validation_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("airctx.data.validate._validate_entities", fail)
    files = {
        "INTERACTIONS": write(tmp_path / "i.csv", HEADER, good_rows(2, 2)),
        "USERS": write(tmp_path / "u.csv", "USER_ID,USER_RESIDENCE", ["u1,Peru"]),
    }
    with pytest.raises(OSError, match="disk full"):
        validate_files(files, SPECS, event_type=None, event_value_threshold=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.csv", "u.csv"]


def test_a_short_row_is_reported_as_such_not_as_missing_values(
    tmp_path: Path,
) -> None:
    rows = good_rows()
    rows.insert(3, "u1,i1")

    report = validate(tmp_path, rows)

    assert not report.ok
    assert "required" not in {p.rule for p in report.errors}
    assert [
        (p.rule, p.line, p.column, p.message) for p in report.errors if p.rule == "csv"
    ] == [
        (
            "csv",
            5,
            "TIMESTAMP",
            "row has 2 field(s) where the header has 6 (no field for TIMESTAMP); "
            "check the delimiter and the quoting, or add the missing fields (an "
            "empty field still needs its delimiter)",
        )
    ]


def _with_users(tmp_path: Path, rows: list[str]) -> dict[str, Path]:
    return {
        "INTERACTIONS": write(tmp_path / "i.csv", HEADER, rows),
        "USERS": write(
            tmp_path / "u.csv",
            "USER_ID,USER_RESIDENCE",
            [f"u{u},Peru" for u in range(40)],
        ),
    }


@pytest.mark.parametrize(
    ("bad_row", "line", "column", "message"),
    [
        (
            "u1,i1,1400000000,Economy,RATING",
            7,
            "EVENT_VALUE",
            "row has 5 field(s) where the header has 6 (no field for EVENT_VALUE)",
        ),
        (
            "u1,i1,1400000000,Economy,RATING,7,extra",
            7,
            None,
            "row has 7 fields where the header has 6; quote a value that holds a comma",
        ),
        (
            'u1,i1,1400000000,"Economy,RATING,7',
            7,
            None,
            "a quoted value opened on this line is never closed",
        ),
    ],
    ids=["short", "long", "open-quote"],
)
def test_an_unparseable_interactions_file_is_one_error_with_its_line(
    tmp_path: Path, bad_row: str, line: int, column: str | None, message: str
) -> None:
    rows = good_rows()
    rows.insert(5, bad_row)
    files = _with_users(tmp_path, rows)

    report = validate_files(
        files, SPECS, event_type="RATING", event_value_threshold=None, chunk_rows=4
    )

    # One error, where it is; nothing that follows from the file being unread.
    assert [(p.rule, p.line, p.column) for p in report.problems] == [
        ("csv", line, column)
    ]
    assert report.problems[0].message.startswith(message)
    assert (report.error_count, report.warning_count) == (1, 0)
    assert report.skipped == [
        "Personalize's minimums (min_interactions, min_users): "
        f"{files['INTERACTIONS']} could not be read to the end, so its counts are "
        "partial",
        f"users without interactions ({files['USERS']}): {files['INTERACTIONS']} "
        "could not be read to the end, so which users have interactions is not "
        "known",
    ]
    assert report.as_dict()["skipped"] == report.skipped
    text = report.text()
    assert f"{files['INTERACTIONS']}:{line}" in text
    assert "skipped: Personalize's minimums" in text


def test_an_interactions_file_missing_a_column_skips_the_minimums(
    tmp_path: Path,
) -> None:
    header = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"
    files = _with_users(tmp_path, [])
    write(files["INTERACTIONS"], header, ["u1,i1,1400000000,RATING,7"])

    report = validate_files(
        files, SPECS, event_type="RATING", event_value_threshold=None
    )

    assert [p.rule for p in report.problems] == ["header"]
    assert len(report.skipped) == 2


def test_a_good_file_skips_nothing(tmp_path: Path) -> None:
    report = validate_files(
        _with_users(tmp_path, good_rows()),
        SPECS,
        event_type="RATING",
        event_value_threshold=None,
    )
    assert report.ok and report.skipped == []
    assert report.text().startswith("safe to import: 0 error(s), 0 warning(s)\n")


def test_many_problems_of_one_kind_print_as_one_line(tmp_path: Path) -> None:
    files = _with_users(tmp_path, good_rows())
    ghosts = [f"ghost{i},Mars" for i in range(1366)]
    write(
        files["USERS"],
        "USER_ID,USER_RESIDENCE",
        ["u1,Peru", *ghosts, "u2,Peru", ",Peru"],
    )

    report = validate_files(
        files, SPECS, event_type="RATING", event_value_threshold=None, chunk_rows=100
    )

    assert report.warning_count == 1366
    lines = report.problem_lines()
    assert lines == [
        f"{files['USERS']}:1370 [USER_ID]: error: value is required (required)",
        f"{files['USERS']} [USER_ID]: warning: 1,366 users have no interactions, "
        "e.g. 'ghost0' (line 3), 'ghost1' (line 4), 'ghost2' (line 5) "
        "(unused_user)",
    ]
    assert report.problem_lines("error") == lines[:1]
    text = report.text()
    assert text.startswith("NOT safe to import: 1 error(s), 1,366 warning(s)\n")
    assert "ghost3" not in text
    # The JSON keeps the capped list, each with its value.
    problems = report.as_dict()["problems"]
    unused = [p for p in problems if p["rule"] == "unused_user"]
    assert len(unused) == MAX_PROBLEMS_PER_RULE
    assert unused[0]["value"] == "ghost0"


def test_a_few_problems_of_one_kind_are_listed_one_by_one(tmp_path: Path) -> None:
    files = _with_users(tmp_path, good_rows())
    write(
        files["USERS"],
        "USER_ID,USER_RESIDENCE",
        ["u1,Peru", "ghost0,Mars", "ghost1,Mars", "ghost2,Mars"],
    )

    report = validate_files(
        files, SPECS, event_type="RATING", event_value_threshold=None
    )

    assert report.problem_lines() == [
        f"{files['USERS']}:{line} [USER_ID]: warning: user 'ghost{n}' has no "
        "interactions (unused_user)"
        for n, line in ((0, 3), (1, 4), (2, 5))
    ]


def test_a_summed_up_rule_without_a_phrase_shows_messages(tmp_path: Path) -> None:
    rows = [r.rsplit(",", 1)[0] + ",x" for r in good_rows(40, 30)]

    report = validate(tmp_path, rows)

    (line,) = [x for x in report.problem_lines() if "(type)" in x]
    assert line == (
        f"{tmp_path / 'i.csv'} [EVENT_VALUE]: error: 1,200 values have the wrong "
        "type, e.g. 'x' (line 2), 'x' (line 3), 'x' (line 4) (type)"
    )


def test_an_iso_date_timestamp_is_reported_as_needing_epoch_seconds(
    tmp_path: Path,
) -> None:
    rows = good_rows()
    rows[0] = "u0,i0,2015-03-17,Economy,RATING,7"

    report = validate(tmp_path, rows)

    assert [(p.line, p.column, p.message) for p in report.errors] == [
        (
            2,
            "TIMESTAMP",
            "'2015-03-17' is not a whole number; TIMESTAMP must be unix epoch "
            "seconds, e.g. 1426550400 for 2015-03-17",
        )
    ]
