"""File handling shared by preparation and validation: sniffing and atomic writes."""

from __future__ import annotations

import codecs
import contextlib
import csv
import difflib
import logging
import os
import secrets
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from airctx.errors import DataError

logger = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t", "|")
_UTF8_BOM = codecs.BOM_UTF8
_SNIFF_BLOCK = 1 << 20
# More unused columns than this (a raw export) make a list of them noise, not help.
_MAX_LEFTOVER_HINT = 5


@dataclass(frozen=True)
class TextFormat:
    """How a delimited text file is encoded and laid out."""

    encoding: str
    delimiter: str
    header: list[str]
    warnings: tuple[str, ...] = ()


def sniff(path: Path) -> TextFormat:
    """Encoding, delimiter and header of ``path``.

    Reads the file once in blocks (flat memory) to check it is UTF-8; a file that is
    not is read as Latin-1, which decodes any byte, and a warning says where the first
    non-UTF-8 byte is. Raises :class:`DataError` for a missing or empty file.
    """
    if not path.is_file():
        raise DataError(f"{path}: the file does not exist")
    encoding, warning = _detect_encoding(path)
    warnings: tuple[str, ...] = (warning,) if warning else ()

    with path.open(encoding=encoding, newline="") as handle:
        first_line = handle.readline()
    if not first_line.strip():
        raise DataError(f"{path}: the file is empty (no header line)")

    delimiter = max(DELIMITERS, key=first_line.count)
    if first_line.count(delimiter) == 0:
        delimiter = ","
    if delimiter != ",":
        warnings += (f"{path}: columns are separated by {delimiter!r}, not ','",)
    header = [h.strip() for h in next(csv.reader([first_line], delimiter=delimiter))]
    return TextFormat(encoding, delimiter, header, warnings)


# Signatures of files that are not text CSV at all: reading them as Latin-1 would
# only produce a confusing "missing columns" error.
_NOT_CSV = {
    codecs.BOM_UTF16_LE: "UTF-16 text; save it as UTF-8 CSV",
    codecs.BOM_UTF16_BE: "UTF-16 text; save it as UTF-8 CSV",
    b"\x1f\x8b": "gzip-compressed; decompress it first (gunzip)",
    b"PK\x03\x04": "a zip archive (or an Excel workbook); extract or export the CSV",
}


# How much of a file is looked at to tell binary data from text, as git and file(1)
# do, and the share of control characters above which it is not text.
_BINARY_CHECK = 8192
_MAX_CONTROL_SHARE = 0.05
# Control characters a text file may hold: tab, newline, form feed, carriage return
# and (at the end of old DOS files) Ctrl-Z.
_TEXT_CONTROLS = frozenset(b"\t\n\f\r\x1a")


def _detect_encoding(path: Path) -> tuple[str, str | None]:
    with path.open("rb") as handle:
        start = handle.read(_BINARY_CHECK)
    for signature, what in _NOT_CSV.items():
        if start.startswith(signature):
            raise DataError(f"{path}: the file is {what}")
    binary = _binary(start)
    if binary:
        raise DataError(
            f"{path}: not a text CSV file: its first {len(start):,} bytes hold "
            f"{binary}; give a UTF-8 CSV file"
        )
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0
    with path.open("rb") as handle:
        has_bom = handle.read(len(_UTF8_BOM)) == _UTF8_BOM
        if not has_bom:
            handle.seek(0)
        while True:
            block = handle.read(_SNIFF_BLOCK)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                line = lines_before + block[: max(exc.start, 0)].count(b"\n") + 1
                message = (
                    f"{path}: line {line}: not valid UTF-8, read as Latin-1 "
                    "(re-save the file as UTF-8 if names look wrong)"
                )
                logger.warning("%s", message)
                return "latin-1", message
            if not block:
                return ("utf-8-sig" if has_bom else "utf-8"), None
            lines_before += block.count(b"\n")


def _binary(head: bytes) -> str | None:
    """Why ``head``, the start of a file, is not text, or None when it may be."""
    if b"\0" in head:
        return "NUL bytes (binary data, or UTF-16 text, which has them too)"
    controls = sum(1 for b in head if (b < 32 or b == 127) and b not in _TEXT_CONTROLS)
    if head and controls / len(head) > _MAX_CONTROL_SHARE:
        return f"{controls:,} control characters (binary data)"
    return None


def shown(name: str) -> str:
    """A column name as printed: as it is, or escaped (as Python writes it) when it
    holds characters a terminal would not show as themselves, such as control
    characters."""
    return name if name.isprintable() else repr(name)


@dataclass(frozen=True)
class ShortRow:
    """A row with fewer fields than the header: where, and what it lacks."""

    line: int
    fields: int
    header: tuple[str, ...]

    @property
    def first_missing(self) -> str:
        """The first column the row has no field for."""
        return self.header[self.fields]

    def describe(self) -> str:
        """What is wrong and what to do, without the file and line."""
        return (
            f"{self.fields} field(s) where the header has {len(self.header)} (no "
            f"field for {self.first_missing}); check the delimiter and the quoting, "
            "or add the missing fields (an empty field still needs its delimiter)"
        )


def find_short_row(path: Path, fmt: TextFormat) -> ShortRow | None:
    """The first row with fewer fields than the header, if any.

    pandas fills a short row's missing fields with empty strings, so it reads as
    a row of empty values; callers scan only once they see a row ending empty.
    """
    expected = len(fmt.header)
    with path.open(encoding=fmt.encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=fmt.delimiter)
        try:
            next(reader, None)
            for row in reader:
                # A blank line is skipped by pandas too.
                if row and len(row) < expected:
                    return ShortRow(reader.line_num, len(row), tuple(fmt.header))
        except csv.Error:
            # The csv module's own limits (e.g. a huge field) end the check;
            # pandas has parsed the file already.
            return None
    return None


def short_row_message(path: Path, fmt: TextFormat) -> str | None:
    """A message naming the file, line and field count of the first short row."""
    short = find_short_row(path, fmt)
    if short is None:
        return None
    return f"{path}: line {short.line} has {short.describe()}"


def duplicate_columns_message(
    path: Path, header: Sequence[str], used: Collection[str]
) -> str | None:
    """A message naming the columns read that the header names more than once.

    pandas would silently read the first and rename the others (``USER_ID.1``), so
    half of what the file meant would be lost. Duplicates among columns that are not
    read (say two empty headers of a raw export) do no harm and are let through.
    """
    places: dict[str, list[int]] = {}
    for number, name in enumerate(header, start=1):
        if name in used:
            places.setdefault(name, []).append(number)
    repeated = {name: where for name, where in places.items() if len(where) > 1}
    if not repeated:
        return None
    detail = "; ".join(
        f"column {name!r} appears {len(where)} times (columns "
        + ", ".join(map(str, where))
        + ")"
        for name, where in repeated.items()
    )
    return (
        f"{path}: line 1: {detail}; keep one column of each name, or rename the "
        "others, so it is clear which one holds the data"
    )


def missing_columns_message(
    path: Path, header: Sequence[str], expected: Sequence[str], what: str
) -> str:
    """A message naming the missing columns, the expected ones and close matches.

    Only columns that no expected field already uses are offered as matches, each
    at most once: suggesting ``USER_ID`` for ``USER_RESIDENCE`` would be wrong.
    """
    missing = [name for name in expected if name not in header]
    unused = [h for h in header if h not in expected]
    lower = {h.lower(): h for h in unused}
    hints = []
    unmatched = []
    for name in missing:
        close = _close_match(name.lower(), list(lower))
        if close:
            hints.append(f"did you mean {lower.pop(close)!r} for {name!r}?")
        else:
            unmatched.append(name)
    # A few leftover columns are likely candidates under another name.
    leftover = list(lower.values())
    if unmatched and 0 < len(leftover) <= _MAX_LEFTOVER_HINT:
        hints.append(_rename_hint(leftover, unmatched))
    message = (
        f"{path}: line 1: missing column(s) {', '.join(map(repr, missing))} "
        f"for {what}; "
        f"expected {', '.join(expected)}; "
        f"found {', '.join(map(shown, header)) or 'nothing'}"
    )
    return message + (" — " + " ".join(hints) if hints else "")


def _rename_hint(leftover: Sequence[str], unmatched: Sequence[str]) -> str:
    """Which of the file's other columns to rename, worded for how many there are."""
    wanted = ", ".join(map(repr, unmatched))
    if len(leftover) == 1:
        where = f"the file's other column {leftover[0]!r} may hold {wanted}"
    elif len(unmatched) == 1:
        where = (
            f"one of the file's other columns ({', '.join(map(repr, leftover))}) "
            f"may hold {wanted}"
        )
    else:
        where = (
            f"the file's other columns ({', '.join(map(repr, leftover))}) may hold "
            f"{wanted}"
        )
    if len(unmatched) == 1 and len(leftover) == 1:
        return f"{where}: rename it to {unmatched[0]}"
    if len(unmatched) == 1:
        return f"{where}: rename that column to {unmatched[0]}"
    return f"{where}: rename each to the expected name it holds"


def _close_match(name: str, candidates: list[str]) -> str | None:
    """A candidate that is ``name`` misspelt, shortened or lengthened, if any.

    difflib alone is too generous with long underscored names (it pairs
    ``user_residence`` with ``sample_rows_evidence``), so a looser match must
    contain the other name.
    """
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    if close:
        return close[0]
    within = [c for c in candidates if len(c) >= 3 and (c in name or name in c)]
    return within[0] if within else None


def _new_file_beside(path: Path) -> tuple[int, str]:
    """A new, uniquely named temporary file in ``path``'s folder, open for writing.

    Unlike ``tempfile.mkstemp``, whose files are private (0600), it gets the
    permissions any new file gets under the process umask (0644 under umask 022),
    so the file it becomes can be read by whoever could read one written directly.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(name, flags, 0o666), str(name)
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary name beside {path}")


@contextlib.contextmanager
def atomic_write(path: Path, encoding: str = "utf-8") -> Iterator[TextIO]:
    """Write ``path`` through a temporary file beside it, replacing it only on success.

    On an exception the temporary file is removed and an existing ``path`` is left
    untouched, so a failed run never leaves half a file where a good one was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = _new_file_beside(path)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
