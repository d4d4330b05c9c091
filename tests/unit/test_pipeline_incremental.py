"""INCREMENTAL imports send only the rows a dataset does not hold yet."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from airctx.config import load_settings
from airctx.engine.datafiles import training_data
from airctx.pipeline.imported_rows import RowRecord, file_hashes, row_hash
from airctx.pipeline.imports import import_data
from tests.unit.test_pipeline_steps import Harness, write_project

EXTRA = [f"u{u},item{u},{1_600_000_000 + u},Economy,RATING,9" for u in range(3)]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(load_settings(write_project(tmp_path)))
    yield h
    h.engine.close()


def _append(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def _jobs(h: Harness) -> int:
    return len(h.engine.store.list("dataset-import-job"))


def test_incremental_after_full_appends_only_the_new_rows(
    harness: Harness, tmp_path: Path
) -> None:
    import_data(harness.project)
    interactions = tmp_path / "prepared" / "interactions.csv"
    _append(interactions, EXTRA)

    result = import_data(harness.project, mode="INCREMENTAL")

    job = harness.engine.store.get(result.jobs["INTERACTIONS"])
    assert job is not None and job.body["importMode"] == "INCREMENTAL"
    group = harness.engine.store.list("dataset-group")[0].arn
    frame = training_data(harness.engine.store, group).interactions
    assert len(frame) == 1203
    assert not frame.duplicated().any()
    assert "3 new rows appended; 1200 already imported were skipped" in " ".join(
        harness.reports
    )
    assert result.skipped == ["USERS"]


def test_incremental_with_nothing_new_starts_no_job(
    harness: Harness, tmp_path: Path
) -> None:
    import_data(harness.project)
    _append(tmp_path / "prepared" / "interactions.csv", EXTRA)
    import_data(harness.project, mode="INCREMENTAL")
    before = _jobs(harness)

    again = import_data(harness.project, mode="INCREMENTAL")

    assert _jobs(harness) == before
    assert again.skipped == ["INTERACTIONS", "USERS"]
    assert any("no new rows in interactions.csv" in r for r in harness.reports)
    # A file prepared from only the rows imported before is no news either.
    header = (tmp_path / "prepared" / "interactions.csv").read_text().splitlines()[0]
    (tmp_path / "prepared" / "interactions.csv").write_text(
        "\n".join([header, *EXTRA]) + "\n", encoding="utf-8"
    )
    import_data(harness.project, mode="INCREMENTAL")
    assert _jobs(harness) == before


def test_without_a_record_every_row_is_appended_with_a_warning(
    harness: Harness, tmp_path: Path
) -> None:
    import_data(harness.project)
    shutil.rmtree(harness.project.settings.state_dir / "imported-rows")
    _append(tmp_path / "prepared" / "interactions.csv", EXTRA)

    import_data(harness.project, mode="INCREMENTAL")

    warnings = [r for r in harness.reports if r.startswith("warning: import INTER")]
    assert warnings and "every row of interactions.csv is appended" in warnings[0]
    group = harness.engine.store.list("dataset-group")[0].arn
    assert len(training_data(harness.engine.store, group).interactions) == 2403


def test_a_full_import_made_before_the_record_starts_one_when_repeated(
    harness: Harness, tmp_path: Path
) -> None:
    import_data(harness.project)
    shutil.rmtree(harness.project.settings.state_dir / "imported-rows")
    jobs = _jobs(harness)

    assert import_data(harness.project).skipped == ["INTERACTIONS", "USERS"]
    _append(tmp_path / "prepared" / "interactions.csv", EXTRA)
    import_data(harness.project, mode="INCREMENTAL")

    assert _jobs(harness) == jobs + 1
    group = harness.engine.store.list("dataset-group")[0].arn
    assert len(training_data(harness.engine.store, group).interactions) == 1203


def test_rows_of_an_unfinished_job_join_the_record_only_when_it_is_active(
    harness: Harness, tmp_path: Path
) -> None:
    record = RowRecord(tmp_path / "record")
    gone = "arn:aws:personalize:us-east-1:000000000000:dataset-import-job/gone"
    record.add_pending(gone, "FULL", file_hashes(tmp_path / "prepared" / "users.csv"))

    record.settle(harness.project)

    # The job does not exist, so its rows never joined the dataset.
    assert record.job() is None and len(record.rows()) == 0
    assert not (tmp_path / "record" / "pending.npy").exists()


def test_row_hash_ignores_quoting_and_surrounding_spaces(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    quoted = tmp_path / "quoted.csv"
    plain.write_text("A,B\nx,1\ny,2\nx,1\n", encoding="utf-8")
    quoted.write_text('A,B\r\n"x", 1\r\n"y",2\r\n', encoding="utf-8")

    assert list(file_hashes(plain)) == list(file_hashes(quoted))
    assert len(file_hashes(plain)) == 2
    assert row_hash(["x", "1"]) != row_hash(["x1", ""])


# -- a FULL import never drops interactions silently ---------------------------


def _keep_first(path: Path, rows: int) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[: rows + 1]) + "\n", encoding="utf-8")


def _held(h: Harness) -> int:
    group = h.engine.store.list("dataset-group")[0].arn
    return len(training_data(h.engine.store, group).interactions)


def test_a_full_import_that_would_drop_interactions_is_refused(
    harness: Harness, tmp_path: Path
) -> None:
    from airctx.errors import ResourceError

    import_data(harness.project)
    jobs = _jobs(harness)
    interactions = tmp_path / "prepared" / "interactions.csv"
    _keep_first(interactions, 1000)

    with pytest.raises(ResourceError) as caught:
        import_data(harness.project)

    message = str(caught.value)
    assert str(interactions) in message
    assert "lacks 200 of the 1,200 interactions" in message
    assert "--mode INCREMENTAL" in message and "--replace" in message
    assert "nothing was imported" in message
    assert _jobs(harness) == jobs
    assert _held(harness) == 1200


def test_replace_lets_a_full_import_drop_interactions(
    harness: Harness, tmp_path: Path
) -> None:
    import_data(harness.project)
    _keep_first(tmp_path / "prepared" / "interactions.csv", 1000)

    import_data(harness.project, replace=True)

    assert _held(harness) == 1000
    # The record follows the data: the smaller file is now what is held.
    _append(tmp_path / "prepared" / "interactions.csv", EXTRA)
    import_data(harness.project)
    assert _held(harness) == 1003


def test_a_full_import_of_more_rows_than_held_needs_no_flag(
    harness: Harness, tmp_path: Path
) -> None:
    import_data(harness.project)
    _append(tmp_path / "prepared" / "interactions.csv", EXTRA)

    import_data(harness.project)

    assert _held(harness) == 1203


def test_without_a_record_a_full_import_goes_ahead(
    harness: Harness, tmp_path: Path
) -> None:
    import_data(harness.project)
    shutil.rmtree(harness.project.settings.state_dir / "imported-rows")
    _keep_first(tmp_path / "prepared" / "interactions.csv", 1000)

    import_data(harness.project)

    assert _held(harness) == 1000


def test_a_full_import_of_fewer_users_than_held_is_refused(
    harness: Harness, tmp_path: Path
) -> None:
    from airctx.errors import ResourceError

    import_data(harness.project)
    jobs = _jobs(harness)
    users = tmp_path / "prepared" / "users.csv"
    _keep_first(users, 2)

    with pytest.raises(ResourceError) as caught:
        import_data(harness.project)

    message = str(caught.value)
    assert f"{users} holds 2 users where the USERS dataset holds 60" in message
    assert "at least 58 users would lose their metadata" in message
    assert "lacks" not in message  # the interactions are all there
    assert _jobs(harness) == jobs
    import_data(harness.project, replace=True)
    assert _jobs(harness) == jobs + 1


def test_a_full_import_may_change_what_users_hold(
    harness: Harness, tmp_path: Path
) -> None:
    import_data(harness.project)
    users = tmp_path / "prepared" / "users.csv"
    users.write_text(
        users.read_text(encoding="utf-8").replace("Spain", "Peru"), encoding="utf-8"
    )
    jobs = _jobs(harness)

    import_data(harness.project)

    assert _jobs(harness) == jobs + 1
