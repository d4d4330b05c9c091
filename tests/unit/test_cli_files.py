"""Files and folders the CLI is pointed at: clear errors, nothing made by reading."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from airctx.cli.main import cli
from tests.unit.test_pipeline_steps import write_project


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_project(tmp_path)


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    """A regular file where a folder is expected."""
    path = tmp_path / "afile"
    path.write_text("not a folder\n", encoding="utf-8")
    return path


def invoke(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], env=env)


def set_in_config(config: Path, old: str, new: str) -> None:
    text = config.read_text(encoding="utf-8")
    assert old in text
    config.write_text(text.replace(old, new, 1), encoding="utf-8")


def one_line(text: str) -> str:
    return " ".join(text.split())


# -- a folder that cannot be created ---


@pytest.mark.parametrize(
    ("how", "named"),
    [("--state-dir", "--state-dir"), ("AIRCTX_STATE_DIR", "AIRCTX_STATE_DIR")],
)
def test_a_state_dir_under_a_file_is_a_usage_error(
    config: Path, a_file: Path, how: str, named: str
) -> None:
    state = str(a_file / "sub")
    if how == "--state-dir":
        result = invoke(config, "--state-dir", state, "create-schemas")
    else:
        result = invoke(config, "create-schemas", env={how: state})

    assert result.exit_code == 2, result.output
    assert f"{a_file} is a file, not a folder" in one_line(result.stderr)
    assert "Traceback" not in result.output
    if how != "--state-dir":
        assert f"(from {named})" in result.stderr


@pytest.mark.parametrize("command", ["create-schemas", "status"])
def test_a_configured_state_dir_under_a_file_names_the_setting(
    config: Path, a_file: Path, command: str
) -> None:
    set_in_config(config, "state_dir: state", f"state_dir: {a_file / 'sub'}")

    result = invoke(config, command)

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert one_line(result.stderr) == (
        f"Error: cannot use the local state folder {a_file / 'sub'} (from "
        f"state_dir in {config}): {a_file} is a file, not a folder. Point state_dir "
        f"in {config} at a folder airctx can create and write in"
    )


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_state_dir_that_cannot_be_created_names_the_variable(config: Path) -> None:
    # Nobody, root included, may create a folder at the top of /proc.
    state = "/proc/airctx-no-such-folder"

    result = invoke(config, "create-schemas", env={"AIRCTX_STATE_DIR": state})

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert one_line(result.stderr) == (
        f"Error: cannot use the local state folder {state} (from AIRCTX_STATE_DIR): "
        "no such file or directory. Point AIRCTX_STATE_DIR at a folder airctx can "
        "create and write in"
    )


def test_an_output_dir_under_a_file_names_the_setting(
    config: Path, a_file: Path, tmp_path: Path
) -> None:
    set_in_config(config, "output_dir: prepared", f"output_dir: {a_file / 'data'}")
    source = tmp_path / "prepared" / "interactions.csv"

    result = invoke(config, "prep-data", "--input", str(source))

    assert result.exit_code == 1, result.output
    assert one_line(result.stderr) == (
        f"Error: cannot use the prepared-data folder {a_file / 'data'} (from "
        f"data.output_dir in {config}): {a_file} is a file, not a folder. Point "
        f"data.output_dir in {config} at a folder airctx can create and write in"
    )


# -- reading creates nothing ---

READ_ONLY = [
    ["status"],
    ["metrics"],
    ["recommend", "--user", "u1"],
    ["rank", "--user", "u1", "--items", "item1,item2"],
    ["wait"],
    ["validate"],
    ["teardown", "--dry-run"],
    ["teardown", "--yes"],
]


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a[:2]))
def test_reading_a_project_that_never_ran_creates_no_state_folder(
    config: Path, tmp_path: Path, args: list[str]
) -> None:
    result = invoke(config, *args)

    # rank on this user-personalization project is a usage error (exit 2).
    expected = (2,) if args[0] == "rank" else (0, 1)
    assert result.exit_code in expected, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "state").exists()


def test_status_of_a_project_that_never_ran_says_there_is_no_state_yet(
    config: Path, tmp_path: Path
) -> None:
    result = invoke(config, "status")

    assert result.exit_code == 0
    assert result.stderr == (
        f"nothing found for project synth (no local state in {tmp_path / 'state'} "
        "yet; `airctx run` creates it)\n"
    )


def test_the_first_write_creates_the_state_folder(config: Path, tmp_path: Path) -> None:
    assert invoke(config, "status").exit_code == 0

    assert invoke(config, "create-schemas", "-q").exit_code == 0

    assert (tmp_path / "state" / "engine" / "personalize.db").is_file()
    status = invoke(config, "status")
    assert "dataset-group" in status.stdout and "no local state" not in status.stderr


# -- paths given on the command line: usage errors ---


@pytest.mark.parametrize("command", ["prep-data", "run"])
@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/no/such/input.csv", "Error: --input /no/such/input.csv: no such file at"),
        ("/", "Error: Invalid value for '--input': File '/' is a directory."),
        (
            "/dev/null",
            "Error: --input /dev/null: not a regular file (it is a device); give a "
            "CSV file",
        ),
    ],
    ids=["missing", "folder", "device"],
)
def test_an_input_that_is_not_a_file_is_a_usage_error(
    config: Path, command: str, path: str, message: str
) -> None:
    result = invoke(config, command, "--input", path)

    assert result.exit_code == 2, result.output
    assert f" {command} [OPTIONS]\nTry " in result.stderr  # the command's usage
    assert message in result.stderr


def test_a_users_input_that_is_not_a_file_is_a_usage_error(
    config: Path, tmp_path: Path
) -> None:
    source = tmp_path / "prepared" / "interactions.csv"

    result = invoke(
        config, "prep-data", "--input", str(source), "--users-input", "/dev/null"
    )

    assert result.exit_code == 2, result.output
    assert "--users-input /dev/null: not a regular file (it is a device)" in (
        result.stderr
    )


def test_a_configured_input_that_is_a_device_says_so(config: Path) -> None:
    set_in_config(config, "input: raw.csv", "input: /dev/null")

    result = invoke(config, "prep-data")

    assert result.exit_code == 1  # the configuration's, not the command line's
    assert result.stderr == (
        "Error: input file /dev/null is not a regular file (it is a device); set "
        "data.input in the configuration to a CSV file\n"
    )


@pytest.mark.parametrize("how", ["--config", "AIRCTX_CONFIG"])
def test_a_configuration_file_that_is_not_there_is_a_usage_error(
    tmp_path: Path, how: str
) -> None:
    missing = str(tmp_path / "nope.yaml")
    if how == "--config":
        result = CliRunner().invoke(cli, ["--config", missing, "status"])
    else:
        result = CliRunner().invoke(cli, ["status"], env={how: missing})

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Usage: cli [OPTIONS] COMMAND")
    origin = "" if how == "--config" else " (from AIRCTX_CONFIG)"
    assert (
        f"'--config' / '-c'{origin}: {missing} does not exist; give the project's "
        "airctx.yaml"
    ) in one_line(result.stderr)


# -- files that are not text ---

CONTROL_BYTES = {chr(c) for c in (*range(0, 9), *range(11, 32), 127)}


def test_a_binary_input_is_not_a_text_csv_file(config: Path, tmp_path: Path) -> None:
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 8)

    result = invoke(config, "prep-data", "--input", str(binary))

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {binary}: not a text CSV file: its first 2,048 bytes hold NUL bytes "
        "(binary data, or UTF-16 text, which has them too); give a UTF-8 CSV file\n"
    )


def test_control_characters_without_nul_bytes_are_not_text_either(
    config: Path, tmp_path: Path
) -> None:
    noise = tmp_path / "noise.csv"
    noise.write_bytes(bytes(range(1, 32)) * 40)

    result = invoke(config, "prep-data", "--input", str(noise))

    assert result.exit_code == 1
    assert "not a text CSV file: its first 1,240 bytes hold 1,040 control " in (
        result.stderr
    )
    assert not CONTROL_BYTES & set(result.stderr)


def test_a_column_name_with_control_characters_is_printed_escaped(
    config: Path, tmp_path: Path
) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_text("USER_ID,ITEM\x1b[31m_ID,TIMESTAMP\nu1,i1,1\n", encoding="utf-8")

    result = invoke(config, "prep-data", "--input", str(odd))

    assert result.exit_code == 1
    assert "found USER_ID, 'ITEM\\x1b[31m_ID', TIMESTAMP" in result.stderr
    assert not CONTROL_BYTES & set(result.stderr)


def test_validate_prints_a_header_with_control_characters_escaped(
    config: Path, tmp_path: Path
) -> None:
    prepared = tmp_path / "prepared" / "interactions.csv"
    lines = prepared.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = lines[0].replace("ITEM_ID", "ITEM\x07ID")
    prepared.write_text("".join(lines), encoding="utf-8")

    result = invoke(config, "validate")

    assert result.exit_code == 1
    assert "USER_ID,'ITEM\\x07ID',TIMESTAMP" in result.stdout
    assert not CONTROL_BYTES & set(result.output)


def test_an_error_message_never_carries_raw_control_characters() -> None:
    from airctx.cli.main import printable

    assert printable("a\x00b\x1b[2Jc\x9b\nd\te é") == "a\\x00b\\x1b[2Jc\\x9b\nd\te é"
