"""Turn an input file into the CSVs Personalize imports (interactions, users).

Two inputs are understood: the raw Skytrax ``airline.csv`` (the reference use case)
and a CSV already in Personalize format, whose columns are checked and reordered.
Everything else is driven by the dataset specs, so the same code prepares any
dataset whose fields come from configuration.

The input is read in chunks, so memory stays flat as the file grows; what must
survive across chunks (a 64-bit hash per distinct event for duplicate detection,
per-user names, residence tallies and activity for the users file) lives in a
scratch SQLite database beside the outputs, removed when the run ends.

Rows that cannot become a valid interaction are dropped and counted per reason.
A rating threshold is not applied here: that is a training-time setting
(``solution.event_value_threshold``).
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import logging
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from airctx.config import DatasetSpec, FieldSpec
from airctx.data.files import (
    TextFormat,
    atomic_write,
    duplicate_columns_message,
    missing_columns_message,
    short_row_message,
    shown,
    sniff,
)
from airctx.data.schema import (
    ID_FIELDS,
    MAX_CATEGORICAL_CHARS,
    MAX_ID_CHARS,
    check_spec,
)
from airctx.data.scratch import HashSet, hashes, scratch_db
from airctx.data.summary import MAX_ITEMS, PreparedSummary, summary_path
from airctx.errors import DataError

logger = logging.getLogger(__name__)

# The raw Skytrax airline.csv columns that fill each role; the only airline-specific
# knowledge in airctx. "context" fills the first context field of the interactions
# spec, "user_metadata" the single metadata field of the users spec.
SKYTRAX_COLUMNS: dict[str, str] = {
    "user": "author",
    "item": "airline_name",
    "timestamp": "date",
    "context": "cabin_flown",
    "event_value": "overall_rating",
    "user_metadata": "author_country",
}

# Skytrax scores a review's overall_rating from 1 to 10; anything else is corrupt.
SKYTRAX_RATING_RANGE = (1.0, 10.0)

INPUT_FORMATS = ("auto", "skytrax", "personalize")
RESIDENCE_RULES = ("latest", "most_frequent")
MISSING_VALUES = frozenset({"", "NA"})
# Timestamps above this are milliseconds (1e11 seconds is the year 5138).
MAX_SECONDS = 1e11
_EXAMPLES = 5
_WHITESPACE = re.compile(r"\s+")


@dataclass
class PrepReport:
    """What ``prepare`` read, wrote and dropped, and why."""

    input_path: Path
    input_format: str
    encoding: str = "utf-8"
    rows_read: int = 0
    interactions_written: int = 0
    users_written: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    users_dropped: dict[str, int] = field(default_factory=dict)
    residence_conflicts: int = 0
    residence_conflict_examples: list[str] = field(default_factory=list)
    collapsed_names: int = 0
    collapsed_name_examples: list[str] = field(default_factory=list)
    events_per_context: dict[str, int] = field(default_factory=dict)
    event_value_range: list[float] | None = None
    event_types: list[str] = field(default_factory=list)
    interactions_path: Path | None = None
    users_path: Path | None = None
    # The users file users.csv was made from; None when derived from the input.
    users_input: Path | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values."""
        out = asdict(self)
        for key in ("input_path", "interactions_path", "users_path", "users_input"):
            out[key] = str(out[key]) if out[key] is not None else None
        return out


@dataclass(frozen=True)
class _Source:
    """How input columns fill the spec's fields."""

    columns: Mapping[str, str]  # spec field -> input column
    constants: Mapping[str, str]  # spec field -> fixed value
    user_metadata: Mapping[str, str]  # users spec field -> input column
    dates: bool  # TIMESTAMP holds calendar dates rather than epoch seconds
    squeeze_user: bool  # USER_ID is a display name with its spaces removed
    # spec field -> (lowest, highest) the source defines for its values
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def usecols(self) -> list[str]:
        return sorted(set(self.columns.values()) | set(self.user_metadata.values()))


class _Users:
    """Per-user state feeding the users file and the report's name checks.

    Kept in the scratch database: ``users`` holds one row per user (first name
    seen, whether any of its rows was written, whether its name collapsed) and
    ``vals`` one row per user and metadata value (rows seen, newest timestamp).
    """

    def __init__(
        self, spec: DatasetSpec | None, report: PrepReport, db: sqlite3.Connection
    ) -> None:
        self.spec = spec
        self.report = report
        self.db = db
        self.meta = [f for f in spec.fields if f.name != "USER_ID"] if spec else []
        # One column per metadata field (v0, v1, ...): a joined string could blur them.
        self.slots = [f"v{i}" for i in range(len(self.meta))]
        key = ", ".join(["uid", *self.slots])
        db.execute(
            "CREATE TABLE users (uid TEXT PRIMARY KEY, name TEXT, "
            "active INTEGER NOT NULL, collapsed INTEGER NOT NULL) WITHOUT ROWID"
        )
        db.execute(
            "CREATE TABLE vals (uid TEXT NOT NULL, "
            + "".join(f"{s} TEXT NOT NULL, " for s in self.slots)
            + f"n INTEGER NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY ({key})) "
            "WITHOUT ROWID"
        )
        db.execute("CREATE TABLE chunk_users (uid TEXT PRIMARY KEY) WITHOUT ROWID")
        self._upsert_user = (
            "INSERT INTO users VALUES (?, ?, ?, ?) ON CONFLICT (uid) DO UPDATE SET "
            "active = max(active, excluded.active), "
            "collapsed = max(collapsed, excluded.collapsed)"
        )
        self._upsert_value = (
            f"INSERT INTO vals VALUES ({', '.join('?' * (len(self.slots) + 3))}) "
            f"ON CONFLICT ({key}) DO UPDATE SET "
            "n = n + excluded.n, ts = max(ts, excluded.ts)"
        )

    def observe(
        self,
        uids: pd.Series,
        names: pd.Series | None,
        values: pd.DataFrame | None,
        stamps: pd.Series,
        active: pd.Series,
    ) -> None:
        """Record one chunk of rows (in file order); all arguments share an index.

        ``values`` holds the metadata columns in spec order, ``""`` where missing;
        a row whose values are all missing carries no metadata.
        """
        if uids.empty:
            return
        collapsed = self._collapsed(uids, names) if names is not None else set()
        any_active = active.groupby(uids, sort=False).any()
        ids = any_active.index
        first_names = (
            names.groupby(uids, sort=False).first().reindex(ids).tolist()
            if names is not None
            else [None] * len(ids)
        )
        self.db.executemany(
            self._upsert_user,
            zip(
                ids.tolist(),
                first_names,
                any_active.astype(int).tolist(),
                ids.isin(list(collapsed)).astype(int).tolist(),
                strict=True,
            ),
        )
        if values is None or not self.slots:
            return
        has_value = (values != "").any(axis=1)
        rows = values[has_value].copy()
        rows.columns = self.slots
        rows.insert(0, "uid", uids[has_value])
        rows["ts"] = stamps[has_value]
        tallies = rows.groupby(["uid", *self.slots], sort=False, dropna=False)[
            "ts"
        ].agg(["size", "max"])
        self.db.executemany(
            self._upsert_value,
            (
                (*key, n, ts)
                for key, n, ts in zip(
                    tallies.index.tolist(),
                    tallies["size"].tolist(),
                    tallies["max"].tolist(),
                    strict=True,
                )
            ),
        )

    def _collapsed(self, uids: pd.Series, names: pd.Series) -> set[str]:
        """Users whose rows in this chunk bring a second name; reported once each."""
        self.db.execute("DELETE FROM chunk_users")
        self.db.executemany(
            "INSERT INTO chunk_users VALUES (?)", ((u,) for u in uids.unique())
        )
        stored = pd.DataFrame(
            self.db.execute(
                "SELECT u.uid, u.name, u.collapsed FROM chunk_users c "
                "JOIN users u ON u.uid = c.uid"
            ).fetchall(),
            columns=["uid", "name", "collapsed"],
            dtype=object,
        ).set_index("uid")
        # A user's name is the first one seen, in an earlier chunk or in this one.
        first = uids.map(stored["name"]).where(
            uids.isin(stored.index), names.groupby(uids).transform("first")
        )
        done = uids.isin(stored.index[stored["collapsed"] == 1])
        differs = names.notna() & (names != first) & ~done
        newly = pd.DataFrame({"uid": uids, "first": first, "name": names})[differs]
        newly = newly.drop_duplicates("uid")
        self.report.collapsed_names += len(newly)
        room = _EXAMPLES - len(self.report.collapsed_name_examples)
        for uid, was, name in newly.head(max(room, 0)).itertuples(index=False):
            self.report.collapsed_name_examples.append(
                f"{was!r} and {name!r} both become USER_ID {uid!r}"
            )
        return set(newly["uid"])

    def write(self, spec: DatasetSpec, handle: TextIO, rule: str) -> None:
        """Write one row per user with written interactions, in spec column order."""
        columns = ["USER_ID", *(f.name for f in self.meta)]
        order = [columns.index(name) for name in spec.names]
        required = [f.name for f in self.meta if not f.nullable]
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(spec.names)
        dropped: Counter[str] = Counter(self.report.users_dropped)
        width = len(self.slots)
        cursor = self.db.execute(
            "SELECT u.uid"
            + "".join(f", v.{s}" for s in self.slots)
            + ", v.n, v.ts FROM users u LEFT JOIN vals v ON v.uid = u.uid "
            "WHERE u.active ORDER BY u.uid"
        )
        for uid, group in itertools.groupby(cursor, key=lambda r: r[0]):
            tallies = {
                tuple(r[1 : 1 + width]): (r[1 + width], r[2 + width])
                for r in group
                if r[1 + width] is not None
            }
            if len(tallies) > 1:
                self.report.residence_conflicts += 1
                if len(self.report.residence_conflict_examples) < _EXAMPLES:
                    seen = sorted(" / ".join(v) for v in tallies)
                    self.report.residence_conflict_examples.append(
                        f"{uid}: {', '.join(seen)}"
                    )
            value = _choose(tallies, rule)
            if value is None:
                if required:
                    dropped[f"{required[0]}: missing"] += 1
                    continue
                value = tuple("" for _ in self.meta)
            row = (uid, *value)
            writer.writerow([row[i] for i in order])
            self.report.users_written += 1
        self.report.users_dropped = dict(dropped)


class _Facts:
    """Distinct items and event types, and the value range, of the rows written.

    Items are kept in the scratch database, so memory stays flat however many
    there are.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.execute("CREATE TABLE items (id TEXT PRIMARY KEY) WITHOUT ROWID")
        self.types: set[str] = set()
        self.low: float | None = None
        self.high: float | None = None

    def observe(self, written: pd.DataFrame) -> None:
        if written.empty:
            return
        if "ITEM_ID" in written:
            self.db.executemany(
                "INSERT OR IGNORE INTO items VALUES (?)",
                ((i,) for i in written["ITEM_ID"].unique().tolist()),
            )
        if "EVENT_TYPE" in written:
            self.types.update(written["EVENT_TYPE"].astype(str).unique().tolist())
        if "EVENT_VALUE" in written:
            values = pd.to_numeric(written["EVENT_VALUE"], errors="coerce").dropna()
            if not values.empty:
                low, high = float(values.min()), float(values.max())
                self.low = low if self.low is None else min(self.low, low)
                self.high = high if self.high is None else max(self.high, high)

    def summary(self) -> PreparedSummary:
        (count,) = self.db.execute("SELECT count(*) FROM items").fetchone()
        items = (
            frozenset(r[0] for r in self.db.execute("SELECT id FROM items"))
            if count <= MAX_ITEMS
            else None
        )
        value_range = (
            (self.low, self.high)
            if self.low is not None and self.high is not None
            else None
        )
        return PreparedSummary(value_range, tuple(sorted(self.types - {""})), items)


def _choose(
    tallies: dict[tuple[str, ...], tuple[int, int]], rule: str
) -> tuple[str, ...] | None:
    """The metadata value a rule picks from value -> (rows, newest timestamp)."""
    if not tallies:
        return None
    if rule == "latest":
        return max(tallies, key=lambda v: (tallies[v][1], tallies[v][0], v))
    return max(tallies, key=lambda v: (tallies[v][0], tallies[v][1], v))


def prepare(
    input_path: Path,
    *,
    interactions: DatasetSpec,
    users: DatasetSpec | None,
    output_dir: Path,
    input_format: str = "auto",
    event_type: str = "RATING",
    residence_rule: str = "latest",
    chunk_rows: int = 5000,
    progress: Callable[[int], None] | None = None,
    users_input: Path | None = None,
    project: str | None = None,
) -> PrepReport:
    """Write ``output_dir/interactions.csv`` (and ``users.csv``) from ``input_path``.

    ``input_format`` is ``skytrax`` (raw airline.csv), ``personalize`` (already in
    Personalize format, any column order) or ``auto`` (decided from the header).
    A users file is written when ``users`` is given and either ``users_input``
    names a Personalize-format users CSV, which is then the users file's only
    source (the input's own user metadata is not read), or the input carries user
    metadata (Skytrax).
    A small summary (items, event types, value range, and the ``project`` and input
    file the data is for) goes beside them for the runtime commands' checks.
    Outputs are replaced only when the whole run succeeds. Raises
    :class:`DataError` naming the file, line and column of the problem.
    """
    if input_format not in INPUT_FORMATS:
        raise DataError(
            f"input format {input_format!r} is not one of {', '.join(INPUT_FORMATS)}"
        )
    if residence_rule not in RESIDENCE_RULES:
        raise DataError(
            f"residence rule {residence_rule!r} is not one of "
            + ", ".join(RESIDENCE_RULES)
        )
    if chunk_rows < 1:
        raise DataError(f"chunk_rows must be at least 1, not {chunk_rows}")

    check_spec(interactions)
    if users is not None:
        check_spec(users)
    if users_input is not None and users is None:
        raise DataError(
            f"{users_input}: a users file was given, but the configuration "
            "declares no users dataset; add datasets.users.fields, or drop "
            "--users-input (and data.users_input)"
        )
    # Checked before the input is read, so a wrong users file fails at once.
    users_fmt = (
        _users_input_format(users_input, users)
        if users_input is not None and users is not None
        else None
    )

    fmt = sniff(input_path)
    # A users file replaces the user metadata the input would give, so the input
    # is read as if no users dataset were configured.
    derive = users if users_input is None else None
    chosen = _choose_format(fmt.header, input_format, interactions, derive)
    report = PrepReport(input_path, chosen, encoding=fmt.encoding)
    report.warnings.extend(fmt.warnings)
    source = _source(input_path, chosen, fmt, interactions, derive, event_type, report)

    want_users = users is not None and (
        bool(source.user_metadata) or users_input is not None
    )
    interactions_path = output_dir / "interactions.csv"
    users_path = output_dir / "users.csv"
    with contextlib.ExitStack() as stack:
        db = stack.enter_context(scratch_db(output_dir, "prep"))
        tracker = _Users(users if want_users else None, report, db)
        facts = _Facts(db)
        handle = stack.enter_context(atomic_write(interactions_path))
        _write_interactions(
            input_path,
            fmt,
            source,
            interactions,
            tracker,
            HashSet(db, "events"),
            handle,
            report,
            chunk_rows,
            progress,
            facts,
        )
        if report.interactions_written == 0:
            reasons = ", ".join(f"{k} ({v})" for k, v in report.dropped.items())
            raise DataError(
                f"{input_path}: no interaction survived cleaning out of "
                f"{report.rows_read} rows"
                + (f"; dropped: {reasons}" if reasons else "")
            )
        if users is not None and users_input is not None and users_fmt is not None:
            _read_users_input(
                users_input,
                users_fmt,
                users,
                tracker,
                report,
                chunk_rows,
                residence_rule,
            )
            report.users_input = users_input
        if tracker.spec is not None:
            users_handle = stack.enter_context(atomic_write(users_path))
            tracker.write(tracker.spec, users_handle, residence_rule)
            report.users_path = users_path
            if users_input is not None and report.users_written == 0:
                raise DataError(_no_users_message(users_input, report))
        report.interactions_path = interactions_path
        summary = replace(
            facts.summary(), project=project, input_file=str(input_path.resolve())
        )
        report.event_value_range = (
            list(summary.event_value_range) if summary.event_value_range else None
        )
        report.event_types = list(summary.event_types)
    summary.save(summary_path(output_dir))

    # The outputs of one run belong together: a users.csv left by an earlier run on
    # other input would otherwise be imported beside these interactions.
    if report.users_path is None and users_path.exists():
        users_path.unlink()
        report.warnings.append(
            f"removed {users_path} from an earlier run: this input has no user metadata"
        )

    logger.info(
        "prepared %d interactions and %d users from %d rows of %s",
        report.interactions_written,
        report.users_written,
        report.rows_read,
        input_path,
    )
    return report


def _choose_format(
    header: list[str],
    requested: str,
    interactions: DatasetSpec,
    users: DatasetSpec | None,
) -> str:
    personalize_cols = [n for n in interactions.names if n != "EVENT_TYPE"]
    skytrax_cols = _skytrax_needed(interactions, users)
    if requested != "auto":
        return requested
    if all(c in header for c in personalize_cols):
        return "personalize"
    if all(c in header for c in skytrax_cols):
        return "skytrax"
    # Neither fits: report against the format the header resembles more.
    lower = {h.lower() for h in header}
    p_score = sum(c.lower() in lower for c in personalize_cols)
    s_score = sum(c.lower() in lower for c in skytrax_cols)
    return "skytrax" if s_score > p_score else "personalize"


def _skytrax_needed(interactions: DatasetSpec, users: DatasetSpec | None) -> list[str]:
    roles = ["user", "item", "timestamp"]
    if interactions.context_fields:
        roles.append("context")
    if interactions.get("EVENT_VALUE") is not None:
        roles.append("event_value")
    if users is not None:
        roles.append("user_metadata")
    return [SKYTRAX_COLUMNS[r] for r in roles]


def _source(
    path: Path,
    chosen: str,
    fmt: TextFormat,
    interactions: DatasetSpec,
    users: DatasetSpec | None,
    event_type: str,
    report: PrepReport,
) -> _Source:
    if chosen == "skytrax":
        source = _skytrax_source(interactions, users, event_type)
        what = "a Skytrax airline.csv"
    else:
        columns = {n: n for n in interactions.names}
        constants: dict[str, str] = {}
        if "EVENT_TYPE" in columns and "EVENT_TYPE" not in fmt.header:
            del columns["EVENT_TYPE"]
            constants["EVENT_TYPE"] = event_type
            report.warnings.append(
                f"{path}: no EVENT_TYPE column; every event gets type {event_type!r}"
            )
        source = _Source(columns, constants, {}, dates=False, squeeze_user=False)
        what = "a Personalize-format interactions CSV"
        extra = [h for h in fmt.header if h not in interactions.names]
        if extra and all(c in fmt.header for c in columns.values()):
            report.warnings.append(
                f"{path}: column(s) {', '.join(map(shown, extra))} are not in the "
                "interactions schema and were left out"
            )

    _check_header(path, fmt.header, source.usecols, what)
    return source


def _check_header(
    path: Path, header: Sequence[str], needed: Sequence[str], what: str
) -> None:
    """Refuse a header that lacks a column to read, or names one of them twice."""
    if any(c not in header for c in needed):
        raise DataError(missing_columns_message(path, header, needed, what))
    repeated = duplicate_columns_message(path, header, needed)
    if repeated is not None:
        raise DataError(repeated)


def _skytrax_source(
    interactions: DatasetSpec, users: DatasetSpec | None, event_type: str
) -> _Source:
    columns = {
        "USER_ID": SKYTRAX_COLUMNS["user"],
        "ITEM_ID": SKYTRAX_COLUMNS["item"],
        "TIMESTAMP": SKYTRAX_COLUMNS["timestamp"],
        "EVENT_VALUE": SKYTRAX_COLUMNS["event_value"],
    }
    if interactions.context_fields:
        columns[interactions.context_fields[0]] = SKYTRAX_COLUMNS["context"]
    constants = {"EVENT_TYPE": event_type}
    unfilled = [
        n for n in interactions.names if n not in columns and n not in constants
    ]
    if unfilled:
        raise DataError(
            "a Skytrax airline.csv cannot fill interactions field(s) "
            f"{', '.join(unfilled)}; it fills USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, "
            "EVENT_VALUE and the first context field"
        )
    columns = {n: c for n, c in columns.items() if n in interactions.names}

    user_metadata: dict[str, str] = {}
    if users is not None:
        meta = [n for n in users.names if n != "USER_ID"]
        if len(meta) != 1:
            raise DataError(
                "a Skytrax airline.csv fills exactly one users metadata field "
                f"(from {SKYTRAX_COLUMNS['user_metadata']}); the users spec has "
                f"{len(meta)}: {', '.join(meta) or 'none'}"
            )
        user_metadata[meta[0]] = SKYTRAX_COLUMNS["user_metadata"]
    ranges = {"EVENT_VALUE": SKYTRAX_RATING_RANGE} if "EVENT_VALUE" in columns else {}
    return _Source(
        columns,
        constants,
        user_metadata,
        dates=True,
        squeeze_user=True,
        ranges=ranges,
    )


def _chunks(
    path: Path, fmt: TextFormat, usecols: list[str], chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """The input rows as stripped strings, in chunks; parse errors become DataError."""
    try:
        reader = pd.read_csv(
            path,
            sep=fmt.delimiter,
            encoding=fmt.encoding,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            chunksize=chunk_rows,
        )
        scan_for_short_rows = len(fmt.header) > 1
        with reader:
            for chunk in reader:
                # All columns are parsed (not usecols) so that a row with extra
                # fields is reported instead of silently shifting columns.
                # pandas fills a short row's missing fields with "", which would
                # read as empty values; such a row always ends empty, so only
                # then is the file scanned for it.
                if scan_for_short_rows and (chunk.iloc[:, -1] == "").any():
                    short = short_row_message(path, fmt)
                    if short is not None:
                        raise DataError(short)
                    scan_for_short_rows = False
                yield chunk[usecols].apply(lambda col: col.str.strip())
    except pd.errors.ParserError as exc:
        raise DataError(_parser_message(path, exc)) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read as CSV: {exc}") from None


def _parser_message(path: Path, exc: Exception) -> str:
    text = str(exc).strip()
    match = re.search(r"line (\d+)", text)
    where = f"line {match.group(1)}: " if match else ""
    return (
        f"{path}: {where}malformed CSV row ({text}); check the quoting and that "
        "every row has as many fields as the header"
    )


def _write_interactions(
    path: Path,
    fmt: TextFormat,
    source: _Source,
    spec: DatasetSpec,
    tracker: _Users,
    events: HashSet,
    handle: TextIO,
    report: PrepReport,
    chunk_rows: int,
    progress: Callable[[int], None] | None,
    facts: _Facts,
) -> None:
    now = time.time()
    dropped: Counter[str] = Counter()
    per_context: Counter[str] = Counter()
    context = spec.context_fields[0] if spec.context_fields else None
    handle.write(",".join(spec.names) + "\n")

    for chunk in _chunks(path, fmt, source.usecols, chunk_rows):
        report.rows_read += len(chunk)
        raw = pd.DataFrame(index=chunk.index)
        for name, column in source.columns.items():
            raw[name] = chunk[column]
        for name, value in source.constants.items():
            raw[name] = value
        if source.squeeze_user:
            raw["USER_ID"] = raw["USER_ID"].str.replace(_WHITESPACE, "", regex=True)
        stamps = _timestamps(raw["TIMESTAMP"], dates=source.dates)

        keep, out = _clean(
            raw, spec, stamps, now, dropped, source.ranges, dates=source.dates
        )
        keep &= ~_duplicates(out, keep, events, dropped)
        written = out[keep]
        written.to_csv(handle, header=False, index=False, lineterminator="\n")
        report.interactions_written += len(written)
        facts.observe(written)
        if context is not None:
            per_context.update(written[context].astype(str))

        # Only a raw source carries per-user facts (names, metadata) in its rows.
        # Its users go into the users file only when it is the metadata's source;
        # their names are always checked for collapsing into one USER_ID.
        if source.squeeze_user or source.user_metadata:
            active = keep if source.user_metadata else pd.Series(False, keep.index)
            _observe_users(chunk, raw, stamps, active, source, tracker)
        if progress is not None:
            progress(report.rows_read)

    report.dropped = dict(dropped)
    report.events_per_context = dict(per_context.most_common())


def _timestamps(values: pd.Series, *, dates: bool) -> pd.Series:
    """Epoch seconds (float, NaN when unparseable) from dates or numeric strings."""
    if dates:
        parsed = pd.to_datetime(values, format="ISO8601", errors="coerce", utc=True)
        # Whole seconds whatever unit pandas inferred; NaT stays NaN.
        seconds = pd.Series(np.nan, index=values.index)
        valid = parsed.notna()
        seconds[valid] = parsed[valid].dt.as_unit("s").astype("int64").astype(float)
        return seconds
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _clean(
    raw: pd.DataFrame,
    spec: DatasetSpec,
    stamps: pd.Series | None,
    now: float,
    dropped: Counter[str],
    ranges: Mapping[str, tuple[float, float]] | None = None,
    *,
    dates: bool = True,
) -> tuple[pd.Series, pd.DataFrame]:
    """Rows that satisfy every field rule, and the fields in spec order and types.

    ``ranges`` bounds numeric fields whose source defines their scale; ``dates``
    says whether TIMESTAMP came from calendar dates. Each dropped row is counted
    once, under the first rule it breaks (in field order).
    """
    keep = pd.Series(True, index=raw.index)
    out = pd.DataFrame(index=raw.index)

    def drop(mask: pd.Series, reason: str) -> None:
        newly = mask & keep
        count = int(newly.sum())
        if count:
            dropped[reason] += count
            keep.loc[newly] = False

    for f in spec.fields:
        values = raw[f.name]
        missing = values.isin(MISSING_VALUES)
        if not f.nullable:
            drop(missing, f"{f.name}: missing")
        if f.name == "TIMESTAMP" and stamps is not None:
            out[f.name] = _check_timestamp(
                stamps, missing, now, drop, _unparseable_timestamp(dates)
            )
        elif f.type in ("long", "int", "float", "double"):
            out[f.name] = _check_number(f, values, missing, drop)
            if ranges and f.name in ranges:
                low, high = ranges[f.name]
                numbers = out[f.name].astype("float64")
                drop(
                    (numbers < low) | (numbers > high),
                    f"{f.name}: outside {low:g}-{high:g}",
                )
        elif f.type == "boolean":
            lowered = values.str.lower()
            drop(
                ~missing & ~lowered.isin(("true", "false")), f"{f.name}: not true/false"
            )
            out[f.name] = lowered.where(~missing, "")
        else:
            _check_text(f, values, drop)
            out[f.name] = values.where(~missing, "")
    return keep, out


def _unparseable_timestamp(dates: bool) -> str:
    """The drop reason for a TIMESTAMP that cannot be read, with what is expected."""
    if dates:
        return "TIMESTAMP: unparseable"
    # An ISO date here is the usual mistake: Personalize-format input is numeric.
    return (
        "TIMESTAMP: not a number; Personalize-format TIMESTAMP must be unix epoch "
        "seconds, e.g. 1426550400 for 2015-03-17"
    )


def _check_timestamp(
    stamps: pd.Series,
    missing: pd.Series,
    now: float,
    drop: Callable[[pd.Series, str], None],
    unparseable: str,
) -> pd.Series:
    bad = stamps.isna() | ~np.isfinite(stamps)
    drop(~missing & bad, unparseable)
    drop(stamps > MAX_SECONDS, "TIMESTAMP: looks like milliseconds, not seconds")
    drop(stamps <= 0, "TIMESTAMP: not after 1970-01-01")
    drop(stamps > now, "TIMESTAMP: in the future")
    return stamps.where(~bad, 0).astype("int64")


def _check_number(
    f: FieldSpec,
    values: pd.Series,
    missing: pd.Series,
    drop: Callable[[pd.Series, str], None],
) -> pd.Series:
    numbers = pd.to_numeric(values.where(~missing, ""), errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.astype("float64"))
    drop(~missing & bad, f"{f.name}: unparseable")
    if f.type in ("float", "double"):
        return numbers.astype("float64")
    floats = numbers.astype("float64")
    integral = floats.mod(1).fillna(0) == 0
    drop(~missing & ~bad & ~integral, f"{f.name}: not a whole number")
    return floats.where(~bad & integral).round().astype("Int64")


def _check_text(
    f: FieldSpec, values: pd.Series, drop: Callable[[pd.Series, str], None]
) -> None:
    if f.name in ID_FIELDS:
        drop(values.str.len() > MAX_ID_CHARS, f"{f.name}: longer than {MAX_ID_CHARS}")
    elif f.categorical:
        drop(
            values.str.len() > MAX_CATEGORICAL_CHARS,
            f"{f.name}: longer than {MAX_CATEGORICAL_CHARS}",
        )


def _duplicates(
    out: pd.DataFrame, keep: pd.Series, events: HashSet, dropped: Counter[str]
) -> pd.Series:
    """Rows (among those kept) whose whole event was already written, in any chunk."""
    dup = pd.Series(False, index=out.index)
    kept = out[keep]
    if kept.empty:
        return dup
    flags = events.add(hashes(kept))
    dup.loc[kept.index] = flags
    if flags.any():
        dropped["duplicate event"] += int(flags.sum())
    return dup


def _observe_users(
    chunk: pd.DataFrame,
    raw: pd.DataFrame,
    stamps: pd.Series,
    keep: pd.Series,
    source: _Source,
    tracker: _Users,
) -> None:
    """Feed per-user state from every row with a usable USER_ID, kept or not."""
    uids = raw["USER_ID"]
    usable = ~uids.isin(MISSING_VALUES) & (uids.str.len() <= MAX_ID_CHARS)
    rows = chunk[usable]
    names = rows[SKYTRAX_COLUMNS["user"]] if source.squeeze_user else None
    values = (
        _meta_values(rows[list(source.user_metadata.values())])
        if source.user_metadata
        else None
    )
    tracker.observe(
        uids[usable],
        names,
        values,
        stamps[usable].fillna(-1).astype("int64"),
        keep[usable],
    )


def _meta_values(meta: pd.DataFrame) -> pd.DataFrame:
    """Metadata values with missing and too-long ones (which are dropped) as ``""``."""
    usable = ~meta.isin(MISSING_VALUES) & meta.apply(
        lambda col: col.str.len() <= MAX_CATEGORICAL_CHARS
    )
    return meta.where(usable, "")


def _users_input_format(path: Path, spec: DatasetSpec) -> TextFormat:
    """The users file's format, once its header holds every users field and a
    row follows it."""
    fmt = sniff(path)
    _check_header(path, fmt.header, spec.names, "a users CSV")
    with path.open(encoding=fmt.encoding, newline="") as handle:
        rows = csv.reader(handle, delimiter=fmt.delimiter)
        try:
            next(rows, None)
            # Blank lines are skipped, as pandas skips them.
            has_rows = any(row for row in rows)
        except csv.Error:
            has_rows = True  # the reading proper reports what is wrong
    if not has_rows:
        raise DataError(_no_users_message(path, None))
    return fmt


def _no_users_message(path: Path, report: PrepReport | None) -> str:
    """Why a users file gave no users row: Personalize imports no empty dataset."""
    if report is not None and report.users_dropped:
        reasons = ", ".join(f"{k} ({v})" for k, v in report.users_dropped.items())
        what = f"none of its rows is usable (dropped: {reasons})"
    else:
        what = "the users file has a header but no rows"
    return (
        f"{path}: {what}; a users dataset with no rows cannot be imported. Fix the "
        "file, or drop --users-input (and data.users_input) to derive user "
        "metadata from the reviews"
    )


def _read_users_input(
    path: Path,
    fmt: TextFormat,
    spec: DatasetSpec,
    tracker: _Users,
    report: PrepReport,
    chunk_rows: int,
    rule: str = "latest",
) -> None:
    """Load a Personalize-format users CSV into the per-user state.

    A user given on several rows gets one row in users.csv, its value chosen by
    ``rule`` as for derived metadata (``latest``: the last row's); each row after a
    user's first is counted as dropped and a warning says so.
    """
    report.warnings.extend(fmt.warnings)
    meta = [n for n in spec.names if n != "USER_ID"]
    seen = HashSet(tracker.db, "users_input_ids")
    repeated = 0
    examples: list[str] = []
    row_number = 0
    for chunk in _chunks(path, fmt, spec.names, chunk_rows):
        if chunk.empty:  # a header-only file; the caller reports it
            continue
        uids = chunk["USER_ID"]
        usable = ~uids.isin(MISSING_VALUES) & (uids.str.len() <= MAX_ID_CHARS)
        unusable = int((~usable).sum())
        if unusable:
            key = "USER_ID: missing or too long"
            report.users_dropped[key] = report.users_dropped.get(key, 0) + unusable
        rows = chunk[usable]
        again = seen.add(hashes(rows["USER_ID"]))
        if again.any():
            repeated += int(again.sum())
            for uid in rows["USER_ID"][again].unique():
                if len(examples) < _EXAMPLES and uid not in examples:
                    examples.append(str(uid))
        # Row order stands in for time, so the last row for a user is the latest.
        order = pd.Series(
            np.arange(row_number, row_number + len(rows), dtype=np.int64),
            index=rows.index,
        )
        row_number += len(chunk)
        tracker.observe(
            rows["USER_ID"],
            None,
            _meta_values(rows[meta]),
            order,
            pd.Series(True, index=rows.index),
        )
    if repeated:
        key = "USER_ID: repeated (one row kept per user)"
        report.users_dropped[key] = report.users_dropped.get(key, 0) + repeated
        chosen = (
            "the value of its last row"
            if rule == "latest"
            else "its most frequent value"
        )
        rows_word = "row repeats" if repeated == 1 else "rows repeat"
        report.warnings.append(
            f"{path}: {repeated} {rows_word} the USER_ID of an earlier row (e.g. "
            f"{', '.join(examples)}); users.csv keeps one row per user, with "
            f"{chosen} (data.residence_rule: {rule})"
        )
