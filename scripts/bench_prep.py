"""Throughput and peak memory of ``airctx.data.prep.prepare`` as the input grows.

Builds inputs 1x, 10x, 100x (and 1000x on request) the Skytrax raw sample (each
copy with distinct author names, so users and events stay distinct), then in a
fresh subprocess per run measures ``prepare`` and, as a baseline, a plain
``pandas.read_csv`` of the same file. Peak memory is the child's high-water RSS
(VmHWM); "work" is that minus the RSS right after imports, which is what the run
itself added. ``prepare`` keeps its cross-chunk state in a scratch SQLite file, so
its work memory levels off while read_csv's grows with the file.

Usage:
    PYTHONPATH=src python scripts/bench_prep.py [--sizes 1,10,100,1000] [--input F]
(1000x is 2.2 million rows, a 1.8 GB file and about two minutes.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_INPUTS = (
    Path(os.environ.get("AIRCTX_DATA_DIR", "/nonexistent")) / "raw-sample/airline.csv",
    Path(__file__).resolve().parents[2] / "shared/data/skytrax/raw-sample/airline.csv",
    Path("/work/shared/data/skytrax/raw-sample/airline.csv"),
)


def _rss_mb() -> float:
    """Peak resident memory of this process, in MiB."""
    # VmHWM belongs to this process image; ru_maxrss would also count the
    # parent's peak, which a child inherits across fork and exec on Linux.
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, path: Path, out_dir: Path) -> None:
    """One measured run; prints a JSON line for the parent."""
    import pandas as pd

    from airctx.config import load_settings
    from airctx.data.prep import prepare

    # The reference use case's field lists, from the project's own configuration.
    settings = load_settings(
        Path(__file__).resolve().parents[1] / "config" / "airctx.yaml"
    )
    interactions = settings.interactions
    users = settings.datasets["USERS"]
    base_rss = _rss_mb()
    start = time.perf_counter()
    if mode == "baseline":
        rows = len(pd.read_csv(path, dtype=str, keep_default_na=False))
    else:
        report = prepare(
            path, interactions=interactions, users=users, output_dir=out_dir
        )
        rows = report.rows_read
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": seconds,
                "peak_mb": _rss_mb(),
                "base_mb": base_rss,
            }
        )
    )


def scaled(sample: Path, factor: int, directory: Path) -> Path:
    """``factor`` copies of ``sample``, copy k renaming author 'A B' to 'A B rk'."""
    import pandas as pd

    if factor == 1:
        return sample
    frame = pd.read_csv(sample, dtype=str, keep_default_na=False)
    named = frame["author"] != "NA"
    path = directory / f"airline-{factor}x.csv"
    # Written copy by copy so that building a large input takes little memory.
    with path.open("w", encoding="utf-8", newline="") as handle:
        for k in range(factor):
            copy = frame.copy()
            copy.loc[named, "author"] = frame.loc[named, "author"] + f" r{k}"
            copy.to_csv(handle, index=False, header=k == 0, lineterminator="\n")
    return path


def measure(mode: str, path: Path, out_dir: Path) -> dict[str, float]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path), str(out_dir)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100")
    parser.add_argument("--input", type=Path)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path, out_dir = args.child
        child(mode, Path(path), Path(out_dir))
        return

    sample = args.input or next((p for p in DEFAULT_INPUTS if p.is_file()), None)
    if sample is None:
        sys.exit("no Skytrax raw sample found; pass --input or set AIRCTX_DATA_DIR")
    print(f"input: {sample}")
    print(
        f"{'size':>5} {'rows':>8} {'prep s':>7} {'rows/s':>8} {'read_csv s':>10} "
        f"{'time x':>6} {'prep MB':>8} {'read MB':>8} {'prep work':>9} {'read work':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for factor in (int(s) for s in args.sizes.split(",")):
            path = scaled(sample, factor, directory)
            prep = measure("prep", path, directory / f"out{factor}")
            base = measure("baseline", path, directory)
            if path != sample:
                path.unlink()
            print(
                f"{factor:>4}x {prep['rows']:>8.0f} {prep['seconds']:>7.2f} "
                f"{prep['rows'] / prep['seconds']:>8.0f} {base['seconds']:>10.2f} "
                f"{prep['seconds'] / base['seconds']:>6.1f} {prep['peak_mb']:>8.0f} "
                f"{base['peak_mb']:>8.0f} {prep['peak_mb'] - prep['base_mb']:>9.0f} "
                f"{base['peak_mb'] - base['base_mb']:>9.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
