"""Checks made before anything is created: the solution's hyperparameters against
the backend's recipe, and on AWS the bucket and role an import will need."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from airctx.aws.session import create_clients
from airctx.config import Settings, load_settings
from airctx.errors import ConfigError, ResourceError
from airctx.pipeline.imports import import_data
from airctx.pipeline.project import Project
from airctx.pipeline.resources import create_schemas
from airctx.pipeline.run import run_all
from airctx.pipeline.solution_config import check_solution_config
from airctx.pipeline.train import train
from tests.conftest import write_project_config
from tests.unit.test_pipeline_steps import Harness, write_project

BUCKET = "airctx-preflight"


def reference(tmp_path: Path, backend: str = "local") -> Settings:
    """The shipped configuration (HPO on the local engine's weights)."""
    return load_settings(write_project_config(tmp_path), {"backend": backend})


def with_solution(settings: Settings, **changes: Any) -> Settings:
    hpo_changes = {
        k: changes.pop(k) for k in ("ranges", "max_training_jobs") if k in changes
    }
    solution = replace(settings.solution, **changes)
    if hpo_changes:
        solution = replace(solution, hpo=replace(solution.hpo, **hpo_changes))
    return replace(settings, solution=solution)


# -- the local engine's recipes ---


def test_the_reference_configuration_passes_on_the_local_backend(
    tmp_path: Path,
) -> None:
    check_solution_config(reference(tmp_path))


def test_a_categorical_range_on_a_numeric_hyperparameter_is_refused(
    tmp_path: Path,
) -> None:
    settings = with_solution(
        reference(tmp_path),
        ranges={"context_weight": {"type": "categorical", "values": ["low", "high"]}},
    )

    with pytest.raises(ConfigError) as caught:
        check_solution_config(settings)

    message = str(caught.value)
    assert message.startswith(f"{settings.config_path}: ")
    assert "solution.hpo.ranges.context_weight: context_weight is a number" in message
    assert "{type: continuous, min: ..., max: ...}" in message


def test_a_misspelt_aws_name_on_the_local_backend_lists_both_kinds_of_name(
    tmp_path: Path,
) -> None:
    settings = with_solution(
        reference(tmp_path),
        ranges={"hidden_dimensoin": {"type": "integer", "min": 32, "max": 64}},
    )

    with pytest.raises(ConfigError) as caught:
        check_solution_config(settings)

    message = str(caught.value)
    assert message.startswith(
        f"{settings.config_path}: solution.hpo.ranges.hidden_dimensoin: the local "
        "engine's aws-user-personalization has no hyperparameter 'hidden_dimensoin' "
        "(did you mean hidden_dimension?). It accepts the local weights, which it "
        "tunes: context_smoothing, "
    )
    local, aws = message.split("; and Amazon Personalize's names")
    weights = local.split("which it tunes: ")[1]
    assert "context_weight" in weights and "hidden_dimension" not in weights
    assert aws.startswith(
        " for aws-user-personalization, accepted so that the file also works with "
        "--backend aws, but not tuned here: bptt, hidden_dimension, "
    )
    assert "recency_mask" in aws and "context_weight" not in aws


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"ranges": {"contex_weight": {"type": "continuous", "min": 0, "max": 1}}},
            "solution.hpo.ranges.contex_weight: the local engine's "
            "aws-user-personalization has no hyperparameter 'contex_weight' (did "
            "you mean context_weight?). It accepts the local weights, which it "
            "tunes: context_smoothing, context_weight, ",
        ),
        (
            {"algorithm_hyperparameters": {"history_weight": "lots"}},
            "solution.algorithm_hyperparameters.history_weight: 'lots' is not a number",
        ),
        (
            {"algorithm_hyperparameters": {"historyweight": "1"}},
            "solution.algorithm_hyperparameters.historyweight: the local engine's",
        ),
        (
            {"algorithm_hyperparameters": {"history_weight": "inf"}},
            "solution.algorithm_hyperparameters.history_weight: 'inf' is not a "
            "finite number",
        ),
        (
            {"algorithm_hyperparameters": {"history_weight": "nan"}},
            "solution.algorithm_hyperparameters.history_weight: 'nan' is not a "
            "finite number",
        ),
    ],
    ids=["unknown-range", "not-a-number", "unknown-value", "inf", "nan"],
)
def test_hyperparameters_the_local_recipe_lacks_are_named(
    tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    settings = with_solution(reference(tmp_path), **changes)

    with pytest.raises(ConfigError) as caught:
        check_solution_config(settings)

    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {
                "ranges": {
                    "context_weight": {"type": "continuous", "min": -5, "max": 0.5}
                }
            },
            "solution.hpo.ranges.context_weight: min -5 to max 0.5 goes outside the "
            "values the local engine's aws-user-personalization accepts for "
            "context_weight, 0 to 100; narrow the range",
        ),
        (
            {"ranges": {"rerank_rounds": {"type": "integer", "min": 1, "max": 50}}},
            "solution.hpo.ranges.rerank_rounds: min 1 to max 50 goes outside the "
            "values the local engine's aws-user-personalization accepts for "
            "rerank_rounds, 1 to 20",
        ),
        (
            {"algorithm_hyperparameters": {"rating_weight": "1.5"}},
            "solution.algorithm_hyperparameters.rating_weight: 1.5 is outside the "
            "values the local engine's aws-user-personalization accepts for "
            "rating_weight, 0 to 1",
        ),
    ],
    ids=["range-below", "range-above", "value"],
)
def test_values_outside_the_local_bounds_are_refused(
    tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    settings = with_solution(reference(tmp_path), **changes)

    with pytest.raises(ConfigError) as caught:
        check_solution_config(settings)

    assert str(caught.value).startswith(f"{settings.config_path}: {expected}")


def test_a_range_at_the_local_bounds_passes(tmp_path: Path) -> None:
    settings = with_solution(
        reference(tmp_path),
        ranges={"rating_weight": {"type": "continuous", "min": 0, "max": 1}},
        algorithm_hyperparameters={"rerank_rounds": "20"},
    )

    check_solution_config(settings)


def test_amazon_personalize_names_are_accepted_by_the_local_engine(
    tmp_path: Path,
) -> None:
    settings = with_solution(
        reference(tmp_path),
        ranges={"hidden_dimension": {"type": "integer", "min": 32, "max": 256}},
        algorithm_hyperparameters={"bptt": "16"},
    )

    check_solution_config(settings)


def test_ranges_are_not_checked_when_hpo_is_off(tmp_path: Path) -> None:
    settings = with_solution(
        reference(tmp_path),
        perform_hpo=False,
        ranges={"nonsense": {"type": "categorical", "values": ["a"]}},
    )

    check_solution_config(settings)


def test_botocore_checks_the_create_solution_request(tmp_path: Path) -> None:
    settings = with_solution(
        reference(tmp_path),
        ranges={"rerank_rounds": {"type": "integer", "min": -2_000_000, "max": 3}},
    )

    with pytest.raises(ConfigError) as caught:
        check_solution_config(settings)

    message = str(caught.value)
    assert message.startswith(f"{settings.config_path}: solution.hpo would make an ")
    assert "integerHyperParameterRanges[0].minValue" in message
    assert "valid min value: -1000000" in message


# -- Amazon Personalize's recipes ---


def test_the_reference_configuration_passes_on_the_aws_backend(
    tmp_path: Path,
) -> None:
    check_solution_config(reference(tmp_path, backend="aws"))


LOCAL_WEIGHTS = {
    name: {"type": "continuous", "min": 0.0, "max": 3.0}
    for name in ("context_weight", "history_weight", "metadata_weight")
}


def test_local_engine_weights_are_refused_on_the_aws_backend(tmp_path: Path) -> None:
    settings = with_solution(reference(tmp_path, backend="aws"), ranges=LOCAL_WEIGHTS)

    with pytest.raises(ConfigError) as caught:
        check_solution_config(settings)

    assert str(caught.value) == (
        f"{settings.config_path}: on the aws backend solution.hpo.ranges names "
        "context_weight, history_weight, metadata_weight: hyperparameters of the "
        "local engine's aws-user-personalization, which Amazon Personalize does not "
        "have. Amazon Personalize's aws-user-personalization tunes bptt (integer), "
        "hidden_dimension (integer), recency_mask (categorical). Use those names, set "
        "solution.perform_hpo: false, or keep a separate configuration file for the "
        "aws backend (--config). Nothing was created."
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {
                "perform_hpo": False,
                "algorithm_hyperparameters": {"history_weight": "2"},
            },
            "solution.algorithm_hyperparameters names history_weight: hyperparameters "
            "of the local engine's",
        ),
        (
            {
                "ranges": {
                    "min_user_history_length_percentile": {
                        "type": "continuous",
                        "min": 0,
                        "max": 0.1,
                    }
                }
            },
            "names min_user_history_length_percentile, which Amazon Personalize does "
            "not tune (set it in solution.algorithm_hyperparameters instead)",
        ),
        (
            {"ranges": {"hiden_dimension": {"type": "integer", "min": 32, "max": 64}}},
            "names hiden_dimension, which Amazon Personalize's "
            "aws-user-personalization does not have (did you mean hidden_dimension?)",
        ),
        (
            {
                "ranges": {
                    "hidden_dimension": {"type": "categorical", "values": ["32", "64"]}
                }
            },
            "solution.hpo.ranges.hidden_dimension has type categorical, but Amazon "
            "Personalize tunes hidden_dimension as integer (write type: integer)",
        ),
        (
            {"ranges": {"bptt": {"type": "continuous", "min": 8, "max": 32}}},
            "solution.hpo.ranges.bptt has type continuous, but Amazon Personalize "
            "tunes bptt as integer",
        ),
        (
            {"ranges": {"recency_mask": {"type": "integer", "min": 0, "max": 1}}},
            "solution.hpo.ranges.recency_mask has type integer, but Amazon "
            "Personalize tunes recency_mask as categorical",
        ),
        (
            {
                "recipe": "aws-sims",
                "ranges": {
                    "min_cointeraction_count": {
                        "type": "continuous",
                        "min": 1,
                        "max": 3,
                    }
                },
            },
            "solution.hpo.ranges.min_cointeraction_count has type continuous, but "
            "Amazon Personalize tunes min_cointeraction_count as integer",
        ),
    ],
    ids=[
        "local-value",
        "not-tunable",
        "typo",
        "categorical-for-integer",
        "continuous-for-integer",
        "integer-for-categorical",
        "sims-continuous-for-integer",
    ],
)
def test_names_amazon_personalize_would_reject_are_refused(
    tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    settings = with_solution(reference(tmp_path, backend="aws"), **changes)

    with pytest.raises(ConfigError) as caught:
        check_solution_config(settings)

    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("recipe", "ranges", "values"),
    [
        (
            "aws-user-personalization",
            {
                "hidden_dimension": {"type": "integer", "min": 32, "max": 256},
                "recency_mask": {"type": "categorical", "values": ["true", "false"]},
            },
            {"max_user_history_length_percentile": "0.99"},
        ),
        (
            "aws-sims",
            {"popularity_discount_factor": {"type": "continuous", "min": 0, "max": 1}},
            {"min_cointeraction_count": "2"},
        ),
    ],
    ids=["user-personalization", "sims"],
)
def test_amazon_personalize_names_pass_on_the_aws_backend(
    tmp_path: Path, recipe: str, ranges: dict[str, Any], values: dict[str, str]
) -> None:
    settings = with_solution(
        reference(tmp_path, backend="aws"),
        recipe=recipe,
        ranges=ranges,
        algorithm_hyperparameters=values,
    )

    check_solution_config(settings)


# -- where the checks run ---


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(load_settings(write_project(tmp_path)))
    yield h
    h.engine.close()


CATEGORICAL_WEIGHT = {"context_weight": {"type": "categorical", "values": ["1", "2"]}}


def test_train_refuses_a_bad_range_before_creating_the_solution(
    harness: Harness,
) -> None:
    import_data(harness.project)
    harness.bind(
        with_solution(
            harness.project.settings, perform_hpo=True, ranges=CATEGORICAL_WEIGHT
        )
    )

    with pytest.raises(ConfigError, match=r"solution\.hpo\.ranges\.context_weight"):
        train(harness.project)

    assert harness.calls("CreateSolution") == []


NO_DATA = (
    r"the INTERACTIONS dataset synth-interactions \(arn:aws:personalize:us-east-1:"
    r"000000000000:dataset/synth/INTERACTIONS\) holds no imported data"
)


def test_train_before_import_is_refused_before_the_solution_is_created(
    harness: Harness,
) -> None:
    create_schemas(harness.project)

    with pytest.raises(ResourceError, match=NO_DATA) as caught:
        train(harness.project)

    assert "run `airctx import` (or `airctx run`) first" in str(caught.value)
    assert "Nothing was created" in str(caught.value)
    assert harness.calls("CreateSolution") == []
    assert harness.calls("CreateSolutionVersion") == []
    assert not any(line.startswith("warning:") for line in harness.reports)


def test_train_after_a_failed_import_gives_the_failure_reason(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_schemas(harness.project)
    # The engine fails the import job as it would a file it cannot read.
    monkeypatch.setattr(harness.engine.control, "submit", lambda arn, action: None)
    dataset = harness.project.find(
        "ListDatasets",
        "datasets",
        "datasetType",
        "INTERACTIONS",
        datasetGroupArn=harness.project.dataset_group_arn(),
    )["datasetArn"]
    job = harness.clients.personalize.create_dataset_import_job(
        jobName="broken",
        datasetArn=dataset,
        dataSource={"dataLocation": "/nowhere.csv"},
    )["datasetImportJobArn"]
    harness.engine.executor.fail(job, "Input file /nowhere.csv does not exist")

    with pytest.raises(ResourceError, match=NO_DATA) as caught:
        train(harness.project)

    assert (
        "its import job broken ended CREATE FAILED: Input file /nowhere.csv does not "
        "exist" in str(caught.value)
    )
    assert harness.calls("CreateSolution") == []


def test_train_while_the_first_import_runs_says_to_wait(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.project.wait = False
    monkeypatch.setattr(harness.engine.control, "submit", lambda arn, action: None)
    started = import_data(harness.project).jobs["INTERACTIONS"]

    with pytest.raises(ResourceError, match=NO_DATA) as caught:
        train(harness.project)

    name = started.rsplit("/", 1)[-1]
    assert f"import job {name} is still running. Run `airctx wait`" in str(caught.value)
    assert harness.calls("CreateSolution") == []


def test_train_on_changed_prepared_data_warns_and_trains_on_the_imported(
    harness: Harness,
) -> None:
    # Imported, then prepared again with a row fewer: the data imported is what
    # trains, with a warning that the prepared file was not imported.
    import_data(harness.project)
    path = harness.project.settings.prepared_csv("INTERACTIONS")
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))

    result = train(harness.project)

    assert result.solution_version_arn
    assert (
        "warning: the prepared interactions differ from what the dataset holds; run "
        "`airctx import` first to train on them" in harness.reports
    )


def test_run_refuses_a_bad_range_before_preparing_anything(
    harness: Harness, tmp_path: Path
) -> None:
    settings = with_solution(
        harness.project.settings, perform_hpo=True, ranges=CATEGORICAL_WEIGHT
    )
    harness.bind(settings)
    prepared = settings.prepared_csv("INTERACTIONS").read_bytes()

    with pytest.raises(ConfigError, match=r"solution\.hpo\.ranges\.context_weight"):
        run_all(settings, harness.project, input_path=tmp_path / "absent.csv")

    assert settings.prepared_csv("INTERACTIONS").read_bytes() == prepared
    assert [name for name, _params in harness.requests] == ["ListRecipes"]


def test_local_weights_on_the_aws_backend_are_refused_before_any_schema(
    harness: Harness,
) -> None:
    # The clients still answer from the local engine: only the backend name changes.
    settings = with_solution(
        replace(harness.project.settings, backend="aws"),
        perform_hpo=True,
        ranges={"context_weight": {"type": "continuous", "min": 0, "max": 3}},
    )
    harness.bind(settings)

    with pytest.raises(ConfigError, match="context_weight"):
        create_schemas(harness.project)

    assert harness.requests == []


# -- the aws backend's bucket and role ---


class AwsProject:
    """An aws-backend project on moto, recording every Personalize request."""

    def __init__(self, root: Path, aws: str) -> None:
        path = write_project(root, "aws:\n" + aws)
        self.settings = load_settings(path, {"backend": "aws"})
        self.clients = create_clients(boto3.Session(region_name="us-east-1"))
        self.personalize_calls: list[str] = []
        self.clients.personalize.meta.events.register(
            "before-call.personalize.*", self._record
        )
        self.project = Project(self.settings, self.clients)

    def _record(self, model: Any, **_kw: Any) -> None:
        self.personalize_calls.append(model.name)


def make_bucket() -> None:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)


def test_a_missing_bucket_is_reported_before_any_personalize_call(
    moto_aws: None, tmp_path: Path
) -> None:
    aws = AwsProject(tmp_path, f"  bucket: {BUCKET}\n")

    with pytest.raises(ResourceError) as caught:
        import_data(aws.project)

    assert f"bucket s3://{BUCKET} does not exist" in str(caught.value)
    assert "aws.create_bucket: true" in str(caught.value)
    assert aws.personalize_calls == []


def test_a_wrong_role_arn_is_reported_before_any_personalize_call(
    moto_aws: None, tmp_path: Path
) -> None:
    make_bucket()
    role = "arn:aws:iam::123456789012:role/no-such-role"
    aws = AwsProject(tmp_path, f"  bucket: {BUCKET}\n  role_arn: {role}\n")

    with pytest.raises(ResourceError, match=f"IAM role {role} not found"):
        import_data(aws.project)

    assert aws.personalize_calls == []
    s3 = boto3.client("s3", region_name="us-east-1")
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_an_unset_bucket_names_the_configuration_file(
    moto_aws: None, tmp_path: Path
) -> None:
    aws = AwsProject(tmp_path, "  prefix: airctx\n")

    with pytest.raises(ResourceError) as caught:
        import_data(aws.project)

    assert f"set aws.bucket in {aws.settings.config_path}" in str(caught.value)
    assert aws.personalize_calls == []


def test_a_bucket_airctx_may_create_passes_the_check_without_being_created(
    moto_aws: None, tmp_path: Path
) -> None:
    from airctx.pipeline.imports import check_staging

    aws = AwsProject(tmp_path, f"  bucket: {BUCKET}\n  create_bucket: true\n")

    check_staging(aws.project)

    names = [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    assert BUCKET not in names


@pytest.mark.parametrize(
    ("bucket", "message"),
    [
        ("s3://my-bucket", "give the name alone, without the s3:// scheme"),
        ("s3://my-bucket/data/", "(aws.bucket: my-bucket;"),
        ("Bad_Bucket", "'Bad_Bucket' is not a valid S3 bucket name"),
        ("ab", "'ab' is 2 characters long; a bucket name has 3 to 63"),
        ("b" * 64, "is 64 characters long"),
        ("10.0.0.1", "formatted as an IP address"),
    ],
    ids=["scheme", "scheme-and-path", "uppercase-underscore", "short", "long", "ip"],
)
def test_a_bucket_s3_could_never_have_is_refused_before_any_call(
    moto_aws: None, tmp_path: Path, bucket: str, message: str
) -> None:
    aws = AwsProject(tmp_path, f"  bucket: '{bucket}'\n")

    with pytest.raises(ConfigError) as caught:
        import_data(aws.project)

    assert str(caught.value).startswith(f"aws.bucket in {aws.settings.config_path}:")
    assert message in str(caught.value)
    assert "does not exist" not in str(caught.value)
    assert aws.personalize_calls == []


def test_a_bad_bucket_name_comes_with_a_valid_suggestion() -> None:
    from airctx.aws.s3 import bucket_name_problem

    assert (bucket_name_problem("Bad_Bucket") or "").endswith("e.g. bad-bucket")
    assert bucket_name_problem("my.bucket-1") is None
