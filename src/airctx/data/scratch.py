"""A temporary SQLite database on disk for state that grows with the input.

Preparation and validation remember facts per distinct event, user or item across
chunks. Held in Python objects that state would grow with the file; in a scratch
database it lives on disk and RAM is bounded by SQLite's page cache.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

# Page cache limit in KiB (a negative cache_size is KiB in SQLite); this bounds the
# memory the scratch state can take whatever the input size.
CACHE_KIB = 16 * 1024
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
