"""CLI conventions: help with examples, exit codes, environment variables, output."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from airctx.cli.main import cli
from tests.conftest import AWS_CLI, REPO
from tests.unit.test_pipeline_steps import write_project

COMMANDS = sorted(cli.commands)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_project(tmp_path)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(level)


def invoke(
    config: Path,
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> Result:
    return CliRunner().invoke(
        cli, ["--config", str(config), *args], env=env, input=input
    )


# -- help ---


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(name: str) -> None:
    command = cli.commands[name]
    result = CliRunner().invoke(cli, [name, "--help"])

    assert result.exit_code == 0
    assert command.help and command.get_short_help_str().strip()
    assert "Example:" in result.output
    # The command, perhaps after global options (`airctx --config FILE rank`).
    assert re.search(rf"airctx (--\S+ \S+ )*{name}\b", result.output), result.output
    undocumented = [
        p.name for p in command.params if isinstance(p, click.Option) and not p.help
    ]
    assert undocumented == []


def test_the_command_list_includes_wait_and_the_pipeline_steps() -> None:
    assert {
        "prep-data",
        "import",
        "train",
        "deploy",
        "recommend",
        "rank",
        "track-event",
        "wait",
        "status",
        "metrics",
        "teardown",
        "run",
        "serve",
    } <= set(COMMANDS)


def test_top_level_help_documents_completion_exit_codes_and_environment() -> None:
    result = CliRunner().invoke(cli, ["--help"])

    assert "_AIRCTX_COMPLETE=bash_source airctx" in result.output
    assert "Exit codes: 0 success, 1 failure" in result.output
    assert "AIRCTX_OUTPUT" in result.output


@pytest.mark.parametrize("name", [n for n in COMMANDS if n != "serve"])
def test_every_command_that_prints_results_takes_output_and_quiet(name: str) -> None:
    options = {p.name for p in cli.commands[name].params}
    assert {"output_format", "quiet"} <= options


# -- exit codes ---


def test_exit_0_and_json_on_success(config: Path) -> None:
    result = invoke(config, "status", "--output", "json")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_exit_1_with_an_error_line_naming_what_to_do(config: Path) -> None:
    result = invoke(config, "recommend", "--user", "u1")

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: campaign synth-campaign does not exist; run `airctx deploy` first "
        "(or `airctx run`, which also builds what the campaign needs)\n"
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["recommend"], "Missing option '--user'"),
        (["recommend", "--user", "u1", "--context", "Economy"], "is not KEY=VALUE"),
        (["recommend", "--user", "u1", "--values", "a,b"], "--values needs --compare"),
        (["--backend", "moon", "status"], "'moon' is not one of"),
        (["status", "--output", "xml"], "'xml' is not one of"),
    ],
    ids=["missing-option", "bad-context", "values-alone", "bad-backend", "bad-format"],
)
def test_exit_2_on_usage_errors(config: Path, args: list[str], message: str) -> None:
    result = invoke(config, *args)

    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("recipe", "args", "message"),
    [
        (
            "aws-user-personalization",
            ["--item", "emirates"],
            "--item needs a related-items recipe (aws-sims, aws-similar-items) and "
            "solution.recipe is 'aws-user-personalization', which recommends for a "
            "user; use --user USER",
        ),
        (
            "aws-user-personalization",
            ["--context", "CABIN_TYPE=Economy"],
            "Missing option '--user'",
        ),
        (
            "aws-personalized-ranking",
            ["--user", "u1"],
            "reorders a given list of items; use `airctx rank",
        ),
        ("aws-sims", ["--user", "u1"], "give --item ITEM"),
    ],
    ids=["item-for-user-recipe", "no-user", "ranking", "user-for-sims"],
)
def test_recommend_asks_what_the_configured_recipe_answers(
    tmp_path: Path, recipe: str, args: list[str], message: str
) -> None:
    config = write_project(tmp_path)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("recipe: aws-user-personalization", f"recipe: {recipe}"),
        encoding="utf-8",
    )

    result = invoke(config, "recommend", *args)

    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("recipe", "answers"),
    [
        (
            "aws-user-personalization",
            "which recommends for a user (ask it with `airctx recommend --user USER`)",
        ),
        (
            "aws-sims",
            "which lists the items related to an item (ask it with `airctx "
            "recommend --item ITEM`)",
        ),
    ],
)
def test_rank_on_a_project_of_another_recipe_says_how_to_get_a_ranking_one(
    tmp_path: Path, recipe: str, answers: str
) -> None:
    config = write_project(tmp_path)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("recipe: aws-user-personalization", f"recipe: {recipe}"),
        encoding="utf-8",
    )

    result = invoke(config, "rank", "--user", "ColinPay", "--items", "emirates,klm")

    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    assert (
        "`rank` needs a campaign of a personalized-ranking recipe "
        "(aws-personalized-ranking, aws-personalized-ranking-v2), and "
        f"solution.recipe in {config} is {recipe!r}, {answers}"
    ) in said
    # No example configuration beside this one: how to make one.
    assert (
        "copy the configuration, set another project and data.output_dir and "
        "solution.recipe: aws-personalized-ranking, then `airctx --config COPY run` "
        "and `airctx --config COPY rank --user ColinPay --items emirates,klm`"
    ) in said
    assert not (tmp_path / "state").exists()  # refused before the engine started


def test_rank_points_at_the_example_ranking_configuration_beside_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_project(tmp_path)
    (tmp_path / "ranking.yaml").write_text(
        (REPO / "config" / "ranking.yaml").read_text(encoding="utf-8")
    )
    monkeypatch.chdir(tmp_path)

    result = invoke(config, "rank", "--user", "ColinPay", "--items", "emirates")

    assert result.exit_code == 2, result.output
    assert (
        "such as ranking.yaml: `airctx --config ranking.yaml run`, then `airctx "
        "--config ranking.yaml rank --user ColinPay --items emirates`"
    ) in " ".join(result.stderr.split())


def test_an_unknown_context_key_is_refused_before_any_call(config: Path) -> None:
    assert invoke(config, "create-schemas", "-q").exit_code == 0

    result = invoke(config, "recommend", "--user", "u1", "--context", "SEAT=1A")

    assert result.exit_code == 2  # a usage error, like any bad option
    assert (
        "'SEAT' is not a context field" in result.stderr
        and "CABIN_TYPE" in result.stderr
    )
    # The usage shown is the command's, not the top-level one.
    assert result.stderr.splitlines()[0].endswith(" recommend [OPTIONS]")


# -- environment ---


def test_output_format_from_the_environment(config: Path) -> None:
    result = invoke(config, "status", env={"AIRCTX_OUTPUT": "json"})

    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_project_name_from_the_environment(config: Path) -> None:
    result = invoke(
        config, "create-schemas", "-o", "json", env={"AIRCTX_PROJECT": "elsewhere"}
    )

    assert result.exit_code == 0
    assert json.loads(result.stdout)["datasetGroupArn"].endswith(
        ":dataset-group/elsewhere"
    )


def test_a_bad_value_from_the_environment_is_a_usage_error(config: Path) -> None:
    result = invoke(config, "status", env={"AIRCTX_BACKEND": "moon"})

    assert result.exit_code == 2


def test_command_options_from_the_environment(config: Path) -> None:
    assert invoke(config, "create-schemas", "-q").exit_code == 0

    result = invoke(
        config, "teardown", "-o", "json", env={"AIRCTX_TEARDOWN_DRY_RUN": "1"}
    )

    assert result.exit_code == 0
    planned = json.loads(result.stdout)
    assert [p["type"] for p in planned][-1] == "dataset-group"
    remaining = json.loads(invoke(config, "status", "-o", "json").stdout)
    assert [r["type"] for r in remaining].count("dataset-group") == 1


@pytest.fixture
def sent_context(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Replace the query functions with ones that keep the context they were given."""
    from airctx.pipeline import query

    seen: dict[str, object] = {}

    def answer(*args: object, **_options: object) -> query.Recommendations:
        seen["context"] = next(a for a in args if isinstance(a, dict))
        return query.Recommendations("u1", {}, [], "RID-1")

    def recorded(*args: object) -> dict[str, object]:
        seen["context"] = next(a for a in args if isinstance(a, dict))
        return {}

    monkeypatch.setattr(query, "recommend", answer)
    monkeypatch.setattr(query, "rank", answer)
    monkeypatch.setattr(query, "track_event", recorded)
    return seen


def ranking_recipe(config: Path) -> None:
    """Make the project one `rank` can ask."""
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace(
            "recipe: aws-user-personalization", "recipe: aws-personalized-ranking"
        ),
        encoding="utf-8",
    )


CONTEXT_COMMANDS = {
    "recommend": ["recommend", "--user", "u1"],
    "rank": ["rank", "--user", "u1", "--items", "item1,item2"],
    "track-event": ["track-event", "--user", "u1", "--item", "item1"],
}


@pytest.mark.parametrize("command", list(CONTEXT_COMMANDS))
@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("CABIN_TYPE=First Class", {"CABIN_TYPE": "First Class"}),
        (
            "CABIN_TYPE=Premium Economy; USER_RESIDENCE=United Kingdom",
            {"CABIN_TYPE": "Premium Economy", "USER_RESIDENCE": "United Kingdom"},
        ),
        ("CABIN_TYPE=Economy\nSEAT=1A\n", {"CABIN_TYPE": "Economy", "SEAT": "1A"}),
    ],
    ids=["space-in-value", "two-pairs", "newlines"],
)
def test_context_from_the_environment_keeps_spaces_in_values(
    config: Path,
    sent_context: dict[str, object],
    command: str,
    variable: str,
    expected: dict[str, str],
) -> None:
    name = "AIRCTX_" + command.upper().replace("-", "_") + "_CONTEXT"
    if command == "rank":
        ranking_recipe(config)

    result = invoke(config, *CONTEXT_COMMANDS[command], env={name: variable})

    assert result.exit_code == 0, result.output
    assert sent_context["context"] == expected


@pytest.mark.parametrize("command", list(CONTEXT_COMMANDS))
def test_a_context_variable_without_key_value_is_a_usage_error(
    config: Path, sent_context: dict[str, object], command: str
) -> None:
    name = "AIRCTX_" + command.upper().replace("-", "_") + "_CONTEXT"

    result = invoke(config, *CONTEXT_COMMANDS[command], env={name: "Economy;A=b"})

    assert result.exit_code == 2
    assert "'Economy' is not KEY=VALUE" in result.stderr
    assert sent_context == {}


@pytest.mark.parametrize("command", list(CONTEXT_COMMANDS))
def test_context_help_says_how_to_separate_pairs_in_the_environment(
    command: str,
) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])

    assert 'separate pairs with ";"' in " ".join(result.output.split())


# -- progress, quiet, logging ---


def test_progress_goes_to_stderr_and_quiet_drops_it(config: Path) -> None:
    loud = invoke(config, "create-schemas", "-o", "json")
    quiet = invoke(config, "create-schemas", "-o", "json", "--quiet")

    assert "schema synth-interactions: created" in loud.stderr
    assert quiet.stderr == ""
    assert json.loads(quiet.stdout)["created"] == []


def test_debug_turns_on_debug_logging(config: Path) -> None:
    assert invoke(config, "--debug", "status").exit_code == 0
    assert logging.getLogger().level == logging.DEBUG
    assert invoke(config, "-v", "status").exit_code == 0
    assert logging.getLogger().level == logging.INFO


# -- teardown ---


def test_teardown_asks_before_deleting(config: Path) -> None:
    invoke(config, "create-schemas", "-q")

    refused = invoke(config, "teardown", input="n\n")

    assert refused.exit_code == 1
    assert "Delete 5 resource(s) of synth?" in refused.stderr
    assert "Nothing was deleted" in refused.stderr and "Aborted" not in refused.stderr
    assert "dataset-group" in invoke(config, "status").stdout


@pytest.mark.parametrize("answer", ["n\n", ""], ids=["no", "end-of-input"])
def test_teardown_without_a_terminal_says_to_pass_yes(
    config: Path, answer: str
) -> None:
    invoke(config, "create-schemas", "-q")

    refused = invoke(config, "teardown", input=answer)

    assert refused.exit_code == 1
    assert refused.stderr.endswith(
        "Nothing was deleted (stdin is not a terminal: pass --yes to delete without "
        "a question).\n"
    )
    assert "dataset-group" in invoke(config, "status").stdout


def test_teardown_refused_at_a_terminal_says_nothing_was_deleted(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke(config, "create-schemas", "-q")
    monkeypatch.setattr("airctx.cli.main._stdin_is_terminal", lambda: True)

    refused = invoke(config, "teardown", input="n\n")

    assert refused.exit_code == 1
    assert refused.stderr.endswith("[y/N]: n\nNothing was deleted.\n")


def test_teardown_yes_deletes_without_asking_and_again_finds_nothing(
    config: Path,
) -> None:
    invoke(config, "create-schemas", "-q")

    done = invoke(config, "teardown", "--yes", "-o", "json")
    again = invoke(config, "teardown", "--yes", "-o", "json")

    assert done.exit_code == 0, done.output
    assert [d["type"] for d in json.loads(done.stdout)] == [
        "dataset",
        "dataset",
        "schema",
        "schema",
        "dataset-group",
    ]
    assert json.loads(again.stdout) == []


# -- aws backend setup ---


@pytest.fixture
def empty_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_aws_backend_without_credentials_gives_setup_instructions(
    config: Path, empty_aws_env: None
) -> None:
    result = invoke(config, "--backend", "aws", "status")

    assert result.exit_code == 1
    assert "no usable AWS credentials were found" in result.stderr
    assert "aws configure" in result.stderr
    assert "Traceback" not in result.output


def test_every_command_option_reads_the_environment_variable_its_flag_names() -> None:
    """AIRCTX_<COMMAND>_<OPTION> must follow the flag, not the Python parameter."""
    import click

    from airctx.cli.main import cli

    wrong = []
    for name, command in cli.commands.items():
        prefix = "AIRCTX_" + name.upper().replace("-", "_")
        for param in command.params:
            if not isinstance(param, click.Option) or param.name in ("help",):
                continue
            longs = [o for o in param.opts if o.startswith("--")]
            if not longs:
                continue
            flag = longs[0][2:].upper().replace("-", "_")
            expected = {f"{prefix}_{flag}", f"AIRCTX_{flag}"}
            actual = param.envvar if param.envvar else f"{prefix}_{param.name.upper()}"
            names = {actual} if isinstance(actual, str) else set(actual)
            if not names & expected:
                wrong.append(f"{name} {longs[0]}: {sorted(names)}")
    assert wrong == []


# -- aws-only options ---


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--endpoint-url", "http://127.0.0.1:8642"], {}, "--endpoint-url"),
        (
            ["--services-endpoint-url", "http://127.0.0.1:5000"],
            {},
            "--services-endpoint-url",
        ),
        ([], {"AIRCTX_ENDPOINT_URL": "http://127.0.0.1:8642"}, "AIRCTX_ENDPOINT_URL"),
        (
            [],
            {"AIRCTX_SERVICES_ENDPOINT_URL": "http://127.0.0.1:5000"},
            "AIRCTX_SERVICES_ENDPOINT_URL",
        ),
    ],
    ids=["flag", "services-flag", "variable", "services-variable"],
)
def test_an_aws_only_endpoint_on_the_local_backend_is_a_usage_error(
    config: Path, args: list[str], env: dict[str, str], named: str
) -> None:
    result = invoke(config, *args, "status", env=env)

    assert result.exit_code == 2
    assert f"{named} only applies to the aws backend" in result.stderr
    assert "--backend aws --endpoint-url http://127.0.0.1:8642" in result.stderr


def test_an_endpoint_in_the_configuration_file_is_ignored_by_the_local_backend(
    tmp_path: Path,
) -> None:
    config = write_project(tmp_path, "aws:\n  endpoint_url: http://127.0.0.1:8642\n")

    assert invoke(config, "status", "-o", "json").exit_code == 0


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--endpoint-url", "127.0.0.1:8642"], {}, "--endpoint-url"),
        (["--services-endpoint-url", "localhost:5000"], {}, "--services-endpoint-url"),
        ([], {"AIRCTX_ENDPOINT_URL": "127.0.0.1:8642"}, "--endpoint-url"),
    ],
    ids=["flag", "services-flag", "variable"],
)
def test_an_endpoint_without_a_scheme_is_a_usage_error(
    config: Path, args: list[str], env: dict[str, str], named: str
) -> None:
    result = invoke(config, "--backend", "aws", *args, "status", env=env)

    assert result.exit_code == 2, result.output
    assert named in result.stderr and "is not a URL" in result.stderr
    assert "e.g. http://" in result.stderr
    assert "Traceback" not in result.output


def test_an_endpoint_without_a_scheme_in_the_configuration_file_is_named(
    tmp_path: Path, empty_aws_env: None
) -> None:
    config = write_project(tmp_path, "aws:\n  endpoint_url: 127.0.0.1:8642\n")

    result = invoke(config, "--backend", "aws", "status")

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: aws.endpoint_url '127.0.0.1:8642' is not a URL; write it with its "
        "scheme, e.g. http://127.0.0.1:8642\n"
    )


# -- serve ---


@pytest.mark.skipif(AWS_CLI is None, reason="the AWS CLI is not installed")
def test_the_aws_cli_example_in_serve_help_works_as_written(tmp_path: Path) -> None:
    from airctx.engine.core import LocalEngine
    from airctx.engine.server import make_server

    help_text = CliRunner().invoke(cli, ["serve", "--help"]).output
    example = help_text.split("Example:", 1)[1].replace("\\\n", " ")
    aws_line = next(
        line.strip() for line in example.splitlines() if line.strip().startswith("aws ")
    )
    # No credentials anywhere: a first-time user without an AWS setup.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment["AWS_CONFIG_FILE"] = os.devnull
    environment["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    environment["AWS_EC2_METADATA_DISABLED"] = "true"
    engine = LocalEngine(tmp_path / "state", region="us-east-1")

    try:
        with make_server(engine, port=0).running() as server:
            args = aws_line.replace("http://127.0.0.1:8642", server.endpoint_url)
            completed = subprocess.run(
                [str(AWS_CLI), *shlex.split(args)[1:], "--output", "json"],
                env=environment,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
    finally:
        engine.close()

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"campaigns": []}


# -- prep-data paths ---


@pytest.mark.parametrize("option", ["--input", "--users-input"])
def test_a_relative_input_is_taken_from_the_current_folder_and_says_so(
    config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    option: str,
) -> None:
    data_dir = config.parent.resolve()
    (data_dir / "raw-sample").mkdir()
    (data_dir / "raw-sample" / "airline.csv").write_text("x\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    args = ["prep-data", option, "raw-sample/airline.csv"]
    if option == "--users-input":
        args += ["--input", str(data_dir / "raw-sample" / "airline.csv")]

    result = invoke(config, *args)

    assert result.exit_code == 2  # a path on the command line: a usage error
    assert result.stderr.split("\n\n", 1)[1] == (
        f"Error: {option} raw-sample/airline.csv: no such file at "
        f"{elsewhere.resolve() / 'raw-sample' / 'airline.csv'} (a relative {option} "
        f"is taken from the current folder, not from the data folder {data_dir} set "
        "by data.data_dir, AIRCTX_DATA_DIR or --data-dir); did you mean "
        f"{option} {data_dir / 'raw-sample' / 'airline.csv'}?\n"
    )


def test_run_prepares_with_the_users_input_given(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airctx.errors import DataError
    from airctx.pipeline import run as run_module

    users = tmp_path / "users.csv"
    users.write_text("USER_ID,USER_RESIDENCE\nu1,France\n", encoding="utf-8")
    given: dict[str, object] = {}

    def prep(*_args: object, **options: object) -> None:
        given.update(options)
        raise DataError("stop after prep")

    monkeypatch.setattr(run_module, "prep_data", prep)

    result = invoke(config, "run", "--users-input", str(users))

    assert result.exit_code == 1, result.output
    assert given["users_input"] == users


def test_prep_data_and_run_share_the_users_input_option() -> None:
    def option(command: str) -> click.Parameter:
        return next(p for p in cli.commands[command].params if p.name == "users_input")

    prep, run = option("prep-data"), option("run")
    assert isinstance(prep, click.Option) and isinstance(run, click.Option)
    assert prep.help == run.help and prep.help and "users CSV" in prep.help


def test_prep_data_takes_user_metadata_from_the_users_input_only(
    config: Path, tmp_path: Path
) -> None:
    from tests.unit.test_data_prep import SKYTRAX_HEADER, skytrax_row

    raw = tmp_path / "airline.csv"
    raw.write_text(
        "\n".join(
            [
                SKYTRAX_HEADER,
                skytrax_row(author="Colin Pay", country="United Kingdom"),
                skytrax_row(author="Ann Lee", country="Belgium"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    users = tmp_path / "u4.csv"
    users.write_text(
        "USER_ID,USER_RESIDENCE\nColinPay,Narnia\nJDowns,Mars\n", encoding="utf-8"
    )

    result = invoke(
        config, "prep-data", "--input", str(raw), "--users-input", str(users)
    )

    assert result.exit_code == 0, result.output
    assert f"2 interactions and 2 users (from {users}) written" in result.stderr
    prepared = config.parent / "prepared" / "users.csv"
    assert prepared.read_text(encoding="utf-8") == (
        "USER_ID,USER_RESIDENCE\nColinPay,Narnia\nJDowns,Mars\n"
    )

    users.write_text("USER_ID,USER_RESIDENCE\n", encoding="utf-8")
    result = invoke(
        config, "prep-data", "--input", str(raw), "--users-input", str(users)
    )

    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: {users}: the users file has a header but no rows"
    )
    assert prepared.read_text(encoding="utf-8").endswith("JDowns,Mars\n")


# -- ids and values ---


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "u1", "--item", "klm", "--value", "nan"], "'--value': nan is"),
        (["--user", "u1", "--item", "klm", "--value", "inf"], "'--value': inf is"),
        (["--user", "u1", "--item", "klm", "--value", "-inf"], "'--value': -inf is"),
        (
            ["--user", "", "--item", "klm"],
            "'--user': is empty; give a user id, e.g. JDowns",
        ),
        (
            ["--user", "u1", "--item", "  "],
            "'--item': is empty; give an item id, e.g. emirates",
        ),
    ],
    ids=["nan", "inf", "minus-inf", "empty-user", "blank-item"],
)
def test_track_event_refuses_a_non_number_value_or_an_empty_id_before_any_call(
    config: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    from airctx.pipeline import query

    def no_call(*_args: object) -> None:
        raise AssertionError("track_event was called")

    monkeypatch.setattr(query, "track_event", no_call)

    result = invoke(config, "track-event", *args)

    assert result.exit_code == 2, result.output
    assert message in result.stderr


@pytest.mark.parametrize("timeout", ["nan", "inf", "NaN", "Infinity"])
def test_wait_refuses_a_timeout_that_is_not_a_finite_number(
    config: Path, timeout: str
) -> None:
    result = invoke(config, "wait", "--timeout", timeout)

    assert result.exit_code == 2, result.output
    assert f"Invalid value for '--timeout': {float(timeout)} is not a finite " in (
        result.stderr
    )
    assert "give e.g. --timeout 7200" in " ".join(result.stderr.split())


def test_wait_refuses_a_non_finite_timeout_from_the_environment(config: Path) -> None:
    result = invoke(config, "wait", env={"AIRCTX_WAIT_TIMEOUT": "inf"})

    assert result.exit_code == 2, result.output
    assert "'--timeout' (from AIRCTX_WAIT_TIMEOUT): inf is not a finite number" in (
        result.stderr
    )


@pytest.mark.parametrize(
    "args",
    [["recommend", "--user", " "], ["rank", "--user", "", "--items", "klm"]],
    ids=["recommend", "rank"],
)
def test_an_empty_user_is_a_usage_error_for_queries(
    config: Path, args: list[str]
) -> None:
    result = invoke(config, *args)

    assert result.exit_code == 2, result.output
    assert "'--user': is empty; give a user id, e.g. JDowns" in result.stderr


def test_an_empty_item_is_a_usage_error_with_an_item_for_example(
    tmp_path: Path,
) -> None:
    config = write_project(tmp_path)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("recipe: aws-user-personalization", "recipe: aws-sims"),
        encoding="utf-8",
    )

    result = invoke(config, "recommend", "--item", "")

    assert result.exit_code == 2, result.output
    assert "'--item': is empty; give an item id, e.g. emirates" in result.stderr


LONG = "x" * 257


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["recommend", "--user", LONG],
            "'--user': is 257 characters long; Personalize takes user ids of at "
            "most 256 characters",
        ),
        (
            ["recommend", "--item", LONG],
            "'--item': is 257 characters long; Personalize takes item ids of at "
            "most 256 characters",
        ),
        (
            ["rank", "--user", LONG, "--items", "klm"],
            "'--user': is 257 characters long; Personalize takes user ids",
        ),
        (
            ["rank", "--user", "u1", "--items", f"klm,{LONG},{LONG}y"],
            "--items: item 2 ('xxxxxxxxxxxxxxxxxxxx...') is 257 characters long "
            "(and 1 more); Personalize takes item ids of at most 256 characters",
        ),
        (
            ["track-event", "--user", LONG, "--item", "klm"],
            "'--user': is 257 characters long; Personalize takes user ids",
        ),
        (
            ["track-event", "--user", "u1", "--item", LONG],
            "'--item': is 257 characters long; Personalize takes item ids",
        ),
        (
            ["track-event", "--user", "u1", "--item", "klm", "--session", "s" * 300],
            "'--session': is 300 characters long; Personalize takes session ids of "
            "at most 256 characters",
        ),
        (
            ["track-event", "--user", "u1", "--item", "klm", "--session", " "],
            "'--session': is empty; give a session id, e.g. JDowns-trip-1, or leave "
            "--session out",
        ),
    ],
    ids=[
        "recommend-user",
        "recommend-item",
        "rank-user",
        "rank-items",
        "event-user",
        "event-item",
        "event-session",
        "event-blank-session",
    ],
)
def test_an_id_longer_than_personalize_takes_is_a_usage_error(
    config: Path, args: list[str], message: str
) -> None:
    result = invoke(config, *args)

    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())


def test_an_id_of_exactly_the_limit_passes_the_check(config: Path) -> None:
    result = invoke(config, "recommend", "--user", "x" * 256)

    # Past the check, the command goes on to find there is no campaign yet.
    assert result.exit_code == 1, result.output
    assert "campaign synth-campaign does not exist" in result.stderr


def test_id_limits_come_from_botocores_service_models() -> None:
    from airctx.pipeline.query import ID_MEMBERS, id_length_limit

    assert {id_length_limit(*key) for key in ID_MEMBERS} == {256}
    assert ("track-event", "session_id") in ID_MEMBERS
    assert id_length_limit("recommend", "num_results") is None


def test_validate_for_an_incremental_import_skips_the_dataset_minimums(
    config: Path,
) -> None:
    interactions = config.parent / "prepared" / "interactions.csv"
    rows = interactions.read_text(encoding="utf-8").splitlines()
    interactions.write_text("\n".join(rows[:21]) + "\n", encoding="utf-8")

    full = invoke(config, "validate", "--output", "json")
    incremental = invoke(config, "validate", "--mode", "INCREMENTAL", "-o", "json")

    assert full.exit_code == 1
    assert json.loads(full.stdout)["ok"] is False
    assert incremental.exit_code == 0, incremental.output
    assert json.loads(incremental.stdout)["ok"] is True


def test_validate_prints_an_unparseable_row_alone_with_what_it_skipped(
    config: Path,
) -> None:
    prepared = config.parent / "prepared"
    interactions = prepared / "interactions.csv"
    rows = interactions.read_text(encoding="utf-8").splitlines()
    rows[6] = rows[6].rsplit(",", 1)[0]  # line 7 loses its EVENT_VALUE field
    interactions.write_text("\n".join(rows) + "\n", encoding="utf-8")

    table = invoke(config, "validate")
    data = json.loads(invoke(config, "validate", "-o", "json").stdout)

    assert table.exit_code == 1
    lines = table.stdout.splitlines()
    assert lines[:2] == [
        "NOT safe to import: 1 error(s), 0 warning(s)",
        f"  {interactions.resolve()}:7 [EVENT_VALUE]: error: row has 5 field(s) "
        "where the header has 6 (no field for EVENT_VALUE); check the delimiter and "
        "the quoting, or add the missing fields (an empty field still needs its "
        "delimiter) (csv)",
    ]
    assert lines[2].startswith("  skipped: Personalize's minimums")
    assert lines[3].startswith("  skipped: users without interactions")
    assert (data["error_count"], data["warning_count"]) == (1, 0)
    assert data["problems"][0]["line"] == 7
    assert len(data["skipped"]) == 2


def test_validate_sums_up_many_warnings_of_one_kind(config: Path) -> None:
    users = config.parent / "prepared" / "users.csv"
    extra = "".join(f"ghost{n},Mars\n" for n in range(30))
    users.write_text(users.read_text(encoding="utf-8") + extra, encoding="utf-8")

    result = invoke(config, "validate")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "safe to import: 0 error(s), 30 warning(s)",
        f"  {users.resolve()} [USER_ID]: warning: 30 users have no interactions, "
        "e.g. 'ghost0' (line 62), 'ghost1' (line 63), 'ghost2' (line 64) "
        "(unused_user)",
    ]


def test_import_prints_its_validation_warnings_summed_up(config: Path) -> None:
    users = config.parent / "prepared" / "users.csv"
    extra = "".join(f"ghost{n},Mars\n" for n in range(30))
    users.write_text(users.read_text(encoding="utf-8") + extra, encoding="utf-8")

    result = invoke(config, "import")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "import jobs:"
    assert lines[1].startswith("  INTERACTIONS: arn:aws:personalize:")
    assert lines[3] == "validation: safe to import: 0 error(s), 30 warning(s)"
    assert lines[4].startswith(
        f"  {users.resolve()} [USER_ID]: warning: 30 users have no interactions, "
    )
    assert "ghost3" not in result.stdout


# -- Ctrl-C ---


def interrupted(*_args: object, **_kwargs: object) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("command", "target", "kept"),
    [
        (["prep-data"], "airctx.pipeline.prep.prep_data", "the prepared files in "),
        (["validate"], "airctx.pipeline.imports.validate", "nothing was changed."),
        (["status"], "airctx.pipeline.status.status", "nothing was changed."),
        (
            ["recommend", "--user", "u1"],
            "airctx.pipeline.query.recommend",
            "nothing was changed.",
        ),
        (
            ["create-schemas"],
            "airctx.pipeline.resources.create_schemas",
            "what was created is kept; running `airctx create-schemas` again",
        ),
        (
            ["track-event", "--user", "u1", "--item", "item1"],
            "airctx.pipeline.query.track_event",
            "the event may or may not have been recorded.",
        ),
    ],
    ids=["prep-data", "validate", "status", "recommend", "create-schemas", "event"],
)
def test_ctrl_c_exits_130_saying_what_was_kept(
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    target: str,
    kept: str,
) -> None:
    monkeypatch.setattr(target, interrupted)

    result = invoke(config, *command)

    assert result.exit_code == 130, result.output
    assert result.stderr == "\nInterrupted; " + kept + result.stderr.split(kept)[1]
    assert result.stderr.count("\n") == 2  # one line, after the ^C the shell shows
    assert "Aborted" not in result.output


def test_ctrl_c_during_prep_data_keeps_the_previous_prepared_files(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airctx.data.prep as prep_module

    prepared = tmp_path / "prepared"
    before = {p.name: p.read_bytes() for p in prepared.iterdir()}
    source = tmp_path / "input.csv"
    source.write_text(
        (prepared / "interactions.csv")
        .read_text(encoding="utf-8")
        .replace("RATING,6", "RATING,7"),
        encoding="utf-8",
    )
    write = prep_module._write_interactions

    def write_then_stop(*args: Any, **kwargs: Any) -> None:
        write(*args, **kwargs)  # every row is in the temporary file by now
        raise KeyboardInterrupt

    monkeypatch.setattr(prep_module, "_write_interactions", write_then_stop)

    result = invoke(config, "prep-data", "--input", str(source))

    assert result.exit_code == 130, result.output
    assert result.stderr.endswith(
        f"\nInterrupted; the prepared files in {prepared} are as they were: they "
        "are replaced only once the new ones are complete.\n"
    )
    assert {p.name: p.read_bytes() for p in prepared.iterdir()} == before


def test_a_real_sigint_during_prep_data_exits_130(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    prepared = tmp_path / "prepared"
    before = {p.name: p.read_bytes() for p in prepared.iterdir()}
    rows = (prepared / "interactions.csv").read_text(encoding="utf-8").splitlines()
    big = tmp_path / "big.csv"
    with open(big, "w", encoding="utf-8") as fh:
        fh.write(rows[0] + "\n")
        for n in range(400):  # each copy with other timestamps: no duplicates
            fh.writelines(row.replace(",1", f",{n}1", 1) + "\n" for row in rows[1:])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airctx",
            "--config",
            str(config),
            "prep-data",
            "--input",
            str(big),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # A shell without job control starts background jobs with SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # the first "rows read": it has begun
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=120)
    finally:
        process.kill()

    assert "rows read" in first, first + err
    assert process.returncode == 130, first + err
    assert err.rstrip().endswith(
        "they are replaced only once the new ones are complete."
    )
    assert "Traceback" not in err and "Aborted" not in err
    assert {p.name: p.read_bytes() for p in prepared.iterdir()} == before


def test_a_configuration_not_saved_as_utf8_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "t25.yaml"
    path.write_bytes(b"# caf\xe9\nproject: x\n")

    result = invoke(path, "status")

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {path}: line 1 is not UTF-8 text (byte 0xe9); save the file as UTF-8\n"
    )


# -- text output ---


def test_text_output_leaves_out_keys_whose_value_is_none() -> None:
    from airctx.cli.output import render_mapping

    text = render_mapping(
        {
            "users_input": None,
            "rows_read": 3,
            "nested": {"trainingHours": None, "reused": False},
            "only_nulls": {"a": None},
            "listed": [None, 1],
        }
    )

    assert "None" not in text
    assert text.splitlines() == [
        "rows_read: 3",
        "nested:",
        "  reused: False",
        "only_nulls: {}",
        "listed:",
        "  - -",
        "  - 1",
    ]


def test_a_table_cell_of_none_is_blank() -> None:
    from airctx.cli.output import render_table

    assert render_table([("a", None), ("bb", 1)], ("k", "v")).splitlines() == [
        "k   v",
        "--  -",
        "a",
        "bb  1",
    ]


def test_prep_data_text_output_shows_no_none_and_json_keeps_null(
    config: Path, tmp_path: Path
) -> None:
    from tests.unit.test_data_prep import SKYTRAX_HEADER, skytrax_row

    raw = tmp_path / "airline.csv"
    raw.write_text(f"{SKYTRAX_HEADER}\n{skytrax_row()}\n", encoding="utf-8")

    text = invoke(config, "prep-data", "--input", str(raw), "-q")
    as_json = invoke(config, "prep-data", "--input", str(raw), "-q", "-o", "json")

    assert text.exit_code == 0, text.output
    assert "None" not in text.stdout
    assert "users_input" not in text.stdout
    assert "rows_read: 1" in text.stdout.splitlines()
    assert json.loads(as_json.stdout)["users_input"] is None


def test_train_without_waiting_prints_no_training_hours_in_text(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airctx.pipeline import train as train_module

    def started(*_args: object, **_kwargs: object) -> train_module.TrainResult:
        return train_module.TrainResult("arn:solution", "arn:version", reused=False)

    monkeypatch.setattr(train_module, "train", started)

    text = invoke(config, "train", "--no-wait", "-q")
    as_json = invoke(config, "train", "--no-wait", "-q", "-o", "json")

    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines() == [
        "solutionArn: arn:solution",
        "solutionVersionArn: arn:version",
        "reused: False",
        "metrics: {}",
        "tunedHyperParameters: {}",
    ]
    assert json.loads(as_json.stdout)["trainingHours"] is None


# -- a bad value from the environment names its variable ---


@pytest.mark.parametrize(
    ("args", "variable", "value", "flag"),
    [
        (["recommend", "--user", "u1"], "AIRCTX_RECOMMEND_NUM_RESULTS", "abc", "'-n'"),
        (["status"], "AIRCTX_OUTPUT", "xml", "'--output'"),
        (["wait"], "AIRCTX_WAIT_TIMEOUT", "soon", "'--timeout'"),
        (["status"], "AIRCTX_BACKEND", "foo", "'--backend'"),
    ],
    ids=["command option", "shared variable", "wait timeout", "group option"],
)
def test_a_bad_value_from_a_variable_names_the_variable(
    config: Path, args: list[str], variable: str, value: str, flag: str
) -> None:
    result = invoke(config, *args, env={variable: value})

    assert result.exit_code == 2, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: Invalid value for ")
    assert flag in line and f"(from {variable})" in line


def test_a_bad_value_typed_on_the_command_line_names_only_the_flag(
    config: Path,
) -> None:
    result = invoke(
        config,
        "recommend",
        "--user",
        "u1",
        "-n",
        "abc",
        env={"AIRCTX_RECOMMEND_NUM_RESULTS": "5"},
    )

    assert result.exit_code == 2
    assert "(from " not in result.stderr
