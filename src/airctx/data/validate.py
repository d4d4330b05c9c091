"""Check prepared CSVs against their schemas and Personalize's data minimums.

Runs before anything is uploaded or imported, so that a bad file costs seconds, not
a failed import job. Files are streamed in chunks; what must survive across chunks
(a 64-bit hash per distinct user or item, interactions per user) lives in a scratch
SQLite database, and at most :data:`MAX_PROBLEMS_PER_RULE` problems are kept per
rule (the rest are only counted), so a bad file of any size stays cheap.

Line numbers are 1-based file lines with the header as line 1, assuming one record
per line, which holds for Personalize-format CSVs (no multi-line fields).
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from airctx.config import DatasetSpec
from airctx.data.files import (
    duplicate_columns_message,
    find_short_row,
    shown,
    sniff,
)
from airctx.data.schema import ID_FIELDS, MAX_CATEGORICAL_CHARS, MAX_ID_CHARS
from airctx.data.scratch import HashSet, hashes, scratch_db
from airctx.errors import DataError

logger = logging.getLogger(__name__)

MIN_INTERACTIONS = 1000
MIN_USERS_WITH_TWO = 25
MAX_PROBLEMS_PER_RULE = 20
# Problems of one rule in one file beyond this many print as one summary line.
MAX_LISTED_PER_RULE = 3
MAX_SECONDS = 1e11
_INTEGER_RE = r"^[+-]?\d+$"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, and where."""

    file: str
    line: int | None
    column: str | None
    rule: str
    message: str
    severity: str = "error"  # "error" | "warning"
    value: str | None = None  # the offending value, for row problems

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        column = f" [{self.column}]" if self.column else ""
        return f"{where}{column}: {self.severity}: {self.message} ({self.rule})"


# How a run of many problems of one rule is summed up: (one, many) nouns and
# what is wrong with them.
_SUMMARIES: dict[str, tuple[str, str, str]] = {
    "unused_user": ("user", "users", "no interactions"),
    "unused_item": ("item", "items", "no interactions"),
    "duplicate_id": ("id", "ids", "appeared before in the file"),
    "required": ("row", "rows", "no value where one is required"),
    "type": ("value", "values", "the wrong type"),
    "timestamp_seconds": ("TIMESTAMP", "TIMESTAMPs", "milliseconds, not seconds"),
    "id_length": ("id", "ids", f"more than {MAX_ID_CHARS} characters"),
    "categorical_length": (
        "value",
        "values",
        f"more than {MAX_CATEGORICAL_CHARS} characters",
    ),
}


@dataclass
class ValidationSummary:
    """Counts that tell whether the data can train a model."""

    rows: dict[str, int] = field(default_factory=dict)
    users: int = 0
    items: int = 0
    users_with_2plus: int = 0
    interactions_after_filters: int = 0
    events_per_context: dict[str, int] = field(default_factory=dict)


@dataclass
class ValidationReport:
    """Every problem found (capped per rule), their full counts and the summary."""

    problems: list[Problem] = field(default_factory=list)
    problem_counts: dict[str, int] = field(default_factory=dict)
    error_count: int = 0
    warning_count: int = 0
    summary: ValidationSummary = field(default_factory=ValidationSummary)
    # Checks not made, each with the reason (a file they depend on was unreadable).
    skipped: list[str] = field(default_factory=list)
    # Problems per (file, severity, rule), kept or not, for the summed-up lines.
    counts_by_file: dict[tuple[str, str, str], int] = field(
        default_factory=dict, repr=False
    )

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def add(self, problem: Problem) -> None:
        """Record ``problem``; beyond the per-rule cap it is only counted."""
        count = self.problem_counts.get(f"{problem.severity}:{problem.rule}", 0)
        self.count(problem.file, problem.severity, problem.rule, 1)
        if count < MAX_PROBLEMS_PER_RULE:
            self.problems.append(problem)

    def count(self, file: str, severity: str, rule: str, n: int) -> None:
        """Count ``n`` problems of a rule in a file (kept or only counted)."""
        key = f"{severity}:{rule}"
        self.problem_counts[key] = self.problem_counts.get(key, 0) + n
        where = (file, severity, rule)
        self.counts_by_file[where] = self.counts_by_file.get(where, 0) + n
        if severity == "error":
            self.error_count += n
        else:
            self.warning_count += n

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values."""
        return {
            "ok": self.ok,
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "problem_counts": dict(self.problem_counts),
            "problems": [asdict(p) for p in self.problems],
            "skipped": list(self.skipped),
            "summary": asdict(self.summary),
        }

    def problem_lines(self, severity: str | None = None) -> list[str]:
        """One line per problem, errors first, else in the order found, except
        that a rule with more than :data:`MAX_LISTED_PER_RULE` problems in one file
        is summed up in one line with a few examples (``1,366 users have no
        interactions, e.g. ...``)."""
        groups: dict[tuple[str, str, str], list[Problem]] = {}
        ordered = sorted(self.problems, key=lambda p: p.severity != "error")
        for p in ordered:
            if severity is None or p.severity == severity:
                groups.setdefault((p.file, p.severity, p.rule), []).append(p)
        lines: list[str] = []
        for (file, sev, rule), found in groups.items():
            total = self.counts_by_file.get((file, sev, rule), len(found))
            if total <= MAX_LISTED_PER_RULE:
                lines.extend(str(p) for p in found)
            else:
                lines.append(_summary_line(file, sev, rule, total, found))
        return lines

    def text(self) -> str:
        """The report for people: verdict, problems (runs summed up), what was
        skipped and why, and the counts."""
        verdict = "safe to import" if self.ok else "NOT safe to import"
        lines = [
            f"{verdict}: {self.error_count:,} error(s), "
            f"{self.warning_count:,} warning(s)"
        ]
        lines.extend(f"  {line}" for line in self.problem_lines())
        lines.extend(f"  skipped: {reason}" for reason in self.skipped)
        s = self.summary
        rows = ", ".join(f"{k.lower()} {v:,}" for k, v in s.rows.items()) or "none"
        lines.append(f"rows read: {rows}")
        lines.append(
            f"interactions: {s.users:,} distinct users, {s.items:,} distinct items, "
            f"{s.users_with_2plus:,} users with 2 or more, "
            f"{s.interactions_after_filters:,} left after the training filters"
        )
        if s.events_per_context:
            lines.append(
                "events per context: "
                + ", ".join(f"{k} {v:,}" for k, v in s.events_per_context.items())
            )
        return "\n".join(lines)


def _summary_line(
    file: str, severity: str, rule: str, total: int, found: list[Problem]
) -> str:
    """``file: warning: 1,366 users have no interactions, e.g. 'A' (line 2), ...``"""
    examples = found[:MAX_LISTED_PER_RULE]
    columns = {p.column for p in found if p.column}
    column = f" [{columns.pop()}]" if len(columns) == 1 else ""
    summary = _SUMMARIES.get(rule)
    if summary is not None and all(p.value is not None for p in examples):
        one, many, wrong = summary
        verb = "has" if total == 1 else "have"
        noun = one if total == 1 else many
        shown = ", ".join(f"{p.value!r} (line {p.line})" for p in examples)
        text = f"{total:,} {noun} {verb} {wrong}, e.g. {shown}"
    else:
        shown = "; ".join(
            (f"line {p.line}: " if p.line is not None else "") + p.message
            for p in examples
        )
        text = f"{total:,} problems, e.g. {shown}"
    return f"{file}{column}: {severity}: {text} ({rule})"


class _Checker:
    """Row checks of one file, adding problems to the report."""

    def __init__(self, path: Path, report: ValidationReport) -> None:
        self.path = path
        self.name = str(path)
        self.report = report
        # False once the file could not be read to the end: what was counted of
        # it is partial, so checks that depend on all of it are skipped.
        self.parsed = True

    def problem(
        self,
        rule: str,
        message: str,
        *,
        line: int | None = None,
        column: str | None = None,
        severity: str = "error",
    ) -> None:
        self.report.add(Problem(self.name, line, column, rule, message, severity))

    def rows(
        self,
        mask: pd.Series,
        values: pd.Series,
        rule: str,
        column: str | None,
        describe: Callable[[str], str],
        severity: str = "error",
    ) -> None:
        """Add one problem per flagged row (the index holds file line numbers).

        Messages are built only for the problems kept under the per-rule cap.
        """
        flagged = int(mask.sum())
        if not flagged:
            return
        key = f"{severity}:{rule}"
        room = max(MAX_PROBLEMS_PER_RULE - self.report.problem_counts.get(key, 0), 0)
        shown = mask[mask].index[:room]
        for line in shown.tolist():
            value = str(values.at[line])
            self.report.add(
                Problem(self.name, line, column, rule, describe(value), severity, value)
            )
        rest = flagged - len(shown)
        if rest:
            self.report.count(self.name, severity, rule, rest)


def validate_files(
    files: Mapping[str, Path],
    specs: Mapping[str, DatasetSpec],
    *,
    event_type: str | None,
    event_value_threshold: float | None,
    chunk_rows: int = 50_000,
    minimums: bool = True,
) -> ValidationReport:
    """Validate the prepared CSVs (keyed by dataset kind) against their specs.

    ``event_type`` and ``event_value_threshold`` are the training filters: the
    minimum interaction counts apply to what is left after them. ``minimums`` is
    off for data appended to a dataset (an incremental import), where Personalize's
    minimums apply to the dataset's total, not to the file.
    """
    report = ValidationReport()
    if "INTERACTIONS" not in files:
        report.add(
            Problem("-", None, None, "missing_file", "no interactions file was given")
        )
    unknown = sorted(set(files) - {"INTERACTIONS", "USERS", "ITEMS"})
    for kind in unknown:
        report.add(
            Problem(
                str(files[kind]),
                None,
                None,
                "unknown_kind",
                f"{kind} is not a dataset kind",
            )
        )

    with scratch_db(_scratch_dir(files.values()), "validate") as db:
        _validate_all(
            files,
            specs,
            report,
            event_type,
            event_value_threshold,
            chunk_rows,
            db,
            minimums,
        )
    logger.info(
        "validated %d file(s): %d error(s), %d warning(s)",
        len(files),
        report.error_count,
        report.warning_count,
    )
    return report


def _scratch_dir(paths: Iterable[Path]) -> Path:
    """Beside the files being checked when writable (disk, not tmpfs), else temp."""
    for path in paths:
        if path.parent.is_dir() and os.access(path.parent, os.W_OK):
            return path.parent
    return Path(tempfile.gettempdir())


def _validate_all(
    files: Mapping[str, Path],
    specs: Mapping[str, DatasetSpec],
    report: ValidationReport,
    event_type: str | None,
    event_value_threshold: float | None,
    chunk_rows: int,
    db: sqlite3.Connection,
    minimums: bool,
) -> None:
    user_hashes = HashSet(db, "users")
    item_hashes = HashSet(db, "items")
    interactions_read = False
    if "INTERACTIONS" in files:
        spec = _spec_for("INTERACTIONS", files, specs, report)
        if spec is not None:
            interactions_read = _validate_interactions(
                files["INTERACTIONS"],
                spec,
                report,
                event_type,
                event_value_threshold,
                chunk_rows,
                user_hashes,
                item_hashes,
                db,
                minimums,
            )
    for kind, id_field, interacting in (
        ("USERS", "USER_ID", user_hashes),
        ("ITEMS", "ITEM_ID", item_hashes),
    ):
        if kind in files:
            spec = _spec_for(kind, files, specs, report)
            check_usage = "INTERACTIONS" in files and interactions_read
            if spec is not None and "INTERACTIONS" in files and not check_usage:
                noun = kind.lower()
                report.skipped.append(
                    f"{noun} without interactions ({files[kind]}): "
                    f"{files['INTERACTIONS']} could not be read to the end, so which "
                    f"{noun} have interactions is not known"
                )
            if spec is not None:
                _validate_entities(
                    files[kind],
                    spec,
                    report,
                    id_field,
                    interacting,
                    chunk_rows,
                    HashSet(db, f"seen_{kind.lower()}"),
                    check_usage=check_usage,
                )


def _spec_for(
    kind: str,
    files: Mapping[str, Path],
    specs: Mapping[str, DatasetSpec],
    report: ValidationReport,
) -> DatasetSpec | None:
    spec = specs.get(kind)
    if spec is None:
        report.add(
            Problem(
                str(files[kind]),
                None,
                None,
                "no_schema",
                f"no {kind.lower()} schema is configured for this file",
            )
        )
    return spec


def _validate_interactions(
    path: Path,
    spec: DatasetSpec,
    report: ValidationReport,
    event_type: str | None,
    threshold: float | None,
    chunk_rows: int,
    user_hashes: HashSet,
    item_hashes: HashSet,
    db: sqlite3.Connection,
    minimums: bool = True,
) -> bool:
    """Check the interactions file; False when it could not be read to the end."""
    check = _Checker(path, report)
    if event_type is not None and spec.get("EVENT_TYPE") is None:
        check.problem(
            "filter",
            f"event type {event_type!r} is set but the schema has "
            "no EVENT_TYPE field; no event is filtered",
            severity="warning",
        )
        event_type = None
    if threshold is not None and spec.get("EVENT_VALUE") is None:
        check.problem(
            "filter",
            "an event value threshold is set but the schema has no "
            "EVENT_VALUE field; no event is filtered",
            severity="warning",
        )
        threshold = None

    context = spec.context_fields[0] if spec.context_fields else None
    # Interactions per user after the training filters.
    db.execute("CREATE TABLE per_user (h INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    per_context: Counter[str] = Counter()
    summary = report.summary
    rows = 0
    for chunk, valid in _checked_chunks(path, spec, check, chunk_rows):
        rows += len(chunk)
        good = chunk[valid]
        user_hashes.add(hashes(good["USER_ID"]))
        item_hashes.add(hashes(good["ITEM_ID"]))
        if context is not None:
            per_context.update(good[context])

        kept = pd.Series(True, index=good.index)
        if event_type is not None:
            kept &= good["EVENT_TYPE"] == event_type
        if threshold is not None:
            kept &= pd.to_numeric(good["EVENT_VALUE"], errors="coerce") >= threshold
        summary.interactions_after_filters += int(kept.sum())
        counts = pd.Series(hashes(good.loc[kept, "USER_ID"])).value_counts()
        db.executemany(
            "INSERT INTO per_user VALUES (?, ?) "
            "ON CONFLICT (h) DO UPDATE SET n = n + excluded.n",
            zip(counts.index.tolist(), counts.tolist(), strict=True),
        )

    summary.rows["INTERACTIONS"] = rows
    summary.users = len(user_hashes)
    summary.items = len(item_hashes)
    summary.users_with_2plus = db.execute(
        "SELECT count(*) FROM per_user WHERE n >= 2"
    ).fetchone()[0]
    summary.events_per_context = dict(per_context.most_common())

    filters = _filters_text(event_type, threshold)
    if not check.parsed:
        if minimums:
            report.skipped.append(
                "Personalize's minimums (min_interactions, min_users): "
                f"{path} could not be read to the end, so its counts are partial"
            )
        return False
    if not minimums:
        return True
    if summary.interactions_after_filters < MIN_INTERACTIONS:
        check.problem(
            "min_interactions",
            f"{summary.interactions_after_filters} valid interactions{filters}; "
            f"Personalize needs at least {MIN_INTERACTIONS}",
        )
    if summary.users_with_2plus < MIN_USERS_WITH_TWO:
        check.problem(
            "min_users",
            f"{summary.users_with_2plus} users have 2 or more valid interactions"
            f"{filters}; Personalize needs at least {MIN_USERS_WITH_TWO}",
        )
    return True


def _filters_text(event_type: str | None, threshold: float | None) -> str:
    parts = []
    if event_type is not None:
        parts.append(f"event type {event_type!r}")
    if threshold is not None:
        parts.append(f"event value >= {threshold:g}")
    return f" after filtering on {' and '.join(parts)}" if parts else ""


def _validate_entities(
    path: Path,
    spec: DatasetSpec,
    report: ValidationReport,
    id_field: str,
    interacting: HashSet,
    chunk_rows: int,
    seen: HashSet,
    *,
    check_usage: bool,
) -> None:
    check = _Checker(path, report)
    rows = 0
    noun = "user" if id_field == "USER_ID" else "item"
    for chunk, valid in _checked_chunks(path, spec, check, chunk_rows):
        rows += len(chunk)
        ids = chunk.loc[valid, id_field]
        ids_hashed = hashes(ids)
        duplicate = seen.add(ids_hashed) if len(ids) else np.zeros(0, dtype=bool)
        dup_mask = pd.Series(False, index=chunk.index)
        dup_mask[ids.index] = duplicate
        check.rows(
            dup_mask,
            chunk[id_field],
            "duplicate_id",
            id_field,
            lambda v: f"{id_field} {v!r} appears more than once",
            "warning",
        )
        if check_usage:
            unused = pd.Series(False, index=chunk.index)
            unused[ids.index] = ~interacting.contains(ids_hashed)
            check.rows(
                unused,
                chunk[id_field],
                f"unused_{noun}",
                id_field,
                lambda v: f"{noun} {v!r} has no interactions",
                "warning",
            )
    report.summary.rows[spec.kind] = rows


def _checked_chunks(
    path: Path, spec: DatasetSpec, check: _Checker, chunk_rows: int
) -> Iterator[tuple[pd.DataFrame, pd.Series]]:
    """Chunks of the file, indexed by file line, and the rows without errors.

    Stops (yielding nothing more, with ``check.parsed`` False) when the file cannot
    be read, its header does not hold every schema field once, or a row cannot be
    parsed; the problem is in the report.
    """
    check.parsed = False
    try:
        fmt = sniff(path)
    except DataError as exc:
        check.problem("file", str(exc))
        return
    for warning in fmt.warnings:
        check.problem("encoding", warning, severity="warning")
    if fmt.delimiter != ",":
        check.problem(
            "delimiter",
            f"columns are separated by {fmt.delimiter!r}; "
            "Personalize reads comma-separated files",
            line=1,
        )
        return
    repeated = duplicate_columns_message(path, fmt.header, spec.names)
    if repeated is not None:
        name = next(n for n in spec.names if fmt.header.count(n) > 1)
        check.problem("header", repeated, line=1, column=name)
        return
    if fmt.header != spec.names:
        missing = [n for n in spec.names if n not in fmt.header]
        detail = (
            f"missing {', '.join(missing)}"
            if missing
            else "same columns in a different order"
        )
        check.problem(
            "header",
            f"header is {','.join(map(shown, fmt.header))}; the "
            f"{spec.kind.lower()} schema "
            f"expects {','.join(spec.names)} in this order ({detail})",
            line=1,
        )
        if missing:
            return

    first_line = 2
    try:
        reader = pd.read_csv(
            path,
            encoding=fmt.encoding,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            chunksize=chunk_rows,
        )
        scan_for_short_rows = len(fmt.header) > 1
        with reader:
            for chunk in reader:
                # A short row would read as empty values (see find_short_row).
                if scan_for_short_rows and (chunk.iloc[:, -1] == "").any():
                    short = find_short_row(path, fmt)
                    if short is not None:
                        check.problem(
                            "csv",
                            f"row has {short.describe()}",
                            line=short.line,
                            column=short.first_missing,
                        )
                        return
                    scan_for_short_rows = False
                chunk.index = pd.RangeIndex(first_line, first_line + len(chunk))
                first_line += len(chunk)
                yield chunk, _check_rows(chunk, spec, check)
    except pd.errors.ParserError as exc:
        message, line = _parser_problem(exc, len(fmt.header))
        check.problem("csv", message, line=line)
        return
    check.parsed = True


def _parser_problem(exc: Exception, expected: int) -> tuple[str, int | None]:
    """The message and file line of a pandas parse error."""
    text = str(exc).strip()
    more = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if more:
        return (
            f"row has {more.group(3)} fields where the header has {expected}; "
            "quote a value that holds a comma, or remove the extra fields",
            int(more.group(2)),
        )
    # "EOF inside string starting at row N" counts rows from 0 at the header.
    row = re.search(r"starting at row (\d+)", text)
    if row:
        return (
            f"a quoted value opened on this line is never closed ({text})",
            int(row.group(1)) + 1,
        )
    line = re.search(r"line (\d+)", text)
    return f"malformed CSV: {text}", int(line.group(1)) if line else None


def _check_rows(chunk: pd.DataFrame, spec: DatasetSpec, check: _Checker) -> pd.Series:
    """Add a problem per broken rule and return the rows that broke none."""
    valid = pd.Series(True, index=chunk.index)

    def flag(
        mask: pd.Series, name: str, rule: str, describe: Callable[[str], str]
    ) -> None:
        nonlocal valid
        check.rows(mask, chunk[name], rule, name, describe)
        valid &= ~mask

    for f in spec.fields:
        values = chunk[f.name]
        present = values.str.strip() != ""
        if not f.nullable:
            flag(~present, f.name, "required", lambda _v: "value is required")
        if f.type in ("long", "int"):
            bad = present & ~values.str.strip().str.match(_INTEGER_RE)
            describe = _not_a(f.type)
            if f.name == "TIMESTAMP":
                describe = _not_epoch_seconds
            flag(bad, f.name, "type", describe)
        elif f.type in ("float", "double"):
            numbers = pd.to_numeric(values.where(present, "0"), errors="coerce")
            bad = present & ~np.isfinite(numbers.astype("float64"))
            flag(bad, f.name, "type", _not_a(f.type))
        elif f.type == "boolean":
            bad = present & ~values.str.strip().str.lower().isin(("true", "false"))
            flag(bad, f.name, "type", lambda v: f"{v!r} is not true/false")

        if f.name == "TIMESTAMP" and spec.kind == "INTERACTIONS":
            stamps = pd.to_numeric(values.where(present, "0"), errors="coerce")
            flag(
                stamps > MAX_SECONDS,
                f.name,
                "timestamp_seconds",
                lambda v: (
                    f"{v} looks like milliseconds; TIMESTAMP must be epoch seconds"
                ),
            )
        if f.name in ID_FIELDS and f.type == "string":
            flag(
                values.str.len() > MAX_ID_CHARS,
                f.name,
                "id_length",
                lambda v: f"id of {len(v)} characters; the limit is {MAX_ID_CHARS}",
            )
        elif f.categorical:
            flag(
                values.str.len() > MAX_CATEGORICAL_CHARS,
                f.name,
                "categorical_length",
                lambda v: (
                    f"categorical value of {len(v)} characters; the limit is "
                    f"{MAX_CATEGORICAL_CHARS}"
                ),
            )
    return valid


def _not_epoch_seconds(value: str) -> str:
    return (
        f"{value!r} is not a whole number; TIMESTAMP must be unix epoch seconds, "
        "e.g. 1426550400 for 2015-03-17"
    )


def _not_a(type_name: str) -> Callable[[str], str]:
    def describe(value: str) -> str:
        return f"{value!r} is not a {type_name}"

    return describe
