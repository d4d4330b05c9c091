"""`airctx recommend` from a fresh process imports nothing it does not need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from airctx.config import load_settings
from airctx.pipeline.deploy import deploy
from airctx.pipeline.imports import import_data
from airctx.pipeline.train import train
from tests.unit.test_pipeline_steps import Harness, write_project

SRC = Path(__file__).resolve().parents[2] / "src"
# Training and data preparation only: a query has no use for them.
HEAVY = (
    "pandas",
    "optuna",
    "scipy.optimize",
    "airctx.engine.training",
    "airctx.engine.hpo",
    "airctx.data.prep",
)

PROBE = """
import json, sys
from airctx.cli.main import cli
cli(sys.argv[1:], standalone_mode=False)
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def test_recommend_loads_no_training_code(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    h = Harness(load_settings(config))
    import_data(h.project)
    train(h.project)
    deploy(h.project)
    h.engine.close()

    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE.format(heavy=HEAVY),
            "--config",
            str(config),
            "recommend",
            "--user",
            "u1",
            "--context",
            "CABIN_TYPE=Economy",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    answer, loaded = done.stdout.rsplit("\n[", 1)
    assert len(json.loads(answer)["itemList"]) == 10
    assert json.loads("[" + loaded) == []
