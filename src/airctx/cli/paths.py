"""File-system errors in plain words, naming the setting that chose the folder.

A folder airctx must create (the local state, the prepared data) can be blocked by a
file where a parent folder should be, or sit where nothing may be created. The
operating system's message names only the deepest path; these functions say which
path is in the way and which setting to change.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Place:
    """A folder chosen by a setting: what it is for, where, and what chose it."""

    what: str  # "the local state folder"
    path: Path
    chosen_by: str  # "--state-dir", "AIRCTX_STATE_DIR" or "state_dir in /p/x.yaml"


def blocking_file(path: Path) -> Path | None:
    """The nearest of ``path`` and its parents that exists and is not a folder.

    None when the nearest existing one is a folder: then nothing is in the way
    (though the folder may still refuse to be written in).
    """
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def not_a_folder(path: Path) -> str:
    """Words for ``path``, which exists and is not a folder, standing in the way."""
    if path.is_file():
        return f"{path} is a file, not a folder"
    return f"{path} is not a folder"


def reason(exc: OSError) -> str:
    """What went wrong: the file in the way, else the system's message."""
    name = exc.filename
    if exc.errno in (errno.ENOTDIR, errno.EEXIST) and isinstance(name, str):
        blocker = blocking_file(Path(name))
        if blocker is not None:
            return not_a_folder(blocker)
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def describe(exc: OSError, places: Sequence[Place] = ()) -> str:
    """The message for ``exc``: the path and the reason and, when the path lies in a
    folder a setting chose, that setting and what to do."""
    name = exc.filename if isinstance(exc.filename, str) else None
    why = reason(exc)
    place = _place_of(Path(name), places) if name else None
    if place is None:
        return f"{name}: {why}" if name else why
    if Path(name or "") != place.path and not why.endswith("folder"):
        why = f"{name}: {why}"
    return (
        f"cannot use {place.what} {place.path} (from {place.chosen_by}): {why}. "
        f"Point {place.chosen_by} at a folder airctx can create and write in"
    )


def _place_of(path: Path, places: Sequence[Place]) -> Place | None:
    for place in places:
        if path == place.path or place.path in path.parents:
            return place
    return None
