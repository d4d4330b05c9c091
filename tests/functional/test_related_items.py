"""A related-items project (recipe aws-sims) end to end on the real sample: `run`
shows the items related to the most reviewed one, and `recommend --item` asks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from airctx.cli.main import cli
from tests.conftest import sample_project, skytrax_dir

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

SIMS = {
    "recipe: aws-user-personalization": "recipe: aws-sims",
    "perform_hpo: true": "perform_hpo: false",
}


def invoke(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args])


@pytest.fixture(scope="module")
def sims_project(
    tmp_path_factory: pytest.TempPathFactory, sample_dir: Path
) -> tuple[Path, Result]:
    config = sample_project(tmp_path_factory.mktemp("sims"), sample_dir, SIMS)
    return config, invoke(config, "run", "-o", "json")


@pytest.fixture(scope="module")
def sample_dir() -> Path:
    found = skytrax_dir()
    if found is None:
        pytest.skip("Skytrax data not found: set AIRCTX_DATA_DIR")
    return found


def test_run_ends_with_the_items_related_to_the_most_reviewed_one(
    sims_project: tuple[Path, Result],
) -> None:
    _config, result = sims_project

    assert result.exit_code == 0, (result.output, result.exception)
    samples = json.loads(result.stdout)["samples"]
    assert len(samples) == 1
    asked = samples[0]["itemId"]
    related = [i["itemId"] for i in samples[0]["itemList"]]
    assert len(related) == 10 and asked not in related
    assert "userId" not in samples[0]


def test_run_again_succeeds_and_says_what_the_items_are_related_to(
    sims_project: tuple[Path, Result],
) -> None:
    config, first = sims_project
    asked = json.loads(first.stdout)["samples"][0]["itemId"]

    again = invoke(config, "run")

    assert again.exit_code == 0, again.output
    assert f"top 10 related to {asked}:" in again.stdout


def test_recommend_item_lists_related_items(
    sims_project: tuple[Path, Result],
) -> None:
    config, first = sims_project
    asked = json.loads(first.stdout)["samples"][0]["itemId"]

    result = invoke(config, "recommend", "--item", asked, "-n", "5", "-o", "json")

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["itemId"] == asked
    assert len(answer["itemList"]) == 5
    # Personalize returns no score for SIMS.
    assert all(set(entry) == {"itemId"} for entry in answer["itemList"])
    table = invoke(config, "recommend", "--item", asked, "-n", "5")
    assert table.stdout.splitlines()[0].split() == ["rank", "item"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "ColinPay"], "is a related-items recipe"),
        ([], "give --item ITEM"),
        (["--item", "emirates", "--compare", "CABIN_TYPE"], "cannot be combined"),
    ],
    ids=["user-only", "nothing", "compare"],
)
def test_a_query_the_campaign_cannot_answer_is_a_usage_error(
    sims_project: tuple[Path, Result], args: list[str], message: str
) -> None:
    result = invoke(sims_project[0], "recommend", *args)

    assert result.exit_code == 2
    assert message in result.stderr
