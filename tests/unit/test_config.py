"""Configuration: the reference file loads, precedence, and bad values fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from airctx.config import load_settings
from airctx.errors import ConfigError
from tests.conftest import REPO

REFERENCE = (REPO / "config" / "airctx.yaml").read_text(encoding="utf-8")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "airctx.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def with_change(old: str, new: str) -> str:
    assert old in REFERENCE
    return REFERENCE.replace(old, new, 1)


def test_the_reference_configuration_describes_the_use_case(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, REFERENCE))

    assert settings.project == "airline-ctx"
    assert settings.backend == "local"
    assert settings.interactions.names == [
        "USER_ID", "ITEM_ID", "TIMESTAMP", "CABIN_TYPE", "EVENT_TYPE", "EVENT_VALUE",
    ]  # fmt: skip
    assert settings.interactions.context_fields == ["CABIN_TYPE"]
    assert settings.datasets["USERS"].names == ["USER_ID", "USER_RESIDENCE"]
    assert settings.solution.event_type == "RATING"
    assert settings.solution.perform_auto_training is False
    assert settings.campaign.min_provisioned_tps == 1
    # Relative paths resolve against the file's folder.
    assert settings.state_dir == (tmp_path / ".." / ".airctx").resolve()


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, REFERENCE),
        {
            "backend": "aws",
            "region": "eu-west-1",
            "data_dir": str(tmp_path),
            "project": None,
        },
    )

    assert (settings.backend, settings.region) == ("aws", "eu-west-1")
    assert settings.data.data_dir == tmp_path.resolve()
    assert settings.project == "airline-ctx"  # None means "not given"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "perform_hpo: true",
            'perform_hpo: "false"',
            "solution.perform_hpo must be bool, not 'false' (write true or false",
        ),
        (
            "perform_auto_training: false",
            "perform_auto_training: off-ish",
            "solution.perform_auto_training must be bool",
        ),
        (
            "chunk_rows: 5000",
            "chunk_rows: lots",
            "data.chunk_rows must be a whole number of at least 1, not 'lots'",
        ),
        (
            "event_value_threshold: null",
            "event_value_threshold: high",
            "solution.event_value_threshold must be a number, not 'high'",
        ),
        (
            "min_provisioned_tps: 1",
            "min_provisioned_tps: 0",
            "campaign.min_provisioned_tps must be at least 1",
        ),
        (
            "min_provisioned_tps: 1",
            'min_provisioned_tps: "1"',
            "campaign.min_provisioned_tps must be int, not '1'",
        ),
        (
            "{type: integer, min: 32, max: 256}",
            "{type: integer, min: 32, max: -1}",
            "solution.hpo.ranges.hidden_dimension: min 32 is greater than max -1",
        ),
        (
            "create_bucket: false",
            "create_bucket: 'no'",
            "aws.create_bucket must be bool",
        ),
        (
            "backend: local",
            "backend: azure",
            "backend 'azure' is not one of local, aws",
        ),
        (
            "project: airline-ctx",
            "project: airline ctx",
            "is not a valid Personalize name",
        ),
    ],
    ids=[
        "quoted-bool",
        "word-bool",
        "chunk-rows",
        "threshold",
        "tps-zero",
        "tps-string",
        "hpo-range",
        "bucket-flag",
        "backend",
        "project-name",
    ],
)
def test_bad_values_fail_before_anything_runs(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, with_change(old, new)))

    assert message in str(caught.value)


RANGE = "hidden_dimension: {type: integer, min: 32, max: 256}"


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (
            "context_weight: {type: continous, min: 0.0, max: 3.0}",
            "solution.hpo.ranges.context_weight.type 'continous' is not one of "
            "continuous, integer, categorical",
        ),
        (
            "context_weight: {type: categorical}",
            "solution.hpo.ranges.context_weight.values: a categorical range needs a "
            "non-empty list of values",
        ),
        (
            "context_weight: {type: continuous, mni: 0.0, max: 3.0}",
            "solution.hpo.ranges.context_weight: unknown key(s) mni",
        ),
        (
            "context_weight: {type: integer, min: 0.5, max: 3}",
            "solution.hpo.ranges.context_weight: an integer range needs whole-number "
            "min and max, not 0.5 and 3",
        ),
    ],
    ids=["type-typo", "no-values", "key-typo", "fractional-integer"],
)
def test_hpo_range_mistakes_fail_when_the_file_loads_naming_it(
    tmp_path: Path, written: str, message: str
) -> None:
    path = write(tmp_path, with_change(RANGE, written))

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    assert str(caught.value).startswith(f"{path}: {message}")


def test_unknown_keys_are_named(tmp_path: Path) -> None:
    text = with_change("  prefix: airctx", "  prefix: airctx\n  buckett: x")

    with pytest.raises(ConfigError, match=r"aws: unknown key.*buckett"):
        load_settings(write(tmp_path, text))


KINDS = (
    "campaign, dataset, dataset_group, dataset_import_job, event_tracker, filter, "
    "solution, solution_version"
)


@pytest.mark.parametrize(
    ("waits", "message"),
    [
        (
            "{timeouts: {solution_verison: -5}}",
            "waits.timeouts: unknown key(s) solution_verison (did you mean "
            f"solution_version?); expected some of {KINDS}",
        ),
        (
            "{timeouts: {solution_version: -5}}",
            "waits.timeouts.solution_version must be a finite number of seconds "
            "greater than 0, not -5",
        ),
        (
            "{timeouts: {campaign: 0}}",
            "waits.timeouts.campaign must be a finite number of seconds greater "
            "than 0, not 0",
        ),
        (
            "{timeouts: {campaign: soon}}",
            "waits.timeouts.campaign must be a finite number of seconds greater "
            "than 0, not 'soon'",
        ),
        (
            "{timeouts: {campaign: true}}",
            "waits.timeouts.campaign must be a finite number of seconds greater "
            "than 0, not True",
        ),
        ("{timeouts: [3600]}", "waits.timeouts must be a mapping of keys to values"),
        (
            "{poll_seconds: -1}",
            "waits.poll_seconds must be a finite number of seconds greater than "
            "0, not -1",
        ),
        ("{poll_secs: 1}", "waits: unknown key(s) poll_secs (did you mean "),
    ],
    ids=[
        "typo",
        "negative",
        "zero",
        "word",
        "bool",
        "list",
        "poll-negative",
        "poll-typo",
    ],
)
def test_wait_timeouts_are_checked_when_the_file_loads(
    tmp_path: Path, waits: str, message: str
) -> None:
    path = write(tmp_path, REFERENCE + f"waits: {waits}\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    assert str(caught.value).startswith(f"{path}: {message}")


def test_a_timeout_given_for_one_kind_leaves_the_others_at_their_defaults(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, REFERENCE + "waits: {timeouts: {solution_version: 90}}\n")

    waits = load_settings(path).waits

    assert waits.timeout_for("solution_version") == 90
    assert waits.timeout_for("campaign") == 1800
    assert waits.timeout_for("dataset_group") == 600


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "event_type: RATING",
            "event_type: 5",
            "solution.event_type must be str, not 5 (quote it if it is meant as "
            'text: "5")',
        ),
        (
            "recipe: aws-user-personalization ",
            "recipe: 12 ",
            "solution.recipe must be str, not 12",
        ),
        (
            "  # users_input: users.csv",
            "  users_input: [users.csv]",
            "data.users_input must be str, not ['users.csv']",
        ),
        (
            "training_mode: FULL",
            "training_mode: FULL\n  algorithm_hyperparameters: [context_weight]",
            "solution.algorithm_hyperparameters must be a mapping of keys to values",
        ),
        (
            "  interactions:\n    fields:",
            "  interactions:\n    feilds:",
            "datasets.interactions: unknown key(s) feilds (did you mean fields?); "
            "expected some of fields",
        ),
        (
            "  users:\n    fields:\n      - {name: USER_ID, type: string}\n"
            "      - {name: USER_RESIDENCE, type: string, categorical: true}",
            "  users: [USER_ID, USER_RESIDENCE]",
            "datasets.users must be a mapping of keys to values, not ['USER_ID', ",
        ),
        (
            "campaign:\n  min_provisioned_tps: 1",
            "campaign:\n  min_provisoned_tps: 1",
            "campaign: unknown key(s) min_provisoned_tps (did you mean "
            "min_provisioned_tps?)",
        ),
    ],
    ids=[
        "event-type-number",
        "recipe-number",
        "users-input-list",
        "hyperparameters-list",
        "fields-typo",
        "dataset-list",
        "campaign-typo",
    ],
)
def test_values_of_the_wrong_kind_and_misspelt_keys_are_named(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = write(tmp_path, with_change(old, new))

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    assert str(caught.value).startswith(f"{path}: {message}")


def test_no_event_type_is_still_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, with_change("event_type: RATING", "event_type: null"))
    assert load_settings(path).solution.event_type is None


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_the_example_ranking_configuration_differs_only_where_it_must() -> None:
    # config/ranking.yaml is airctx.yaml's project with the ranking recipe: its own
    # dataset group and prepared files, everything else kept in step.
    import yaml

    reference = yaml.safe_load(REFERENCE)
    ranking = yaml.safe_load(
        (REPO / "config" / "ranking.yaml").read_text(encoding="utf-8")
    )

    assert ranking["solution"]["recipe"] == "aws-personalized-ranking"
    assert ranking["project"] != reference["project"]
    assert ranking["data"]["output_dir"] != reference["data"]["output_dir"]
    for document in (reference, ranking):
        del document["project"], document["data"]["output_dir"]
        del document["solution"]["recipe"]
    assert ranking == reference
    settings = load_settings(REPO / "config" / "ranking.yaml")
    assert settings.solution.recipe == "aws-personalized-ranking"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"# caf\xe9\nproject: x\n",
            "line 1 is not UTF-8 text (byte 0xe9); save the file as UTF-8",
        ),
        (
            b"project: x\nregion: eu-west-1\ndata:\n  input: caf\xe9.csv\n",
            "line 4 is not UTF-8 text (byte 0xe9); save the file as UTF-8",
        ),
        (
            "project: x\n".encode("utf-16"),
            "the file is saved as UTF-16 (it starts with a UTF-16 byte-order mark); "
            "save it as UTF-8",
        ),
        (
            "project: x\n".encode("utf-32"),
            "the file is saved as UTF-32 (it starts with a UTF-32 byte-order mark); "
            "save it as UTF-8",
        ),
        (
            "project: x\n".encode("utf-16-le"),
            "line 1 holds a NUL byte, as a file saved as UTF-16 or UTF-32 without a "
            "byte-order mark does; save it as UTF-8",
        ),
    ],
    ids=["latin-1-comment", "latin-1-later-line", "utf-16", "utf-32", "utf-16-no-bom"],
)
def test_a_file_not_saved_as_utf8_is_named_with_how_to_fix_it(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "airctx.yaml"
    path.write_bytes(content)

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    assert str(caught.value) == f"{path}: {message}"


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "airctx.yaml"
    path.write_bytes(REFERENCE.encode("utf-8-sig"))

    assert load_settings(path).project == "airline-ctx"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            REFERENCE + "project: other\n",
            "key project is given twice in one mapping, on lines 8 and {last}",
        ),
        (
            REFERENCE + "waits:\n  poll_seconds: 1\n  max_poll_seconds: 9\n"
            "  poll_seconds: 2\n",
            "key poll_seconds is given twice in one mapping, on lines {a} and {last}",
        ),
        (
            REFERENCE + "waits: {timeouts: {campaign: 60, campaign: 90}}\n",
            "key campaign is given twice in one mapping, on line {last}",
        ),
    ],
    ids=["top-level", "nested", "same-line"],
)
def test_a_key_given_twice_is_refused_naming_it_and_both_lines(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    last = text.count("\n")
    expected = message.format(last=last, a=last - 2)

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    assert str(caught.value) == (
        f"{path}: {expected}; keep one (YAML would silently use the last)"
    )


def test_a_merge_key_may_still_be_overridden(tmp_path: Path) -> None:
    text = REFERENCE + (
        "waits:\n  timeouts:\n    <<: {campaign: 60, solution: 60}\n    campaign: 90\n"
    )

    waits = load_settings(write(tmp_path, text)).waits

    assert (waits.timeout_for("campaign"), waits.timeout_for("solution")) == (90, 60)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            None,
            "waits: {timeouts: {campaign: .inf}}",
            "waits.timeouts.campaign must be a finite number of seconds greater "
            "than 0, not .inf",
        ),
        (
            None,
            "waits: {poll_seconds: .nan}",
            "waits.poll_seconds must be a finite number of seconds greater than 0, "
            "not .nan",
        ),
        (
            None,
            "waits: {max_poll_seconds: .inf}",
            "waits.max_poll_seconds must be a finite number of seconds greater "
            "than 0, not .inf",
        ),
        (
            "event_value_threshold: null",
            "event_value_threshold: .inf",
            "solution.event_value_threshold must be a finite number, not .inf",
        ),
        (
            "event_value_threshold: null",
            "event_value_threshold: -.inf",
            "solution.event_value_threshold must be a finite number, not -.inf",
        ),
        (
            "min_provisioned_tps: 1",
            "min_provisioned_tps: 1\n  exploration_weight: .nan",
            "campaign.exploration_weight must be a finite number, not .nan",
        ),
        (
            "min_provisioned_tps: 1",
            "min_provisioned_tps: .inf",
            "campaign.min_provisioned_tps must be int, not inf",
        ),
        (
            RANGE,
            "hidden_dimension: {type: integer, min: 32, max: .inf}",
            "solution.hpo.ranges.hidden_dimension.max must be a finite number, "
            "not .inf",
        ),
    ],
    ids=[
        "timeout-inf",
        "poll-nan",
        "max-poll-inf",
        "threshold-inf",
        "threshold-minus-inf",
        "exploration-nan",
        "tps-inf",
        "hpo-max-inf",
    ],
)
def test_a_value_that_is_not_a_finite_number_is_refused_naming_the_key(
    tmp_path: Path, old: str | None, new: str, message: str
) -> None:
    text = REFERENCE + new + "\n" if old is None else with_change(old, new)
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    assert str(caught.value) == f"{path}: {message}"
