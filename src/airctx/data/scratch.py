"""A temporary SQLite database on disk for state that grows with the input.

Preparation and validation remember facts per distinct event, user or item across
chunks. Held in Python objects that state would grow with the file; in a scratch
database it lives on disk and RAM is bounded by SQLite's page cache.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

logger = logging.getLogger(__name__)

# Page cache limit in KiB (a negative cache_size is KiB in SQLite); this bounds the
# memory the scratch state can take whatever the input size.
CACHE_KIB = 4 * 1024
# Most SQLite builds cap a statement at 999 or 32766 parameters; stay under both.
MAX_PARAMS = 900


@contextlib.contextmanager
def scratch_db(
    directory: Path, prefix: str = "scratch"
) -> Iterator[sqlite3.Connection]:
    """A connection to a new database file in ``directory``, deleted on exit.

    The file sits beside the outputs rather than in the system temp dir, which may
    be a RAM-backed tmpfs. Durability is switched off: the data is rebuilt from the
    input if the process dies, and the file is removed on success and on failure.
    """
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{prefix}.", suffix=".sqlite", dir=directory)
    os.close(fd)
    conn = sqlite3.connect(name, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        # Sorts and temporary indexes spill to files instead of growing in memory.
        conn.execute("PRAGMA temp_store = FILE")
        conn.execute("BEGIN")
        yield conn
    finally:
        conn.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name + suffix)
        logger.debug("removed scratch database %s", name)


class HashSet:
    """A set of 64-bit hashes in a scratch table, added to and queried per batch."""

    def __init__(self, db: sqlite3.Connection, table: str) -> None:
        self.db = db
        self.table = table
        self.batch = 0
        db.execute(
            f"CREATE TABLE {table} (h INTEGER PRIMARY KEY, batch INTEGER NOT NULL)"
        )

    def add(self, hashes: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Add a batch; True where a hash was already in the set or earlier in it."""
        self.batch += 1
        series = pd.Series(hashes, dtype=np.int64)
        repeats = series.duplicated().to_numpy(copy=True)
        fresh = series[~repeats].tolist()
        before = self.db.total_changes
        self.db.executemany(
            f"INSERT OR IGNORE INTO {self.table} VALUES (?, ?)",
            zip(fresh, itertools.repeat(self.batch)),
        )
        if self.db.total_changes - before < len(fresh):
            # Some hashes came from an earlier batch: find which.
            earlier = self._members(fresh, f"batch < {self.batch}")
            repeats |= series.isin(earlier).to_numpy()
        return repeats

    def contains(self, hashes: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """True where a hash is in the set."""
        series = pd.Series(hashes, dtype=np.int64)
        members = self._members(series.unique().tolist(), "1")
        return series.isin(members).to_numpy()

    def __len__(self) -> int:
        count: int = self.db.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0]
        return count

    def _members(self, hashes: list[int], condition: str) -> set[int]:
        found: set[int] = set()
        for start in range(0, len(hashes), MAX_PARAMS):
            batch = hashes[start : start + MAX_PARAMS]
            marks = ", ".join("?" * len(batch))
            rows = self.db.execute(
                f"SELECT h FROM {self.table} WHERE {condition} AND h IN ({marks})",
                batch,
            )
            found.update(h for (h,) in rows)
        return found


def hashes(frame: pd.DataFrame | pd.Series) -> npt.NDArray[np.int64]:
    """Stable 64-bit hashes of rows (or values), as SQLite's signed integers."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashed.view(np.int64)
