"""The scratch SQLite database and the on-disk hash set behind prep and validate."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airctx.data.scratch import MAX_PARAMS, HashSet, hashes, scratch_db


def _db_file(db: sqlite3.Connection) -> Path:
    return Path(db.execute("PRAGMA database_list").fetchone()[2])


def test_scratch_db_is_a_file_in_the_directory_and_removed_after(
    tmp_path: Path,
) -> None:
    with scratch_db(tmp_path / "out", "prep") as db:
        path = _db_file(db)
        assert path.parent == tmp_path / "out"
        assert path.name.startswith(".prep.") and path.is_file()
        db.execute("CREATE TABLE t (x)")
    assert not path.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_scratch_db_is_removed_on_failure(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), scratch_db(tmp_path) as db:
        path = _db_file(db)
        db.execute("CREATE TABLE t (x)")
        raise RuntimeError("boom")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_hash_set_flags_repeats_within_and_across_batches(tmp_path: Path) -> None:
    with scratch_db(tmp_path) as db:
        seen = HashSet(db, "seen")
        first = seen.add(np.array([5, 7, 5, -3], dtype=np.int64))
        assert first.tolist() == [False, False, True, False]
        second = seen.add(np.array([9, 7, 9, -3, 7], dtype=np.int64))
        assert second.tolist() == [False, True, True, True, True]
        assert seen.add(np.array([], dtype=np.int64)).tolist() == []
        assert len(seen) == 4
        assert seen.contains(np.array([7, 8, -3], dtype=np.int64)).tolist() == [
            True,
            False,
            True,
        ]


def test_hash_set_handles_more_values_than_sql_parameters(tmp_path: Path) -> None:
    values = np.arange(3 * MAX_PARAMS, dtype=np.int64)
    with scratch_db(tmp_path) as db:
        seen = HashSet(db, "seen")
        seen.add(values[::2])
        again = seen.add(values)
        assert again.tolist() == [i % 2 == 0 for i in range(len(values))]
        assert seen.contains(values).all()


def test_hashes_fit_sqlite_integers_and_match_pandas() -> None:
    frame = pd.DataFrame({"a": ["x", "y", "x"], "b": ["1", "2", "1"]})
    hashed = hashes(frame)
    assert hashed.dtype == np.int64
    assert hashed[0] == hashed[2] != hashed[1]
    expected = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    assert (hashed.view(np.uint64) == expected).all()
