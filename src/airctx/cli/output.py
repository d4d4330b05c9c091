"""The one way results and progress reach the user.

Results go to stdout, as a table or as JSON (``--output json``, for CI jobs and
scripts). Progress lines go to stderr so that ``--output json`` stays parseable, and
are dropped with ``--quiet``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import click


@dataclass
class Output:
    format: str = "table"
    quiet: bool = False
    out: TextIO | None = None
    err: TextIO | None = None

    def progress(self, message: str) -> None:
        if not self.quiet:
            click.echo(message, file=self.err or sys.stderr)

    def state(self, kind: str, arn: str, status: str, elapsed: float) -> None:
        self.progress(f"  {elapsed:7.1f}s  {kind.replace('_', ' ')} {status}: {arn}")

    def result(
        self,
        data: Any,
        table: Sequence[Sequence[Any]] | None = None,
        headers: Sequence[str] | None = None,
        text: str | None = None,
    ) -> None:
        """Print a result: JSON when asked, else the table or text given."""
        stream = self.out or sys.stdout
        if self.format == "json":
            click.echo(
                json.dumps(data, indent=2, default=str, sort_keys=False), file=stream
            )
        elif table is not None:
            click.echo(render_table(table, headers or ()), file=stream)
        elif text is not None:
            click.echo(text, file=stream)
        else:
            click.echo(render_mapping(data), file=stream)


def render_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Rows under their headers in aligned columns; a cell of None is left blank."""
    cells = [["" if c is None else str(c) for c in row] for row in rows]
    head = [str(h) for h in headers]
    widths = [len(h) for h in head] or [0] * (len(cells[0]) if cells else 0)
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)] + [
            len(c) for c in row[len(widths) :]
        ]
    lines = []
    if head:
        lines.append(
            "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=False)).rstrip()
        )
        lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
        )
    return "\n".join(lines)


def render_mapping(data: Any, indent: int = 0) -> str:
    """A result as indented ``key: value`` lines, the text form of its JSON.

    A key whose value is None (JSON's null: not known, or not applicable) is left
    out rather than shown as Python's ``None``; ``--output json`` keeps it.
    """
    pad = "  " * indent
    if isinstance(data, dict):
        lines = []
        for key, value in data.items():
            if value is None:
                continue
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if v is not None}
            if isinstance(value, dict | list) and value:
                lines.append(f"{pad}{key}:")
                lines.append(render_mapping(value, indent + 1))
            else:
                lines.append(f"{pad}{key}: {value}")
        return "\n".join(lines)
    if isinstance(data, list):
        return "\n".join(
            f"{pad}- {render_mapping(v, indent + 1).strip()}" for v in data
        )
    return f"{pad}{'-' if data is None else data}"
