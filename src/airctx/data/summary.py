"""A small summary of the prepared interactions, written by ``prep-data``.

Runtime commands read it to flag input the model cannot use (an unknown item, an
event value outside the trained range) without reading the prepared CSV. It has
no pandas dependency, so a query stays quick to start. It also records which
project (and input file) the data was prepared for: projects that share one
configuration share ``data.output_dir``, and ``import`` must not take another
project's data.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airctx.data.files import atomic_write

logger = logging.getLogger(__name__)

FILE_NAME = "interactions-summary.json"
# Past this many items the list would outweigh the point of a summary; the
# unknown-item check is then skipped.
MAX_ITEMS = 100_000


@dataclass(frozen=True)
class PreparedSummary:
    """What the prepared interactions hold: value range, event types and items,
    and the project and input file they were prepared for."""

    event_value_range: tuple[float, float] | None
    event_types: tuple[str, ...]
    items: frozenset[str] | None  # None when there were too many to list
    # None in summaries written before the project was recorded.
    project: str | None = None
    input_file: str | None = None

    def prepared_for_another(self, project: str) -> bool:
        """Whether this data was recorded as prepared for a project other than
        ``project`` (unrecorded data is taken to be the project's own)."""
        return self.project is not None and self.project != project

    def save(self, path: Path) -> None:
        document: dict[str, Any] = {
            "event_value_range": (
                list(self.event_value_range) if self.event_value_range else None
            ),
            "event_types": list(self.event_types),
            "items": sorted(self.items) if self.items is not None else None,
            "project": self.project,
            "input_file": self.input_file,
        }
        with atomic_write(path) as handle:
            handle.write(json.dumps(document, indent=1))

    @classmethod
    def load(cls, path: Path) -> PreparedSummary | None:
        """The summary at ``path``, or None when there is none or it is unreadable."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            low_high = document.get("event_value_range")
            items = document.get("items")
            project, input_file = document.get("project"), document.get("input_file")
            return cls(
                event_value_range=(
                    (float(low_high[0]), float(low_high[1])) if low_high else None
                ),
                event_types=tuple(str(t) for t in document.get("event_types") or ()),
                items=frozenset(str(i) for i in items) if items is not None else None,
                project=str(project) if project is not None else None,
                input_file=str(input_file) if input_file is not None else None,
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, AttributeError, IndexError) as exc:
            logger.warning("ignoring %s: %s", path, exc)
            return None


def summary_path(output_dir: Path) -> Path:
    """Where ``prep-data`` writes the summary of the interactions it prepared."""
    return output_dir / FILE_NAME
