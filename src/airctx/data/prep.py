"""Turn an input file into the CSVs Personalize imports (interactions, users).

Two inputs are understood: the raw Skytrax ``airline.csv`` (the reference use case)
and a CSV already in Personalize format, whose columns are checked and reordered.
Everything else is driven by the dataset specs, so the same code prepares any
dataset whose fields come from configuration.

The input is read in chunks, so memory stays flat as the file grows; what must
survive across chunks is kept small: a 64-bit hash per distinct event (duplicate
detection) and one small record per user (the users file and the name checks).

Rows that cannot become a valid interaction are dropped and counted per reason.
A rating threshold is not applied here: that is a training-time setting
(``solution.event_value_threshold``).
"""

from __future__ import annotations

import contextlib
import csv
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from airctx.config import DatasetSpec, FieldSpec
from airctx.data.files import TextFormat, atomic_write, missing_columns_message, sniff
from airctx.data.schema import (
    ID_FIELDS,
    MAX_CATEGORICAL_CHARS,
    MAX_ID_CHARS,
    check_spec,
)
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
    interactions_path: Path | None = None
    users_path: Path | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values."""
        out = asdict(self)
        for key in ("input_path", "interactions_path", "users_path"):
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

    @property
    def usecols(self) -> list[str]:
        return sorted(set(self.columns.values()) | set(self.user_metadata.values()))


class _UserState:
    """What is known about one user across chunks, kept to a few slots.

    Most users have one metadata value, held in slots; a dict is made only for
    users whose value changes.
    """

    __slots__ = ("active", "collapsed", "count", "name", "others", "ts", "value")

    def __init__(self, name: str | None) -> None:
        self.name = name
        self.active = False
        self.collapsed = False
        self.value: tuple[str, ...] | None = None
        self.count = 0
        self.ts = 0
        # other metadata values -> [rows seen, newest timestamp]
        self.others: dict[tuple[str, ...], list[int]] | None = None

    def record(self, value: tuple[str, ...], ts: int) -> None:
        if self.value is None or self.value == value:
            self.ts = max(self.ts, ts) if self.value is not None else ts
            self.value = value
            self.count += 1
            return
        if self.others is None:
            self.others = {}
        seen = self.others.setdefault(value, [0, ts])
        seen[0] += 1
        seen[1] = max(seen[1], ts)

    def tallies(self) -> dict[tuple[str, ...], tuple[int, int]]:
        """Each metadata value seen -> (rows, newest timestamp)."""
        out = {v: (c, t) for v, (c, t) in (self.others or {}).items()}
        if self.value is not None:
            out[self.value] = (self.count, self.ts)
        return out

    def choose(self, rule: str) -> tuple[str, ...] | None:
        if self.others is None:
            return self.value
        tallies = self.tallies()
        if rule == "latest":
            return max(tallies, key=lambda v: (tallies[v][1], tallies[v][0], v))
        return max(tallies, key=lambda v: (tallies[v][0], tallies[v][1], v))


class _Users:
    """Per-user state feeding the users file and the report's name checks."""

    def __init__(self, spec: DatasetSpec | None, report: PrepReport) -> None:
        self.spec = spec
        self.report = report
        self.meta = [f for f in spec.fields if f.name != "USER_ID"] if spec else []
        self.state: dict[str, _UserState] = {}
        # One tuple object per distinct metadata value, shared by all its users.
        self._shared: dict[tuple[str, ...], tuple[str, ...]] = {}

    def observe(
        self,
        user_ids: Iterable[str],
        names: Iterable[str | None],
        values: Iterable[tuple[str, ...] | None],
        stamps: Iterable[int],
        active: Iterable[bool],
    ) -> None:
        for uid, name, value, ts, is_active in zip(
            user_ids, names, values, stamps, active, strict=True
        ):
            state = self.state.get(uid)
            if state is None:
                state = self.state[uid] = _UserState(name)
            elif name is not None and state.name != name and not state.collapsed:
                state.collapsed = True
                self.report.collapsed_names += 1
                if len(self.report.collapsed_name_examples) < _EXAMPLES:
                    self.report.collapsed_name_examples.append(
                        f"{state.name!r} and {name!r} both become USER_ID {uid!r}"
                    )
            state.active = state.active or is_active
            if value is not None:
                state.record(self._shared.setdefault(value, value), ts)

    def write(self, spec: DatasetSpec, handle: TextIO, rule: str) -> None:
        """Write one row per user with written interactions, in spec column order."""
        columns = ["USER_ID", *(f.name for f in self.meta)]
        order = [columns.index(name) for name in spec.names]
        required = [f.name for f in self.meta if not f.nullable]
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(spec.names)
        dropped: Counter[str] = Counter(self.report.users_dropped)
        for uid in sorted(self.state):
            state = self.state[uid]
            if not state.active:
                continue
            if state.others is not None:
                self.report.residence_conflicts += 1
                if len(self.report.residence_conflict_examples) < _EXAMPLES:
                    seen = sorted(" / ".join(v) for v in state.tallies())
                    self.report.residence_conflict_examples.append(
                        f"{uid}: {', '.join(seen)}"
                    )
            value = state.choose(rule)
            if value is None:
                if required:
                    dropped[f"{required[0]}: missing"] += 1
                    continue
                value = tuple("" for _ in self.meta)
            row = (uid, *value)
            writer.writerow([row[i] for i in order])
            self.report.users_written += 1
        self.report.users_dropped = dict(dropped)


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
) -> PrepReport:
    """Write ``output_dir/interactions.csv`` (and ``users.csv``) from ``input_path``.

    ``input_format`` is ``skytrax`` (raw airline.csv), ``personalize`` (already in
    Personalize format, any column order) or ``auto`` (decided from the header).
    A users file is written when ``users`` is given and the input carries user
    metadata (Skytrax) or ``users_input`` names a Personalize-format users CSV.
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

    fmt = sniff(input_path)
    chosen = _choose_format(fmt.header, input_format, interactions, users)
    report = PrepReport(input_path, chosen, encoding=fmt.encoding)
    report.warnings.extend(fmt.warnings)
    source = _source(input_path, chosen, fmt, interactions, users, event_type, report)

    want_users = users is not None and (
        bool(source.user_metadata) or users_input is not None
    )
    tracker = _Users(users if want_users else None, report)
    interactions_path = output_dir / "interactions.csv"
    users_path = output_dir / "users.csv"
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(atomic_write(interactions_path))
        _write_interactions(
            input_path,
            fmt,
            source,
            interactions,
            tracker,
            handle,
            report,
            chunk_rows,
            progress,
        )
        if report.interactions_written == 0:
            reasons = ", ".join(f"{k} ({v})" for k, v in report.dropped.items())
            raise DataError(
                f"{input_path}: no interaction survived cleaning out of "
                f"{report.rows_read} rows"
                + (f"; dropped: {reasons}" if reasons else "")
            )
        if users is not None and users_input is not None:
            _read_users_input(users_input, users, tracker, report, chunk_rows)
        if tracker.spec is not None:
            users_handle = stack.enter_context(atomic_write(users_path))
            tracker.write(tracker.spec, users_handle, residence_rule)
            report.users_path = users_path
        report.interactions_path = interactions_path

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
                f"{path}: column(s) {', '.join(extra)} are not in the interactions "
                "schema and were left out"
            )

    needed = source.usecols
    if any(c not in fmt.header for c in needed):
        raise DataError(missing_columns_message(path, fmt.header, needed, what))
    return source


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
    return _Source(columns, constants, user_metadata, dates=True, squeeze_user=True)


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
        with reader:
            for chunk in reader:
                # All columns are parsed (not usecols) so that a row with extra
                # fields is reported instead of silently shifting columns.
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
    handle: TextIO,
    report: PrepReport,
    chunk_rows: int,
    progress: Callable[[int], None] | None,
) -> None:
    now = time.time()
    dropped: Counter[str] = Counter()
    per_context: Counter[str] = Counter()
    seen: set[int] = set()
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

        keep, out = _clean(raw, spec, stamps, now, dropped)
        keep &= ~_duplicates(out, keep, seen, dropped)
        written = out[keep]
        written.to_csv(handle, header=False, index=False, lineterminator="\n")
        report.interactions_written += len(written)
        if context is not None:
            per_context.update(written[context].astype(str))

        # Only a raw source carries per-user facts (names, metadata) in its rows.
        if source.squeeze_user or source.user_metadata:
            _observe_users(chunk, raw, stamps, keep, source, tracker)
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
) -> tuple[pd.Series, pd.DataFrame]:
    """Rows that satisfy every field rule, and the fields in spec order and types.

    Each dropped row is counted once, under the first rule it breaks (in field order).
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
            out[f.name] = _check_timestamp(stamps, missing, now, drop)
        elif f.type in ("long", "int", "float", "double"):
            out[f.name] = _check_number(f, values, missing, drop)
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


def _check_timestamp(
    stamps: pd.Series,
    missing: pd.Series,
    now: float,
    drop: Callable[[pd.Series, str], None],
) -> pd.Series:
    bad = stamps.isna() | ~np.isfinite(stamps)
    drop(~missing & bad, "TIMESTAMP: unparseable")
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
    out: pd.DataFrame, keep: pd.Series, seen: set[int], dropped: Counter[str]
) -> pd.Series:
    """Rows (among those kept) whose whole event was already written, in any chunk."""
    dup = pd.Series(False, index=out.index)
    kept = out[keep]
    if kept.empty:
        return dup
    hashes = pd.util.hash_pandas_object(kept, index=False).to_numpy()
    flags = np.zeros(len(hashes), dtype=bool)
    for i, h in enumerate(hashes.tolist()):
        if h in seen:
            flags[i] = True
        else:
            seen.add(h)
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
    names = (
        rows[SKYTRAX_COLUMNS["user"]].tolist()
        if source.squeeze_user
        else [None] * len(rows)
    )
    values: list[tuple[str, ...] | None]
    if source.user_metadata:
        meta = rows[list(source.user_metadata.values())]
        values = [_meta_value(row) for row in meta.itertuples(index=False, name=None)]
    else:
        values = [None] * len(rows)
    ts = stamps[usable].fillna(-1).astype("int64").tolist()
    tracker.observe(
        iter(uids[usable].tolist()),
        iter(names),
        iter(values),
        iter(ts),
        iter(keep[usable].tolist()),
    )


def _meta_value(row: tuple[Any, ...]) -> tuple[str, ...] | None:
    """Metadata values of one row; None when all are missing; too long -> missing."""
    cleaned = tuple(
        "" if v in MISSING_VALUES or len(v) > MAX_CATEGORICAL_CHARS else v for v in row
    )
    return None if all(v == "" for v in cleaned) else cleaned


def _read_users_input(
    path: Path,
    spec: DatasetSpec,
    tracker: _Users,
    report: PrepReport,
    chunk_rows: int,
) -> None:
    """Load a Personalize-format users CSV into the per-user state (later rows win)."""
    fmt = sniff(path)
    report.warnings.extend(fmt.warnings)
    if any(n not in fmt.header for n in spec.names):
        raise DataError(
            missing_columns_message(path, fmt.header, spec.names, "a users CSV")
        )
    meta = [n for n in spec.names if n != "USER_ID"]
    row_number = 0
    for chunk in _chunks(path, fmt, spec.names, chunk_rows):
        uids = chunk["USER_ID"]
        usable = ~uids.isin(MISSING_VALUES) & (uids.str.len() <= MAX_ID_CHARS)
        unusable = int((~usable).sum())
        if unusable:
            key = "USER_ID: missing or too long"
            report.users_dropped[key] = report.users_dropped.get(key, 0) + unusable
        rows = chunk[usable]
        order = list(range(row_number, row_number + len(rows)))
        row_number += len(chunk)
        values = [_meta_value(r) for r in rows[meta].itertuples(index=False, name=None)]
        tracker.observe(
            iter(rows["USER_ID"].tolist()),
            iter([None] * len(rows)),
            iter(values),
            iter(order),
            iter([True] * len(rows)),
        )
