"""prep-data: the configured input file becomes the Personalize CSVs."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

from airctx.config import Settings
from airctx.data.files import atomic_write
from airctx.data.prep import PrepReport, prepare
from airctx.errors import DataError, OptionError


def prep_data(
    settings: Settings,
    input_path: Path | None = None,
    input_format: str | None = None,
    progress: Callable[[str], None] | None = None,
    users_input: Path | None = None,
) -> PrepReport:
    """Read the input (default: ``data.input``) and write ``data.output_dir``.

    ``input_path`` and ``users_input`` come from the command line, so a relative
    one is relative to the current folder; the configured ``data.input`` and
    ``data.users_input`` are relative to the data folder.
    """
    source = _existing(settings, input_path, "--input") or settings.data.input_path()
    if not source.is_file():
        what = not_regular(source)
        if what:
            raise DataError(
                f"input file {source.absolute()} is not a regular file ({what}); "
                "set data.input in the configuration to a CSV file"
            )
        raise DataError(
            f"input file {source.absolute()} does not exist; set data.data_dir in "
            "the configuration, AIRCTX_DATA_DIR or --data-dir to the folder holding "
            f"{settings.data.input}"
        )
    users_input = _existing(settings, users_input, "--users-input")

    def rows_read(count: int) -> None:
        if progress is not None:
            progress(f"  {count:,} rows read")

    report = prepare(
        source,
        interactions=settings.interactions,
        users=settings.datasets.get("USERS"),
        output_dir=settings.data.output_dir,
        input_format=input_format or settings.data.input_format,
        event_type=settings.solution.event_type or "RATING",
        residence_rule=settings.data.residence_rule,
        chunk_rows=settings.data.chunk_rows,
        progress=rows_read,
        users_input=users_input or settings.data.users_input_path(),
        project=settings.project,
    )
    _record_context_values(settings, report)
    if progress is not None:
        reasons = ", ".join(f"{k} ({v:,})" for k, v in report.dropped.items())
        users_from = (
            f" (from {report.users_input})" if report.users_input is not None else ""
        )
        progress(
            f"  {report.interactions_written:,} interactions and "
            f"{report.users_written:,} users{users_from} written"
            + (f"; dropped: {reasons}" if reasons else "; nothing dropped")
        )
    return report


def _existing(settings: Settings, given: Path | None, option: str) -> Path | None:
    """``given`` (a command-line path) when it exists; else a DataError saying where
    it was looked for, and where the data folder would have it."""
    if given is None or given.is_file():
        return given
    what = not_regular(given)
    if what:
        raise OptionError(
            f"{option} {given}: not a regular file ({what}); give a CSV file"
        )
    message = f"{option} {given}: no such file at {given.absolute()}"
    data_dir = settings.data.data_dir
    if not given.is_absolute() and data_dir is not None:
        message += (
            f" (a relative {option} is taken from the current folder, not from the "
            f"data folder {data_dir} set by data.data_dir, AIRCTX_DATA_DIR or "
            "--data-dir)"
        )
        if (data_dir / given).is_file():
            message += f"; did you mean {option} {data_dir / given}?"
    raise OptionError(message)


def not_regular(path: Path) -> str | None:
    """What ``path`` is when it exists but is not a regular file, else None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    kinds = (
        (stat.S_ISDIR, "it is a folder"),
        (stat.S_ISCHR, "it is a device"),
        (stat.S_ISBLK, "it is a device"),
        (stat.S_ISFIFO, "it is a pipe, which can be read only once"),
        (stat.S_ISSOCK, "it is a socket"),
    )
    return next((what for test, what in kinds if test(mode)), None)


def _record_context_values(settings: Settings, report: PrepReport) -> None:
    """Keep the context values seen, so queries can flag a value the model never saw."""
    fields = settings.interactions.context_fields
    if not fields:
        return
    document = {fields[0]: sorted(report.events_per_context)}
    with atomic_write(settings.context_values_path) as fh:
        fh.write(json.dumps(document, indent=2))
