"""The shipped ranking project (config/ranking.yaml) end to end on the real sample:
`run` deploys a personalized-ranking campaign and `rank` reorders a list with it;
`rank` on the reference project points at that file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from airctx.cli.main import cli
from tests.conftest import REPO, copy_sample, skytrax_dir

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

# Each shipped file as a test project: state, data and outputs inside the folder.
EDITS = {
    "state_dir: ../.airctx": "state_dir: ../state",
    "data_dir: ../../shared/data/skytrax": "data_dir: ../data",
    "max_training_jobs: 6": "max_training_jobs: 2",
}
ITEMS = ["emirates", "ryanair", "british-airways"]


def invoke(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    found = skytrax_dir()
    if found is None:
        pytest.skip("Skytrax data not found: set AIRCTX_DATA_DIR")
    root = tmp_path_factory.mktemp("ranking")
    copy_sample(found, root / "data" / "raw-sample")
    (root / "config").mkdir()
    for name in ("airctx.yaml", "ranking.yaml"):
        text = (REPO / "config" / name).read_text(encoding="utf-8")
        for old, new in EDITS.items():
            assert old in text, (name, old)
            text = text.replace(old, new, 1)
        (root / "config" / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def ranking_run(root: Path) -> Result:
    return invoke(root / "config" / "ranking.yaml", "run", "-o", "json")


def test_run_of_the_ranking_configuration_ranks_the_most_used_items(
    ranking_run: Result,
) -> None:
    assert ranking_run.exit_code == 0, (ranking_run.output, ranking_run.exception)
    samples = json.loads(ranking_run.stdout)["samples"]
    assert len(samples) == 2
    assert all(len(s["itemList"]) == 10 for s in samples)


def test_rank_reorders_the_items_given(root: Path, ranking_run: Result) -> None:
    assert ranking_run.exit_code == 0
    args = ["rank", "--user", "ColinPay", "--items", ",".join(ITEMS), "-o", "json"]

    result = invoke(
        root / "config" / "ranking.yaml", *args, "--context", "CABIN_TYPE=Economy"
    )

    assert result.exit_code == 0, result.output
    ranked = [i["itemId"] for i in json.loads(result.stdout)["itemList"]]
    assert sorted(ranked) == sorted(ITEMS)


def test_rank_on_the_reference_project_points_at_the_ranking_configuration(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)
    args = ["rank", "--user", "ColinPay", "--items", "emirates,ryanair"]

    result = CliRunner().invoke(cli, args)  # config/airctx.yaml under the folder

    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    assert "is 'aws-user-personalization', which recommends for a user" in said
    assert (
        "such as config/ranking.yaml: `airctx --config config/ranking.yaml run`, "
        "then `airctx --config config/ranking.yaml rank --user ColinPay --items "
        "emirates,ryanair`"
    ) in said
