"""Preparing Personalize CSVs from raw Skytrax and Personalize-format inputs."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from airctx.config import DatasetSpec, FieldSpec
from airctx.data import prep as prep_module
from airctx.data.files import atomic_write
from airctx.data.prep import SKYTRAX_COLUMNS, PrepReport, prepare
from airctx.data.summary import PreparedSummary, summary_path
from airctx.errors import DataError
from tests.conftest import INTERACTIONS, USERS, skytrax_dir

SKYTRAX_HEADER = (
    "airline_name,link,title,author,author_country,date,content,aircraft,"
    "type_traveller,cabin_flown,route,overall_rating,seat_comfort_rating,"
    "cabin_staff_rating,food_beverages_rating,inflight_entertainment_rating,"
    "ground_service_rating,wifi_connectivity_rating,value_money_rating,recommended"
)


def skytrax_row(
    airline: str = "flybe",
    author: str = "Ann Lee",
    country: str = "Belgium",
    date: str = "2012-09-05",
    cabin: str = "Economy",
    rating: str = "8",
    content: str = "Fine flight.",
) -> str:
    fields = [
        f'"{airline}"', f'"/airline-reviews/{airline}"', '"review"', f'"{author}"',
        f'"{country}"' if country != "NA" else "NA", f'"{date}"', f'"{content}"',
        "NA", "NA", f'"{cabin}"' if cabin != "NA" else "NA", "NA", rating,
        "NA", "NA", "NA", "NA", "NA", "NA", "4", "1",
    ]  # fmt: skip
    return ",".join(fields)


def write(
    path: Path, lines: list[str], newline: str = "\n", enc: str = "utf-8"
) -> Path:
    path.write_bytes((newline.join(lines) + newline).encode(enc))
    return path


def run(
    input_path: Path, out: Path, users: DatasetSpec | None = USERS, **kw: Any
) -> PrepReport:
    return prepare(
        input_path, interactions=INTERACTIONS, users=users, output_dir=out, **kw
    )


def read_out(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_skytrax_mapping(tmp_path: Path) -> None:
    src = write(
        tmp_path / "airline.csv",
        [
            SKYTRAX_HEADER,
            skytrax_row(author="Ann Lee", date="2015-03-17", cabin="First Class"),
            skytrax_row(airline="klm", author="Bo Ng", country="Japan", rating="3"),
        ],
    )
    report = run(src, tmp_path / "out", event_type="REVIEW")
    frame = read_out(tmp_path / "out" / "interactions.csv")
    assert list(frame.columns) == INTERACTIONS.names
    assert frame.to_dict("records")[0] == {
        "USER_ID": "AnnLee",
        "ITEM_ID": "flybe",
        "TIMESTAMP": "1426550400",  # 2015-03-17T00:00:00Z
        "CABIN_TYPE": "First Class",
        "EVENT_TYPE": "REVIEW",
        "EVENT_VALUE": "8.0",
    }
    users = read_out(tmp_path / "out" / "users.csv")
    assert users.to_dict("records") == [
        {"USER_ID": "AnnLee", "USER_RESIDENCE": "Belgium"},
        {"USER_ID": "BoNg", "USER_RESIDENCE": "Japan"},
    ]
    assert report.rows_read == 2
    assert report.interactions_written == 2
    assert report.users_written == 2
    assert report.events_per_context == {"First Class": 1, "Economy": 1}
    assert report.input_format == "skytrax"
    assert report.as_dict()["users_path"] == str(tmp_path / "out" / "users.csv")


def test_timestamp_does_not_depend_on_local_timezone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14
    time.tzset()
    try:
        src = write(
            tmp_path / "a.csv", [SKYTRAX_HEADER, skytrax_row(date="2015-03-17")]
        )
        run(src, tmp_path / "out")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    frame = read_out(tmp_path / "out" / "interactions.csv")
    assert frame["TIMESTAMP"].tolist() == ["1426550400"]


def test_cleaning_rules_are_counted_per_reason(tmp_path: Path) -> None:
    long_name = "x" * 300
    src = write(
        tmp_path / "airline.csv",
        [
            SKYTRAX_HEADER,
            skytrax_row(author="Keep Me"),
            skytrax_row(author="NA"),
            skytrax_row(airline="NA"),
            skytrax_row(cabin="NA"),
            skytrax_row(rating="NA"),
            skytrax_row(rating='"n/a"'),
            skytrax_row(date="0000-00-00"),
            skytrax_row(date="1970-01-01"),
            skytrax_row(date="2999-01-01"),
            skytrax_row(author=long_name),
            skytrax_row(cabin="C" * 1001),
            skytrax_row(author="Keep Me"),  # duplicate of the first row
        ],
    )
    report = run(src, tmp_path / "out")
    assert report.dropped == {
        "USER_ID: missing": 1,
        "USER_ID: longer than 256": 1,
        "ITEM_ID: missing": 1,
        "TIMESTAMP: unparseable": 1,
        "TIMESTAMP: not after 1970-01-01": 1,
        "TIMESTAMP: in the future": 1,
        "CABIN_TYPE: missing": 1,
        "CABIN_TYPE: longer than 1000": 1,
        "EVENT_VALUE: missing": 1,
        "EVENT_VALUE: unparseable": 1,
        "duplicate event": 1,
    }
    assert report.rows_read == 12
    assert report.interactions_written == 1
    frame = read_out(tmp_path / "out" / "interactions.csv")
    assert frame["USER_ID"].tolist() == ["KeepMe"]


@pytest.mark.parametrize("rating", ["99", "-3", "0", "10.5"])
def test_a_skytrax_rating_outside_1_to_10_is_dropped_with_its_reason(
    tmp_path: Path, rating: str
) -> None:
    src = write(
        tmp_path / "airline.csv",
        [
            SKYTRAX_HEADER,
            skytrax_row(author="Low", rating="1"),
            skytrax_row(author="High", rating="10"),
            skytrax_row(author="Bad", rating=rating),
        ],
    )

    report = run(src, tmp_path / "out")

    assert report.dropped == {"EVENT_VALUE: outside 1-10": 1}
    frame = read_out(tmp_path / "out" / "interactions.csv")
    assert frame["USER_ID"].tolist() == ["Low", "High"]


def test_personalize_format_event_values_have_no_declared_range(
    tmp_path: Path,
) -> None:
    src = write(
        tmp_path / "df.csv",
        [
            "USER_ID,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_TYPE,EVENT_VALUE",
            "u1,i1,1500000000,Economy,RATING,99",
        ],
    )

    report = run(src, tmp_path / "out", users=None)

    assert report.dropped == {} and report.interactions_written == 1


def test_prep_writes_a_summary_of_what_it_wrote(tmp_path: Path) -> None:
    src = write(
        tmp_path / "airline.csv",
        [
            SKYTRAX_HEADER,
            skytrax_row(airline="klm", author="A", rating="3"),
            skytrax_row(airline="flybe", author="B", rating="9"),
            skytrax_row(airline="dropped-air", author="C", rating="NA"),
        ],
    )

    report = run(src, tmp_path / "out", chunk_rows=1, project="alpha")

    summary = PreparedSummary.load(summary_path(tmp_path / "out"))
    assert summary == PreparedSummary(
        (3.0, 9.0),
        ("RATING",),
        frozenset({"klm", "flybe"}),
        project="alpha",
        input_file=str(src.resolve()),
    )
    assert report.event_value_range == [3.0, 9.0]
    assert report.event_types == ["RATING"]


def test_a_summary_over_the_item_cap_leaves_the_items_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prep_module, "MAX_ITEMS", 1)
    src = write(
        tmp_path / "airline.csv",
        [SKYTRAX_HEADER, skytrax_row(airline="klm"), skytrax_row(airline="flybe")],
    )

    run(src, tmp_path / "out")

    summary = PreparedSummary.load(summary_path(tmp_path / "out"))
    assert summary is not None and summary.items is None


def test_duplicates_are_found_across_chunks(tmp_path: Path) -> None:
    rows = [
        skytrax_row(author=f"User {i % 3}", date="2014-01-0" + str(1 + i % 3))
        for i in range(9)
    ]
    src = write(tmp_path / "a.csv", [SKYTRAX_HEADER, *rows])
    report = run(src, tmp_path / "out", chunk_rows=2)
    assert report.interactions_written == 3
    assert report.dropped == {"duplicate event": 6}


@pytest.mark.parametrize(
    ("rule", "expected"), [("latest", "Spain"), ("most_frequent", "France")]
)
def test_residence_rule_and_conflicts(tmp_path: Path, rule: str, expected: str) -> None:
    src = write(
        tmp_path / "a.csv",
        [
            SKYTRAX_HEADER,
            skytrax_row(airline="a", country="France", date="2010-01-01"),
            skytrax_row(airline="b", country="France", date="2011-01-01"),
            skytrax_row(airline="c", country="Spain", date="2013-01-01"),
            skytrax_row(airline="d", country="NA", date="2014-01-01"),
            skytrax_row(airline="e", author="Bo Ng", country="Peru"),
        ],
    )
    report = run(src, tmp_path / "out", residence_rule=rule, chunk_rows=2)
    users = read_out(tmp_path / "out" / "users.csv").set_index("USER_ID")
    assert users.loc["AnnLee", "USER_RESIDENCE"] == expected
    assert users.loc["BoNg", "USER_RESIDENCE"] == "Peru"
    assert report.residence_conflicts == 1
    assert report.residence_conflict_examples == ["AnnLee: France, Spain"]


def test_names_collapsing_to_one_user_id_are_reported(tmp_path: Path) -> None:
    src = write(
        tmp_path / "a.csv",
        [
            SKYTRAX_HEADER,
            skytrax_row(airline="a", author="Jo Ann Lee"),
            skytrax_row(airline="b", author="JoAnn Lee"),
            skytrax_row(airline="c", author="JoAnn Lee"),
        ],
    )
    report = run(src, tmp_path / "out")
    assert report.collapsed_names == 1
    assert report.collapsed_name_examples == [
        "'Jo Ann Lee' and 'JoAnn Lee' both become USER_ID 'JoAnnLee'"
    ]


def test_users_only_for_users_with_written_interactions(tmp_path: Path) -> None:
    src = write(
        tmp_path / "a.csv",
        [
            SKYTRAX_HEADER,
            skytrax_row(author="Ann Lee"),
            skytrax_row(author="No Rating", rating="NA"),
            skytrax_row(author="No Country", country="NA"),
        ],
    )
    report = run(src, tmp_path / "out")
    users = read_out(tmp_path / "out" / "users.csv")
    assert users["USER_ID"].tolist() == ["AnnLee"]
    assert report.users_dropped == {"USER_RESIDENCE: missing": 1}


def test_no_users_file_without_users_spec(tmp_path: Path) -> None:
    src = write(tmp_path / "a.csv", [SKYTRAX_HEADER, skytrax_row()])
    report = run(src, tmp_path / "out", users=None)
    assert report.users_path is None
    assert not (tmp_path / "out" / "users.csv").exists()


def test_quoted_newline_crlf_and_bom(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    lines = [
        SKYTRAX_HEADER,
        skytrax_row(content="first line\r\nsecond line, with comma"),
        skytrax_row(author="Bo Ng"),
    ]
    src.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode())
    report = run(src, tmp_path / "out")
    assert report.interactions_written == 2
    assert report.encoding == "utf-8-sig"
    assert b"\r" not in (tmp_path / "out" / "interactions.csv").read_bytes()


def test_latin1_input_falls_back_with_a_warning(tmp_path: Path) -> None:
    src = write(
        tmp_path / "a.csv",
        [SKYTRAX_HEADER, skytrax_row(), skytrax_row(author="José Núñez")],
        enc="latin-1",
    )
    report = run(src, tmp_path / "out")
    assert report.encoding == "latin-1"
    assert report.warnings and "line 3: not valid UTF-8" in report.warnings[0]
    frame = read_out(tmp_path / "out" / "interactions.csv")
    assert "JoséNúñez" in frame["USER_ID"].tolist()


def test_semicolon_delimiter_is_detected(tmp_path: Path) -> None:
    src = write(
        tmp_path / "a.csv",
        [
            "USER_ID;ITEM_ID;TIMESTAMP;CABIN_TYPE;EVENT_VALUE",
            "u1;i1;1400000000;Economy;7",
            "u2;i1;1400000001;Economy;8",
        ],
    )
    report = run(src, tmp_path / "out", users=None)
    assert report.interactions_written == 2
    assert any("';'" in w for w in report.warnings)


def test_personalize_format_is_reordered_and_normalised(tmp_path: Path) -> None:
    src = write(
        tmp_path / "in.csv",
        [
            "ITEM_ID,USER_ID,TIMESTAMP,CABIN_TYPE,EVENT_VALUE,EVENT_TYPE,EXTRA",
            "-29,812,1428624000,Economy,7,RATING,x",
            "-29,813,1428624000.0,Business Class,10.0,RATING,y",
            "-29,814,1428624000000,Economy,5,RATING,z",
            "-29,815,0,Economy,5,RATING,z",
        ],
    )
    report = run(src, tmp_path / "out", users=USERS)
    frame = read_out(tmp_path / "out" / "interactions.csv")
    assert list(frame.columns) == INTERACTIONS.names
    assert frame.values.tolist() == [
        ["812", "-29", "1428624000", "Economy", "RATING", "7.0"],
        ["813", "-29", "1428624000", "Business Class", "RATING", "10.0"],
    ]
    assert report.input_format == "personalize"
    assert report.dropped == {
        "TIMESTAMP: looks like milliseconds, not seconds": 1,
        "TIMESTAMP: not after 1970-01-01": 1,
    }
    assert report.users_path is None  # no users input was given
    assert any("EXTRA" in w for w in report.warnings)


def test_a_users_file_from_an_earlier_run_is_not_left_behind(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(write(tmp_path / "raw.csv", [SKYTRAX_HEADER, skytrax_row()]), out)
    assert (out / "users.csv").is_file()
    src = write(
        tmp_path / "in.csv",
        [
            "USER_ID,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_VALUE",
            "u1,i1,1428624000,Economy,7",
        ],
    )

    report = run(src, out)

    assert report.users_path is None
    assert not (out / "users.csv").exists()
    assert any("users.csv" in w for w in report.warnings)


def test_personalize_format_with_users_input(tmp_path: Path) -> None:
    src = write(
        tmp_path / "in.csv",
        [
            "USER_ID,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_TYPE,EVENT_VALUE",
            "u1,i1,1400000000,Economy,RATING,7",
        ],
    )
    users_in = write(
        tmp_path / "users_in.csv",
        ["USER_RESIDENCE,USER_ID", "Peru,u1", "Chile,u2", "Peru,u2", ",u3"],
    )
    report = run(src, tmp_path / "out", users_input=users_in)
    users = read_out(tmp_path / "out" / "users.csv")
    assert users.values.tolist() == [["u1", "Peru"], ["u2", "Peru"]]
    assert report.residence_conflicts == 1
    assert report.users_dropped == {
        "USER_ID: repeated (one row kept per user)": 1,
        "USER_RESIDENCE: missing": 1,
    }


@pytest.mark.parametrize(
    ("rule", "kept", "chosen"),
    [
        ("latest", "Y", "the value of its last row"),
        ("most_frequent", "X", "its most frequent value"),
    ],
)
@pytest.mark.parametrize("chunk_rows", [1, 1000])
def test_repeated_users_in_a_users_input_are_counted_and_warned_about(
    tmp_path: Path, rule: str, kept: str, chosen: str, chunk_rows: int
) -> None:
    src = write(
        tmp_path / "in.csv",
        [
            "USER_ID,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_TYPE,EVENT_VALUE",
            "ColinPay,i1,1400000000,Economy,RATING,7",
        ],
    )
    users_in = write(
        tmp_path / "users-duprow.csv",
        [
            "USER_ID,USER_RESIDENCE",
            "ColinPay,X",
            "JDowns,UK",
            "ColinPay,X",
            "ColinPay,Y",
            "JDowns,UK",
        ],
    )

    report = run(
        src,
        tmp_path / "out",
        users_input=users_in,
        residence_rule=rule,
        chunk_rows=chunk_rows,
    )

    users = read_out(tmp_path / "out" / "users.csv")
    assert users.values.tolist() == [["ColinPay", kept], ["JDowns", "UK"]]
    assert report.users_dropped == {"USER_ID: repeated (one row kept per user)": 3}
    assert report.warnings == [
        f"{users_in}: 3 rows repeat the USER_ID of an earlier row (e.g. ColinPay, "
        f"JDowns); users.csv keeps one row per user, with {chosen} "
        f"(data.residence_rule: {rule})"
    ]


def test_a_users_input_without_repeats_reports_nothing_dropped(
    tmp_path: Path,
) -> None:
    src = write(
        tmp_path / "in.csv",
        [
            "USER_ID,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_TYPE,EVENT_VALUE",
            "u1,i1,1400000000,Economy,RATING,7",
        ],
    )
    users_in = write(tmp_path / "u.csv", ["USER_ID,USER_RESIDENCE", "u1,X", "u2,Y"])

    report = run(src, tmp_path / "out", users_input=users_in)

    assert (report.users_dropped, report.warnings) == ({}, [])


def test_a_users_input_replaces_the_metadata_of_a_raw_input(tmp_path: Path) -> None:
    src = write(
        tmp_path / "airline.csv",
        [
            SKYTRAX_HEADER,
            skytrax_row(author="Colin Pay", country="United Kingdom"),
            skytrax_row(author="Colin Pay", country="France", date="2013-01-01"),
            skytrax_row(author="Ann Lee", country="Belgium"),
        ],
    )
    users_in = write(
        tmp_path / "u4.csv",
        ["USER_ID,USER_RESIDENCE", "ColinPay,Narnia", "JDowns,Mars"],
    )

    report = run(src, tmp_path / "out", users_input=users_in)

    users = read_out(tmp_path / "out" / "users.csv")
    # Only the file's rows: no derived residence, not even for AnnLee.
    assert users.values.tolist() == [["ColinPay", "Narnia"], ["JDowns", "Mars"]]
    assert report.users_written == 2
    assert report.residence_conflicts == 0  # the reviews' countries are not read
    assert report.users_input == users_in
    assert report.as_dict()["users_input"] == str(users_in)
    assert report.interactions_written == 3


def test_a_raw_input_without_countries_takes_a_users_input(tmp_path: Path) -> None:
    header = SKYTRAX_HEADER.replace("author_country,", "")
    row = skytrax_row(author="Ann Lee").replace('"Belgium",', "")
    src = write(tmp_path / "airline.csv", [header, row])
    users_in = write(tmp_path / "users.csv", ["USER_ID,USER_RESIDENCE", "AnnLee,Peru"])

    run(src, tmp_path / "out", users_input=users_in)

    users = read_out(tmp_path / "out" / "users.csv")
    assert users.values.tolist() == [["AnnLee", "Peru"]]


def _prepared_once(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """A raw input prepared once (derived users), and the output bytes it left."""
    src = write(tmp_path / "airline.csv", [SKYTRAX_HEADER, skytrax_row()])
    out = tmp_path / "out"
    run(src, out)
    before = {p.name: p.read_bytes() for p in out.glob("*.csv")}
    return src, out, before


@pytest.mark.parametrize("input_format", ["skytrax", "personalize"])
def test_a_header_only_users_input_is_an_error_naming_it(
    tmp_path: Path, input_format: str
) -> None:
    src, out, before = _prepared_once(tmp_path)
    if input_format == "personalize":
        src = write(
            tmp_path / "in.csv",
            [
                "USER_ID,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_TYPE,EVENT_VALUE",
                "u1,i1,1400000000,Economy,RATING,7",
            ],
        )
    users_in = write(tmp_path / "users.csv", ["USER_ID,USER_RESIDENCE"])

    with pytest.raises(DataError) as info:
        run(src, out, users_input=users_in)

    message = str(info.value)
    assert message.startswith(f"{users_in}: the users file has a header but no rows")
    assert "a users dataset with no rows cannot be imported" in message
    assert "drop --users-input" in message
    # Nothing already prepared is lost.
    assert {p.name: p.read_bytes() for p in out.glob("*.csv")} == before


def test_a_users_input_without_a_usable_row_is_an_error(tmp_path: Path) -> None:
    src, out, before = _prepared_once(tmp_path)
    users_in = write(
        tmp_path / "users.csv", ["USER_ID,USER_RESIDENCE", ",Peru", "AnnLee,"]
    )

    with pytest.raises(DataError) as info:
        run(src, out, users_input=users_in)

    message = str(info.value)
    assert message.startswith(f"{users_in}: none of its rows is usable (dropped: ")
    assert "USER_ID: missing or too long (1)" in message
    assert "USER_RESIDENCE: missing (1)" in message
    assert {p.name: p.read_bytes() for p in out.glob("*.csv")} == before


def test_a_users_input_without_a_users_dataset_is_an_error(tmp_path: Path) -> None:
    src = write(tmp_path / "airline.csv", [SKYTRAX_HEADER, skytrax_row()])
    users_in = write(tmp_path / "users.csv", ["USER_ID,USER_RESIDENCE", "AnnLee,X"])

    with pytest.raises(DataError) as info:
        run(src, tmp_path / "out", users=None, users_input=users_in)

    assert str(info.value).startswith(
        f"{users_in}: a users file was given, but the configuration declares no "
        "users dataset"
    )
    assert not (tmp_path / "out" / "interactions.csv").exists()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            SKYTRAX_HEADER.replace("author,", "authr,"),
            "missing column(s) 'author' for a Skytrax airline.csv; expected",
        ),
        (
            SKYTRAX_HEADER.replace("cabin_flown", "cabin"),
            "did you mean 'cabin' for 'cabin_flown'?",
        ),
        (
            "user_id,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_VALUE",
            "did you mean 'user_id' for 'USER_ID'?",
        ),
    ],
    ids=["misspelled-author", "renamed-cabin", "lowercase-user-id"],
)
def test_missing_column_names_it_and_suggests(
    tmp_path: Path, header: str, expected: str
) -> None:
    src = write(tmp_path / "a.csv", [header])
    with pytest.raises(DataError) as info:
        run(src, tmp_path / "out")
    assert str(src) in str(info.value)
    assert "line 1" in str(info.value)
    assert expected in str(info.value)


def test_a_column_used_by_another_field_is_never_suggested(tmp_path: Path) -> None:
    src = write(
        tmp_path / "in.csv",
        [
            "USER_ID,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_TYPE,EVENT_VALUE",
            "u1,i1,1400000000,Economy,RATING,7",
        ],
    )
    users_in = write(
        tmp_path / "derived_user_id_to_nationality.csv",
        ["USER_ID,NATIONALITY,sample_rows_evidence", "u1,Belgium,3"],
    )

    with pytest.raises(DataError) as info:
        run(src, tmp_path / "out", users_input=users_in)

    message = str(info.value)
    assert f"{users_in}: line 1: missing column(s) 'USER_RESIDENCE'" in message
    assert "did you mean" not in message
    assert message.endswith(
        "one of the file's other columns ('NATIONALITY', 'sample_rows_evidence') "
        "may hold 'USER_RESIDENCE': rename that column to USER_RESIDENCE"
    )


@pytest.mark.parametrize(
    ("header", "hint"),
    [
        (
            "USER_ID,country",
            "the file's other column 'country' may hold 'USER_RESIDENCE': "
            "rename it to USER_RESIDENCE",
        ),
        (
            "id,country",
            "the file's other columns ('id', 'country') may hold 'USER_ID', "
            "'USER_RESIDENCE': rename each to the expected name it holds",
        ),
    ],
    ids=["one-column", "two-columns"],
)
def test_a_users_file_with_other_column_names_says_what_to_rename(
    tmp_path: Path, header: str, hint: str
) -> None:
    src = write(
        tmp_path / "in.csv",
        [
            "USER_ID,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_TYPE,EVENT_VALUE",
            "u1,i1,1400000000,Economy,RATING,7",
        ],
    )
    users_in = write(tmp_path / "users.csv", [header, "u1,Belgium"])

    with pytest.raises(DataError) as info:
        run(src, tmp_path / "out", users_input=users_in)

    message = str(info.value)
    assert message.startswith(f"{users_in}: line 1: missing column(s) ")
    assert message.endswith(hint)
    assert not (tmp_path / "out" / "interactions.csv").exists()


def test_a_repeated_column_is_an_error_naming_the_column(tmp_path: Path) -> None:
    src = write(
        tmp_path / "in.csv",
        [
            "USER_ID,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_TYPE,EVENT_VALUE,USER_ID",
            "u1,i1,1400000000,Economy,RATING,7,u2",
        ],
    )

    with pytest.raises(DataError) as info:
        run(src, tmp_path / "out")

    assert str(info.value).startswith(
        f"{src}: line 1: column 'USER_ID' appears 2 times (columns 1, 7); keep one "
    )
    assert not (tmp_path / "out" / "interactions.csv").exists()


def test_a_repeated_column_in_a_users_input_is_an_error(tmp_path: Path) -> None:
    src = write(tmp_path / "airline.csv", [SKYTRAX_HEADER, skytrax_row()])
    users_in = write(
        tmp_path / "users.csv",
        ["USER_ID,USER_RESIDENCE,USER_RESIDENCE", "AnnLee,Peru,Chile"],
    )

    with pytest.raises(DataError) as info:
        run(src, tmp_path / "out", users_input=users_in)

    assert str(info.value).startswith(
        f"{users_in}: line 1: column 'USER_RESIDENCE' appears 2 times (columns 2, 3)"
    )


def test_a_repeated_column_that_is_not_read_does_no_harm(tmp_path: Path) -> None:
    src = write(
        tmp_path / "airline.csv",
        [SKYTRAX_HEADER + ",extra,extra", skytrax_row() + ",a,b"],
    )
    report = run(src, tmp_path / "out")
    assert report.interactions_written == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("USER_ID,ITEM_ID\n".encode("utf-16"), "UTF-16 text; save it as UTF-8"),
        (gzip.compress(b"USER_ID,ITEM_ID\n"), "gzip-compressed; decompress it"),
        (b"PK\x03\x04rest", "a zip archive"),
    ],
    ids=["utf-16", "gzip", "zip"],
)
def test_a_file_that_is_not_csv_text_is_named_as_such(
    tmp_path: Path, content: bytes, message: str
) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(content)

    with pytest.raises(DataError) as caught:
        run(src, tmp_path / "out")

    assert str(src) in str(caught.value) and message in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xef\xbb\xbf"], ids=repr)
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    src = tmp_path / "empty.csv"
    src.write_bytes(content)
    with pytest.raises(DataError, match="the file is empty"):
        run(src, tmp_path / "out")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        run(tmp_path / "nope.csv", tmp_path / "out")


def test_malformed_row_names_the_line(tmp_path: Path) -> None:
    src = write(
        tmp_path / "a.csv", [SKYTRAX_HEADER, skytrax_row(), skytrax_row() + ',"extra"']
    )
    with pytest.raises(DataError, match=r"line 3: malformed CSV row"):
        run(src, tmp_path / "out")


def test_iso_dates_in_a_personalize_timestamp_say_epoch_seconds_are_needed(
    tmp_path: Path,
) -> None:
    src = write(
        tmp_path / "df.csv",
        [
            "USER_ID,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_TYPE,EVENT_VALUE",
            "u1,i1,2015-03-17,Economy,RATING,7",
            "u2,i1,2015-03-18T10:00:00Z,Economy,RATING,7",
        ],
    )

    with pytest.raises(DataError) as info:
        run(src, tmp_path / "out", users=None)

    assert (
        "no interaction survived cleaning out of 2 rows; dropped: TIMESTAMP: not a "
        "number; Personalize-format TIMESTAMP must be unix epoch seconds, "
        "e.g. 1426550400 for 2015-03-17 (2)"
    ) in str(info.value)


def test_a_short_row_is_named_with_its_field_count(tmp_path: Path) -> None:
    src = write(
        tmp_path / "df.csv",
        [
            "USER_ID,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_TYPE,EVENT_VALUE",
            "u1,i1,1400000000,Economy,RATING,",
            "u2,i2",
            "u3,i3,1400000000,Economy,RATING,7",
        ],
    )

    with pytest.raises(DataError) as info:
        run(src, tmp_path / "out", users=None)

    assert str(info.value).startswith(
        f"{src}: line 3 has 2 field(s) where the header has 6 (no field for TIMESTAMP);"
    )


def test_empty_trailing_fields_are_not_a_short_row(tmp_path: Path) -> None:
    src = write(
        tmp_path / "df.csv",
        [
            "USER_ID,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_TYPE,EVENT_VALUE",
            "u1,i1,1400000000,Economy,RATING,7",
            "u2,i2,1400000000,,,",
        ],
    )

    report = run(src, tmp_path / "out", users=None)

    assert report.dropped == {"CABIN_TYPE: missing": 1}


def test_a_failed_run_keeps_the_previous_good_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    good = write(tmp_path / "good.csv", [SKYTRAX_HEADER, skytrax_row()])
    run(good, out)
    before = (out / "interactions.csv").read_bytes(), (out / "users.csv").read_bytes()

    bad = write(
        tmp_path / "bad.csv",
        [
            SKYTRAX_HEADER,
            *[skytrax_row(author=f"U {i}") for i in range(6)],
            skytrax_row() + ',"extra"',
        ],
    )
    with pytest.raises(DataError):
        run(bad, out, chunk_rows=2)
    after = (out / "interactions.csv").read_bytes(), (out / "users.csv").read_bytes()
    assert after == before
    assert sorted(p.name for p in out.iterdir()) == [
        "interactions-summary.json",
        "interactions.csv",
        "users.csv",
    ]


def test_nothing_survives_cleaning_is_an_error(tmp_path: Path) -> None:
    src = write(tmp_path / "a.csv", [SKYTRAX_HEADER, skytrax_row(rating="NA")])
    with pytest.raises(
        DataError, match=r"no interaction survived.*EVENT_VALUE: missing"
    ):
        run(src, tmp_path / "out")
    assert not (tmp_path / "out" / "interactions.csv").exists()


def test_skytrax_cannot_fill_unknown_fields(tmp_path: Path) -> None:
    spec = DatasetSpec("INTERACTIONS", (*INTERACTIONS.fields, FieldSpec("DEVICE")))
    src = write(tmp_path / "a.csv", [SKYTRAX_HEADER, skytrax_row()])
    with pytest.raises(DataError, match=r"cannot fill interactions field\(s\) DEVICE"):
        prepare(
            src,
            interactions=spec,
            users=None,
            output_dir=tmp_path / "o",
            input_format="skytrax",
        )


def test_progress_reports_rows_read(tmp_path: Path) -> None:
    src = write(
        tmp_path / "a.csv",
        [SKYTRAX_HEADER, *[skytrax_row(author=f"U {i}") for i in range(5)]],
    )
    seen: list[int] = []
    run(src, tmp_path / "out", chunk_rows=2, progress=seen.append)
    assert seen == [2, 4, 5]


def test_atomic_write_removes_its_temp_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "f.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("new")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.csv"]


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under the umask it is parametrised with."""
    mask: int = request.param
    old = os.umask(mask)
    try:
        yield mask
    finally:
        os.umask(old)


@pytest.mark.parametrize(
    ("umask", "mode"),
    [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)],
    indirect=["umask"],
    ids=["022", "002", "077"],
)
def test_prepared_files_get_the_permissions_of_a_new_file_under_the_umask(
    tmp_path: Path, umask: int, mode: int
) -> None:
    src = write(tmp_path / "airline.csv", [SKYTRAX_HEADER, skytrax_row()])
    out = tmp_path / "out"

    run(src, out)
    run(src, out)  # and when they replace earlier ones

    written = sorted(p.name for p in out.iterdir())
    assert written == ["interactions-summary.json", "interactions.csv", "users.csv"]
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {
        name: mode for name in written
    }


def test_reader_mapping_is_the_only_skytrax_knowledge() -> None:
    assert set(SKYTRAX_COLUMNS) == {
        "user",
        "item",
        "timestamp",
        "context",
        "event_value",
        "user_metadata",
    }


def _real_sample() -> Path | None:
    found = skytrax_dir()
    return None if found is None else found / "raw-sample" / "airline.csv"


@pytest.mark.realdata
def test_real_raw_sample(tmp_path: Path) -> None:
    sample = _real_sample()
    if sample is None:
        pytest.skip("the Skytrax raw sample is absent (set AIRCTX_DATA_DIR)")
    report = run(sample, tmp_path / "out")
    raw = pd.read_csv(sample, dtype=str, keep_default_na=False)
    usable = raw[(raw["cabin_flown"] != "NA") & (raw["overall_rating"] != "NA")]
    # Every row with a cabin and a rating survives, except exact duplicate reviews.
    assert report.interactions_written + report.dropped.get(
        "duplicate event", 0
    ) == len(usable)
    assert report.rows_read == len(raw)
    assert set(report.events_per_context) == {
        "Economy",
        "Business Class",
        "Premium Economy",
        "First Class",
    }
    frame = read_out(tmp_path / "out" / "interactions.csv")
    assert list(frame.columns) == INTERACTIONS.names
    assert report.users_written > 1000


@pytest.fixture
def scratch_files(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Paths of the scratch databases ``prepare`` opens, checked to exist while open."""
    made: list[Path] = []
    real = prep_module.scratch_db

    @contextlib.contextmanager
    def spy(directory: Path, prefix: str = "scratch") -> Iterator[sqlite3.Connection]:
        with real(directory, prefix) as db:
            made.append(Path(db.execute("PRAGMA database_list").fetchone()[2]))
            assert made[-1].is_file()
            yield db

    monkeypatch.setattr(prep_module, "scratch_db", spy)
    return made


def test_scratch_database_is_removed_after_a_run(
    tmp_path: Path, scratch_files: list[Path]
) -> None:
    src = write(tmp_path / "a.csv", [SKYTRAX_HEADER, skytrax_row()])
    run(src, tmp_path / "out")
    assert len(scratch_files) == 1
    assert scratch_files[0].parent == tmp_path / "out"
    assert not scratch_files[0].exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "interactions-summary.json",
        "interactions.csv",
        "users.csv",
    ]


def test_scratch_database_is_removed_when_reading_fails(
    tmp_path: Path, scratch_files: list[Path]
) -> None:
    bad = write(
        tmp_path / "bad.csv",
        [
            SKYTRAX_HEADER,
            *[skytrax_row(author=f"U {i}") for i in range(6)],
            skytrax_row() + ',"extra"',
        ],
    )
    with pytest.raises(DataError):
        run(bad, tmp_path / "out", chunk_rows=2)
    assert len(scratch_files) == 1
    assert not scratch_files[0].exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_scratch_database_is_removed_when_writing_users_fails(
    tmp_path: Path, scratch_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(prep_module._Users, "write", fail)
    src = write(tmp_path / "a.csv", [SKYTRAX_HEADER, skytrax_row()])
    with pytest.raises(OSError, match="disk full"):
        run(src, tmp_path / "out")
    assert not scratch_files[0].exists()
    assert list((tmp_path / "out").iterdir()) == []


def _mixed_input(path: Path) -> Path:
    """Rows exercising every piece of cross-chunk state: duplicates, names, tallies."""
    return write(
        path,
        [
            SKYTRAX_HEADER,
            skytrax_row(airline="a", author="Ann Lee", country="France"),
            skytrax_row(airline="b", author="Bo Ng", country="Peru"),
            skytrax_row(airline="a", author="Ann Lee", country="France"),  # dup
            skytrax_row(
                airline="c", author="AnnLee", country="Spain", date="2014-01-01"
            ),
            skytrax_row(airline="d", author="Cy Fox", country="NA", rating="NA"),
            skytrax_row(airline="e", author="B o Ng", country="Peru"),
            skytrax_row(airline="f", author="Ann  Lee", country="Spain"),
            skytrax_row(airline="g", author="Di Wu", country="NA"),
            skytrax_row(airline="b", author="Bo Ng", country="Chile"),  # dup event
            skytrax_row(
                airline="h", author="Bo Ng", country="Chile", date="2011-01-01"
            ),
        ],
    )


def test_outputs_are_the_same_whatever_the_chunk_size(tmp_path: Path) -> None:
    src = _mixed_input(tmp_path / "a.csv")
    results = []
    for rows in (1, 3, 1000):
        out = tmp_path / f"out{rows}"
        report = run(src, out, chunk_rows=rows).as_dict()
        for key in ("interactions_path", "users_path"):
            report[key] = None
        files = [(out / n).read_bytes() for n in ("interactions.csv", "users.csv")]
        results.append((report, files))
    assert results[0] == results[1] == results[2]

    report, (interactions, users) = results[0]
    # BoNg: Peru and Chile tie on rows and newest date; the greater value wins.
    assert users.decode() == "USER_ID,USER_RESIDENCE\nAnnLee,Spain\nBoNg,Peru\n"
    assert report["dropped"] == {"duplicate event": 2, "EVENT_VALUE: missing": 1}
    assert report["users_dropped"] == {"USER_RESIDENCE: missing": 1}
    assert report["collapsed_names"] == 2
    assert report["collapsed_name_examples"] == [
        "'Ann Lee' and 'AnnLee' both become USER_ID 'AnnLee'",
        "'Bo Ng' and 'B o Ng' both become USER_ID 'BoNg'",
    ]
    assert report["residence_conflicts"] == 2
    assert report["residence_conflict_examples"] == [
        "AnnLee: France, Spain",
        "BoNg: Chile, Peru",
    ]
    assert interactions.count(b"\n") == 1 + 7


@pytest.mark.realdata
def test_real_raw_sample_outputs_are_unchanged(tmp_path: Path) -> None:
    sample = _real_sample()
    if sample is None:
        pytest.skip("the Skytrax raw sample is absent (set AIRCTX_DATA_DIR)")
    run(sample, tmp_path / "out")
    digests = {
        name: hashlib.sha256((tmp_path / "out" / name).read_bytes()).hexdigest()
        for name in ("interactions.csv", "users.csv")
    }
    # Recorded from the in-memory implementation this one replaced.
    assert digests == {
        "interactions.csv": (
            "d8ce87bbe1b554540c13f74ebacd4532052e4fbddd30e7b12d72630b59d0749a"
        ),
        "users.csv": "7113dfd4f2fd9d2075037608439dda575dbb0d7112667798fde436b784df8592",
    }
