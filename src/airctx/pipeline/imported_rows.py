"""What rows each dataset already holds, so an INCREMENTAL import sends only new ones.

Personalize appends every row of an INCREMENTAL import, duplicates included, so
importing the whole prepared file again would hold each earlier row twice. For each
dataset the state directory keeps a 64-bit hash of every data row imported into it,
and the import job those rows were last brought up to date by. A job's rows join the
record only once the job is ACTIVE: until then they wait as "pending" next to it,
which also covers imports started with ``--no-wait``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from airctx.pipeline.project import Project
from airctx.pipeline.waiter import IN_FLIGHT

log = logging.getLogger(__name__)

Hashes = npt.NDArray[np.uint64]
CHUNK_ROWS = 100_000


def row_hash(fields: list[str]) -> int:
    """A stable hash of one CSV row; quoting and line endings do not change it."""
    text = "\x1f".join(f.strip() for f in fields).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def _chunks(path: Path) -> Iterator[tuple[list[list[str]], Hashes]]:
    """The data rows of ``path`` with their hashes, a chunk at a time."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        rows: list[list[str]] = []
        for row in reader:
            if not row:
                continue
            rows.append(row)
            if len(rows) == CHUNK_ROWS:
                yield rows, _hashes(rows)
                rows = []
        if rows:
            yield rows, _hashes(rows)


def _hashes(rows: list[list[str]]) -> Hashes:
    return np.fromiter((row_hash(r) for r in rows), dtype=np.uint64, count=len(rows))


def file_hashes(path: Path) -> Hashes:
    """The sorted, distinct hashes of the data rows of a CSV file."""
    parts = [h for _rows, h in _chunks(path)]
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, np.uint64)


@dataclass(frozen=True)
class Delta:
    path: Path
    new: int
    known: int
    hashes: Hashes


@dataclass(frozen=True)
class RowRecord:
    """The rows one dataset holds, kept under the project's state directory."""

    root: Path

    @classmethod
    def for_dataset(cls, project: Project, kind: str, dataset_arn: str) -> RowRecord:
        settings = project.settings
        key = hashlib.sha256(dataset_arn.encode("utf-8")).hexdigest()[:12]
        name = f"{settings.project}-{kind.lower()}-{key}"
        return cls(settings.state_dir / "imported-rows" / name)

    @property
    def delta_path(self) -> Path:
        return self.root / "new-rows.csv"

    def job(self) -> str | None:
        """The import job the record is up to date with, if there is a record."""
        meta = self._meta("rows")
        if meta is None or not (self.root / "rows.npy").is_file():
            return None
        return str(meta["job"])

    def rows(self) -> Hashes:
        return self._load("rows")

    def settle(self, project: Project) -> None:
        """Fold a pending job's rows into the record once the job is ACTIVE."""
        meta = self._meta("pending")
        if meta is None:
            return
        job = project.describe(
            "DescribeDatasetImportJob",
            "datasetImportJob",
            "datasetImportJobArn",
            str(meta["job"]),
        )
        status = job.get("status") if job else None
        if status in IN_FLIGHT:
            return
        if status == "ACTIVE":
            pending = self._load("pending")
            rows = (
                pending if meta["mode"] == "FULL" else np.union1d(self.rows(), pending)
            )
            np.save(self.root / "rows.npy", rows)
            (self.root / "rows.json").write_text(
                json.dumps({"job": meta["job"]}), encoding="utf-8"
            )
            log.debug("row record %s: %d rows, up to %s", self.root, len(rows), meta)
        for stale in ("pending.npy", "pending.json", self.delta_path.name):
            (self.root / stale).unlink(missing_ok=True)

    def add_pending(self, job_arn: str, mode: str, hashes: Hashes) -> None:
        """Rows that join the record when ``job_arn`` finishes."""
        self.root.mkdir(parents=True, exist_ok=True)
        np.save(self.root / "pending.npy", hashes)
        (self.root / "pending.json").write_text(
            json.dumps({"job": job_arn, "mode": mode}), encoding="utf-8"
        )

    def delta(self, source: Path) -> Delta:
        """Write the rows of ``source`` the dataset does not hold to ``delta_path``."""
        known = self.rows()
        if self._meta("pending") is not None:
            known = np.union1d(known, self._load("pending"))
        self.root.mkdir(parents=True, exist_ok=True)
        new = skipped = 0
        fresh: list[Hashes] = []
        with (
            open(source, encoding="utf-8", newline="") as src,
            open(self.delta_path, "w", encoding="utf-8", newline="") as out,
        ):
            out.write(src.readline())
            writer = csv.writer(out)
            for rows, hashes in _chunks(source):
                keep = ~np.isin(hashes, known)
                # A row repeated within the file is appended once.
                _, first = np.unique(hashes, return_index=True)
                once = np.zeros(len(hashes), dtype=bool)
                once[first] = True
                keep &= once
                writer.writerows(r for r, k in zip(rows, keep, strict=True) if k)
                fresh.append(hashes[keep])
                known = np.union1d(known, hashes[keep])
                new += int(keep.sum())
                skipped += len(rows) - int(keep.sum())
        added = np.concatenate(fresh) if fresh else np.empty(0, np.uint64)
        return Delta(self.delta_path, new, skipped, np.unique(added))

    def _meta(self, name: str) -> dict[str, Any] | None:
        path = self.root / f"{name}.json"
        if not path.is_file():
            return None
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def _load(self, name: str) -> Hashes:
        path = self.root / f"{name}.npy"
        if not path.is_file():
            return np.empty(0, np.uint64)
        loaded: Hashes = np.load(path).astype(np.uint64)
        return loaded
