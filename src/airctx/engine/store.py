"""Durable state of the local engine: one SQLite database under the state directory.

Resources, the job queue, recorded events and live user/item updates all live in one
database in WAL mode, so the CLI, ``airctx serve`` and training workers can use the same
state at once. Every write is one transaction: a process killed at any point leaves
either the old or the new row, never half of one, and an event is acknowledged only
after its transaction commits. Bulk data (imported CSVs) and trained models are files
beside the database, written to a temporary name and renamed into place.
"""

from __future__ import annotations

import builtins
import errno
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airctx.engine.arns import arn_prefix

log = logging.getLogger(__name__)

# 2: resources carry their ARN's region/account prefix; names are unique per prefix.
SCHEMA_VERSION = 2

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
    arn TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    name TEXT,
    parent_arn TEXT,
    status TEXT,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    arn_prefix TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS resources_parent ON resources (parent_arn);
CREATE TABLE IF NOT EXISTS jobs (
    arn TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    state TEXT NOT NULL,
    owner_pid INTEGER,
    heartbeat REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_group_arn TEXT NOT NULL,
    tracking_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    event_id TEXT,
    event_type TEXT NOT NULL,
    event_value REAL,
    item_id TEXT,
    sent_at REAL NOT NULL,
    properties TEXT,
    recorded REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_user ON events (dataset_group_arn, user_id, id);
CREATE TABLE IF NOT EXISTS live_records (
    dataset_arn TEXT NOT NULL,
    record_id TEXT NOT NULL,
    properties TEXT NOT NULL,
    recorded REAL NOT NULL,
    PRIMARY KEY (dataset_arn, record_id)
);
"""

# Created after any migration, as they use columns an older database lacks.
_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS resources_scoped_name
    ON resources (type, arn_prefix, name) WHERE name IS NOT NULL;
CREATE INDEX IF NOT EXISTS resources_scope ON resources (arn_prefix, type)
"""


@dataclass(frozen=True)
class Resource:
    """One stored resource: its identity, status and the API document describing it."""

    arn: str
    type: str
    name: str | None
    parent_arn: str | None
    status: str | None
    body: dict[str, Any]
    created: float
    updated: float


@dataclass(frozen=True)
class Job:
    """A unit of asynchronous work (create or delete of one resource)."""

    arn: str
    action: str
    state: str
    owner_pid: int | None
    heartbeat: float | None
    attempts: int
    created: float


class Store:
    """Thread-safe access to the engine database; one connection per thread.

    The database (and ``root``) is created by the first write, not by opening the
    store: reading a state folder that does not exist yet finds no resources and
    leaves nothing behind. Until then reads go to an empty in-memory database.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "personalize.db"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._ready = False
        if self.path.is_file():
            # Migrate (or refuse a newer schema) now rather than at the first call.
            self._open(create=False)
        else:
            _refuse_blocked(root)

    @property
    def exists(self) -> bool:
        """Whether the database has been created (by this store or another)."""
        return self._ready or self.path.is_file()

    # -- connections -------------------------------------------------------------

    def _open(self, *, create: bool) -> bool:
        """Make sure the database exists with the current schema; False when it does
        not exist and ``create`` is false."""
        if self._ready:
            return True
        with self._lock:
            if self._ready:
                return True
            if not self.path.is_file():
                if not create:
                    return False
                self.root.mkdir(parents=True, exist_ok=True)
            db = _connect(self.path)
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    _create_schema(db, self.path)
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            finally:
                db.close()
            self._ready = True
            return True

    def _connection(self, *, create: bool = False) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "real", False):
            return conn
        if self._open(create=create):
            if conn is not None:
                conn.close()  # the empty stand-in: the real database exists now
            conn = _connect(self.path)
            self._local.real = True
        elif conn is None:
            conn = sqlite3.connect(":memory:", isolation_level=None)
            conn.row_factory = sqlite3.Row
            _create_schema(conn, self.path)
            self._local.real = False
        self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: writers queue up instead of failing mid-way.

        The first one creates the state folder and the database.
        """
        db = self._connection(create=True)
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- resources ---------------------------------------------------------------

    def insert(
        self,
        db: sqlite3.Connection,
        *,
        arn: str,
        type: str,
        name: str | None,
        parent_arn: str | None,
        status: str | None,
        body: dict[str, Any],
        now: float,
    ) -> None:
        db.execute(
            "INSERT INTO resources (arn, type, name, parent_arn, status, body, created,"
            " updated, arn_prefix) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                arn,
                type,
                name,
                parent_arn,
                status,
                json.dumps(body),
                now,
                now,
                arn_prefix(arn),
            ),
        )

    def update(
        self,
        db: sqlite3.Connection,
        arn: str,
        *,
        status: str | None = None,
        body: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> None:
        now = time.time() if now is None else now
        current = self.get(arn, db=db)
        if current is None:
            return
        new_body = dict(current.body if body is None else body)
        new_status = current.status if status is None else status
        db.execute(
            "UPDATE resources SET status = ?, body = ?, updated = ? WHERE arn = ?",
            (new_status, json.dumps(new_body), now, arn),
        )

    def delete(self, db: sqlite3.Connection, arn: str) -> None:
        db.execute("DELETE FROM resources WHERE arn = ?", (arn,))
        db.execute("DELETE FROM jobs WHERE arn = ?", (arn,))

    def get(self, arn: str, db: sqlite3.Connection | None = None) -> Resource | None:
        row = (
            (db or self._connection())
            .execute("SELECT * FROM resources WHERE arn = ?", (arn,))
            .fetchone()
        )
        return _resource(row) if row else None

    def find(
        self,
        type: str,
        name: str,
        db: sqlite3.Connection | None = None,
        *,
        prefix: str,
    ) -> Resource | None:
        """The ``type`` resource called ``name`` among the ARNs starting ``prefix``."""
        row = (
            (db or self._connection())
            .execute(
                "SELECT * FROM resources WHERE type = ? AND arn_prefix = ?"
                " AND name = ?",
                (type, prefix, name),
            )
            .fetchone()
        )
        return _resource(row) if row else None

    def list(
        self,
        type: str,
        parent_arn: str | None = None,
        db: sqlite3.Connection | None = None,
        *,
        prefix: str | None = None,
    ) -> builtins.list[Resource]:
        """Resources of ``type``, newest first, narrowed to a parent and ARN prefix.

        Without ``prefix`` the list spans every region and account in the store;
        an API call always passes its own, as each region holds its own resources.
        """
        where = ["type = ?"]
        args: builtins.list[Any] = [type]
        if parent_arn is not None:
            where.append("parent_arn = ?")
            args.append(parent_arn)
        if prefix is not None:
            where.append("arn_prefix = ?")
            args.append(prefix)
        rows = (db or self._connection()).execute(
            f"SELECT * FROM resources WHERE {' AND '.join(where)}"
            " ORDER BY created DESC, arn",
            args,
        )
        return [_resource(r) for r in rows.fetchall()]

    def count_pending(self, db: sqlite3.Connection, *, prefix: str) -> int:
        """Resources being created in one region and account (limits are per region)."""
        row = db.execute(
            "SELECT COUNT(*) FROM resources WHERE arn_prefix = ? AND status IN"
            " ('CREATE PENDING', 'CREATE IN_PROGRESS')",
            (prefix,),
        ).fetchone()
        return int(row[0])

    # -- jobs --------------------------------------------------------------------

    def add_job(
        self, db: sqlite3.Connection, arn: str, action: str, now: float
    ) -> None:
        db.execute(
            "INSERT OR REPLACE INTO jobs (arn, action, state, owner_pid, heartbeat,"
            " attempts, created) VALUES (?, ?, 'queued', NULL, NULL, 0, ?)",
            (arn, action, now),
        )

    def job(self, arn: str, db: sqlite3.Connection | None = None) -> Job | None:
        row = (
            (db or self._connection())
            .execute("SELECT * FROM jobs WHERE arn = ?", (arn,))
            .fetchone()
        )
        return _job(row) if row else None

    def open_jobs(self) -> builtins.list[Job]:
        rows = (
            self._connection()
            .execute(
                "SELECT * FROM jobs WHERE state IN ('queued', 'running')"
                " ORDER BY created"
            )
            .fetchall()
        )
        return [_job(r) for r in rows]

    def claim_job(
        self, arn: str, pid: int, now: float, owner_alive: Callable[[int], bool]
    ) -> Job | None:
        """Take ownership of a job; None if it is done or another process has it.

        A queued job is free unless another live process was started for it; a
        running job is free only when its owner has died (a new owner always comes
        through :meth:`requeue_job` first, so two workers never run one job).
        """
        with self.transaction() as db:
            job = self.job(arn, db=db)
            if job is None or job.state not in ("queued", "running"):
                return None
            if job.state == "running" and (
                job.owner_pid == pid or owner_alive(job.owner_pid or 0)
            ):
                return None
            if (
                job.state == "queued"
                and job.owner_pid not in (None, pid)
                and owner_alive(job.owner_pid or 0)
            ):
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', owner_pid = ?, heartbeat = ?,"
                " attempts = attempts + 1 WHERE arn = ?",
                (pid, now, arn),
            )
            return self.job(arn, db=db)

    def set_job_owner(self, arn: str, pid: int, now: float) -> None:
        """Record the worker started for a queued job, unless one has claimed it."""
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET owner_pid = ?, heartbeat = ? WHERE arn = ?"
                " AND state = 'queued' AND owner_pid IS NULL",
                (pid, now, arn),
            )

    def requeue_job(self, seen: Job, now: float) -> bool:
        """Queue an interrupted job again, if it is still as ``seen`` left it.

        The comparison makes the hand-over atomic: of several engines recovering
        at once, exactly one gets True and starts a worker. A job that never got
        as far as being claimed counts as one attempt, so a worker that cannot
        start at all still runs out of attempts.
        """
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE jobs SET state = 'queued', owner_pid = NULL, heartbeat = ?,"
                " attempts = attempts + ? WHERE arn = ? AND state = ?"
                " AND owner_pid IS ? AND attempts = ?",
                (
                    now,
                    1 if seen.state == "queued" else 0,
                    seen.arn,
                    seen.state,
                    seen.owner_pid,
                    seen.attempts,
                ),
            )
            return cursor.rowcount == 1

    def heartbeat(self, arn: str, now: float) -> None:
        with self.transaction() as db:
            db.execute("UPDATE jobs SET heartbeat = ? WHERE arn = ?", (now, arn))

    def finish_job(self, db: sqlite3.Connection, arn: str) -> None:
        db.execute("DELETE FROM jobs WHERE arn = ?", (arn,))

    # -- events and live records ---------------------------------------------------

    def add_events(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Record events atomically: all of a PutEvents call or none of it."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO events (dataset_group_arn, tracking_id, user_id,"
                " session_id, event_id, event_type, event_value, item_id, sent_at,"
                " properties, recorded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def events_for_user(
        self, dataset_group_arn: str, user_id: str, after_id: int
    ) -> builtins.list[sqlite3.Row]:
        return (
            self._connection()
            .execute(
                "SELECT * FROM events WHERE dataset_group_arn = ? AND user_id = ?"
                " AND id > ? ORDER BY id",
                (dataset_group_arn, user_id, after_id),
            )
            .fetchall()
        )

    def events_for_group(self, dataset_group_arn: str) -> builtins.list[sqlite3.Row]:
        return (
            self._connection()
            .execute(
                "SELECT * FROM events WHERE dataset_group_arn = ? ORDER BY id",
                (dataset_group_arn,),
            )
            .fetchall()
        )

    def last_event_id(self, dataset_group_arn: str) -> int:
        row = (
            self._connection()
            .execute(
                "SELECT COALESCE(MAX(id), 0) FROM events WHERE dataset_group_arn = ?",
                (dataset_group_arn,),
            )
            .fetchone()
        )
        return int(row[0])

    def delete_events(self, db: sqlite3.Connection, dataset_group_arn: str) -> None:
        db.execute(
            "DELETE FROM events WHERE dataset_group_arn = ?", (dataset_group_arn,)
        )

    def put_live_records(
        self, dataset_arn: str, records: Sequence[tuple[str, str]], now: float
    ) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO live_records (dataset_arn, record_id,"
                " properties, recorded) VALUES (?, ?, ?, ?)",
                [(dataset_arn, rid, props, now) for rid, props in records],
            )

    def live_record(self, dataset_arn: str, record_id: str) -> dict[str, Any] | None:
        row = (
            self._connection()
            .execute(
                "SELECT properties FROM live_records WHERE dataset_arn = ?"
                " AND record_id = ?",
                (dataset_arn, record_id),
            )
            .fetchone()
        )
        return json.loads(row[0]) if row else None

    def live_records(self, dataset_arn: str) -> dict[str, dict[str, Any]]:
        rows = (
            self._connection()
            .execute(
                "SELECT record_id, properties FROM live_records WHERE dataset_arn = ?",
                (dataset_arn,),
            )
            .fetchall()
        )
        return {r[0]: json.loads(r[1]) for r in rows}

    def delete_live_records(self, db: sqlite3.Connection, dataset_arn: str) -> None:
        db.execute("DELETE FROM live_records WHERE dataset_arn = ?", (dataset_arn,))


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL makes a commit durable across power loss, not only process death: an
    # acknowledged PutEvents must survive both.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _create_schema(db: sqlite3.Connection, path: Path) -> None:
    """Create the tables, or bring an older database up to date, in ``db``'s open
    transaction (executescript would commit on its own)."""
    for statement in _DDL.split(";"):
        if statement.strip():
            db.execute(statement)
    _migrate(db, path)
    for statement in _INDEXES.split(";"):
        if statement.strip():
            db.execute(statement)


def _refuse_blocked(root: Path) -> None:
    """A file where ``root`` or one of its parents should be would only fail at the
    first write; say so when the store is opened."""
    for candidate in (root, *root.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR, f"{candidate} is not a directory", str(root)
                )
            return


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring a database of an older schema up to :data:`SCHEMA_VERSION` in place."""
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        # A new database: _DDL has just created it at the current version.
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
        return
    version = int(row[0])
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"{path} has schema version {version}, newer than this airctx reads "
            f"({SCHEMA_VERSION}); upgrade airctx or use another state directory"
        )
    if version < 2:
        columns = {c[1] for c in db.execute("PRAGMA table_info(resources)")}
        if "arn_prefix" not in columns:
            db.execute(
                "ALTER TABLE resources ADD COLUMN arn_prefix TEXT NOT NULL DEFAULT ''"
            )
        arns = [r[0] for r in db.execute("SELECT arn FROM resources").fetchall()]
        db.executemany(
            "UPDATE resources SET arn_prefix = ? WHERE arn = ?",
            [(arn_prefix(arn), arn) for arn in arns],
        )
        # Names were unique across regions; the new index makes them unique per one.
        db.execute("DROP INDEX IF EXISTS resources_name")
        log.info(
            "migrated %s from schema %d to 2 (%d resources)", path, version, len(arns)
        )
    if version < SCHEMA_VERSION:
        db.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION),),
        )


def _resource(row: sqlite3.Row) -> Resource:
    return Resource(
        arn=row["arn"],
        type=row["type"],
        name=row["name"],
        parent_arn=row["parent_arn"],
        status=row["status"],
        body=json.loads(row["body"]),
        created=row["created"],
        updated=row["updated"],
    )


def _job(row: sqlite3.Row) -> Job:
    return Job(
        arn=row["arn"],
        action=row["action"],
        state=row["state"],
        owner_pid=row["owner_pid"],
        heartbeat=row["heartbeat"],
        attempts=row["attempts"],
        created=row["created"],
    )
