"""Shared fixtures: where the real Skytrax data is, and an isolated project."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from airctx.config import DatasetSpec, FieldSpec

REPO = Path(__file__).resolve().parents[1]

# The reference use case's field lists, written out so that data-layer tests do not
# change when someone edits config/airctx.yaml.
INTERACTIONS = DatasetSpec(
    "INTERACTIONS",
    (
        FieldSpec("USER_ID"),
        FieldSpec("ITEM_ID"),
        FieldSpec("TIMESTAMP", "long"),
        FieldSpec("CABIN_TYPE", categorical=True, context=True),
        FieldSpec("EVENT_TYPE"),
        FieldSpec("EVENT_VALUE", "float"),
    ),
)
USERS = DatasetSpec(
    "USERS", (FieldSpec("USER_ID"), FieldSpec("USER_RESIDENCE", categorical=True))
)


def skytrax_dir() -> Path | None:
    """The Skytrax data folder: AIRCTX_DATA_DIR, else ../shared/data/skytrax."""
    candidates = []
    if os.environ.get("AIRCTX_DATA_DIR"):
        candidates.append(Path(os.environ["AIRCTX_DATA_DIR"]))
    candidates.append(REPO.parent / "shared" / "data" / "skytrax")
    for path in candidates:
        if (path / "raw-sample" / "airline.csv").is_file():
            return path
    return None


def aws_cli() -> Path | None:
    """The AWS CLI the test extra installs beside this Python, else one on PATH."""
    beside = Path(sys.executable).with_name("aws")
    if beside.is_file():
        return beside
    found = shutil.which("aws")
    return Path(found) if found else None


AWS_CLI = aws_cli()


@pytest.fixture
def skytrax() -> Path:
    found = skytrax_dir()
    if found is None:
        pytest.skip(
            "Skytrax data not found: set AIRCTX_DATA_DIR or place it at "
            "../shared/data/skytrax"
        )
    return found


def write_project_config(
    root: Path, changes: Mapping[str, str] | None = None, extra: str = ""
) -> Path:
    """Write the reference configuration into ``root``, keeping state and outputs there.

    ``changes`` maps a line of the reference file to its replacement (each must be
    there); ``extra`` is appended. Returns the path of the written ``airctx.yaml``.
    """
    config = (REPO / "config" / "airctx.yaml").read_text(encoding="utf-8")
    edits = {
        "state_dir: ../.airctx": "state_dir: state",
        "output_dir: ../build/data": "output_dir: prepared",
        **(changes or {}),
    }
    for old, new in edits.items():
        if old not in config:
            raise AssertionError(f"config/airctx.yaml has no line {old!r}")
        config = config.replace(old, new, 1)
    config += extra
    path = root / "airctx.yaml"
    path.write_text(config, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_ambient_airctx_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the environment they set themselves."""
    for key in list(os.environ):
        if key.startswith("AIRCTX_") and key != "AIRCTX_DATA_DIR":
            monkeypatch.delenv(key)


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Moto's fake AWS with fake credentials and none of this machine's AWS settings."""
    from moto import mock_aws  # imported here: only the AWS tests pay for moto

    for name in list(os.environ):
        if name.startswith("AWS_") and name != "AWS_CA_BUNDLE":
            monkeypatch.delenv(name)
    (tmp_path / "aws-config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def sample_project(
    root: Path, skytrax: Path, changes: Mapping[str, str] | None = None, extra: str = ""
) -> Path:
    """A project in ``root`` reading its own copy of the raw sample (``root/data``)."""
    copy_sample(skytrax, root / "data" / "raw-sample")
    data = {"data_dir: ../../shared/data/skytrax": "data_dir: data"}
    return write_project_config(root, {**data, **(changes or {})}, extra)


def copy_sample(skytrax: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(skytrax / "raw-sample" / "airline.csv", target / "airline.csv")
    return target / "airline.csv"
