"""The personalize control plane of the local engine: shapes, rules and errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape

from airctx.engine.core import LocalEngine
from airctx.engine.errors import (
    EngineError,
    InvalidInput,
    InvalidNextToken,
    LimitExceeded,
    ResourceAlreadyExists,
    ResourceInUse,
    ResourceNotFound,
)
from tests.unit import test_engine_fixture as fx
from tests.unit.test_engine_fixture import (
    INTERACTIONS_SCHEMA,
    Group,
    clients,
)

engine = fx.engine
dsg = fx.dsg

MODEL = botocore.session.get_session().get_service_model("personalize")
RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization"
PREFIX = "arn:aws:personalize:us-east-1:000000000000:"


def check_shape(document: Any, shape: Shape, where: str) -> None:
    """Every key of ``document`` is a member of ``shape``, recursively."""
    if shape.type_name == "structure":
        assert isinstance(document, dict), where
        unknown = set(document) - set(shape.members)  # type: ignore[attr-defined]
        assert not unknown, f"{where}: keys not in {shape.name}: {unknown}"
        for key, value in document.items():
            check_shape(value, shape.members[key], f"{where}.{key}")  # type: ignore[attr-defined]
    elif shape.type_name == "list":
        assert isinstance(document, list), where
        for index, value in enumerate(document):
            check_shape(value, shape.member, f"{where}[{index}]")  # type: ignore[attr-defined]
    elif shape.type_name == "map":
        assert isinstance(document, dict), where
    elif shape.type_name == "timestamp":
        assert isinstance(document, (int, float)), where
    elif shape.type_name == "string":
        assert isinstance(document, str), f"{where}: {document!r} is not a string"


def call(engine: LocalEngine, operation: str, **params: Any) -> dict[str, Any]:
    """Call the engine directly and check the answer against botocore's output shape."""
    answer = engine.call("personalize", operation, params)
    output = MODEL.operation_model(operation).output_shape
    if output is not None:
        check_shape(answer, output, operation)
    return answer


def raises(
    engine: LocalEngine,
    error: type[EngineError],
    operation: str,
    match: str,
    **params: Any,
) -> EngineError:
    with pytest.raises(error, match=match) as info:
        engine.call("personalize", operation, params)
    return info.value


# -- shapes of every describe and list call --


def test_every_describe_and_list_matches_the_botocore_shapes(dsg: Group) -> None:
    e = dsg.engine
    solution, version = dsg.train()
    campaign = dsg.campaign(version)
    tracker = call(e, "CreateEventTracker", name="trk", datasetGroupArn=dsg.group)
    flt = call(
        e,
        "CreateFilter",
        name="f",
        datasetGroupArn=dsg.group,
        filterExpression='EXCLUDE ItemID WHERE Items.GENRE IN ("short")',
    )
    dsg.wait()
    schema = json.loads(
        json.dumps(
            dsg.pz.describe_dataset(datasetArn=dsg.interactions)["dataset"]["schemaArn"]
        )
    )
    job = dsg.pz.list_dataset_import_jobs()["datasetImportJobs"][0][
        "datasetImportJobArn"
    ]

    described = {
        "DescribeDatasetGroup": {"datasetGroupArn": dsg.group},
        "DescribeDataset": {"datasetArn": dsg.interactions},
        "DescribeSchema": {"schemaArn": schema},
        "DescribeDatasetImportJob": {"datasetImportJobArn": job},
        "DescribeSolution": {"solutionArn": solution},
        "DescribeSolutionVersion": {"solutionVersionArn": version},
        "DescribeCampaign": {"campaignArn": campaign},
        "DescribeEventTracker": {"eventTrackerArn": tracker["eventTrackerArn"]},
        "DescribeFilter": {"filterArn": flt["filterArn"]},
        "DescribeRecipe": {"recipeArn": RECIPE},
        "GetSolutionMetrics": {"solutionVersionArn": version},
    }
    for operation, params in described.items():
        answer = call(e, operation, **params)
        body = next(iter(answer.values()))
        if isinstance(body, dict) and "status" in body:
            assert body["status"] == "ACTIVE", operation
    for operation in (
        "ListDatasetGroups",
        "ListDatasets",
        "ListSchemas",
        "ListDatasetImportJobs",
        "ListSolutions",
        "ListSolutionVersions",
        "ListCampaigns",
        "ListEventTrackers",
        "ListFilters",
        "ListRecipes",
    ):
        answer = call(e, operation)
        listed = next(v for k, v in answer.items() if k != "nextToken")
        assert listed, f"{operation} listed nothing"
    metrics = call(e, "GetSolutionMetrics", solutionVersionArn=version)["metrics"]
    assert "precision_at_5" in metrics


def test_create_answers_carry_the_new_arn(engine: LocalEngine) -> None:
    answer = call(engine, "CreateDatasetGroup", name="g1")
    assert answer == {"datasetGroupArn": PREFIX + "dataset-group/g1"}
    answer = call(
        engine, "CreateSchema", name="s1", schema=json.dumps(INTERACTIONS_SCHEMA)
    )
    assert answer == {"schemaArn": PREFIX + "schema/s1"}


# -- names, not found, already exists --


@pytest.mark.parametrize(
    "name",
    ["", "-lead", "has space", "x" * 64, "dot.name"],
    ids=["empty", "leading-dash", "space", "too-long", "dot"],
)
def test_bad_names_are_invalid_input(engine: LocalEngine, name: str) -> None:
    error = raises(engine, InvalidInput, "CreateDatasetGroup", "name", name=name)
    assert "1-63" in error.message


def test_a_taken_name_is_resource_already_exists(engine: LocalEngine) -> None:
    pz, _, _ = clients(engine)
    pz.create_dataset_group(name="g")
    with pytest.raises(
        pz.exceptions.ResourceAlreadyExistsException, match="dataset-group/g"
    ):
        pz.create_dataset_group(name="g")
    pz.create_schema(name="s", schema=json.dumps(INTERACTIONS_SCHEMA))
    with pytest.raises(pz.exceptions.ResourceAlreadyExistsException):
        pz.create_schema(name="s", schema=json.dumps(INTERACTIONS_SCHEMA))


@pytest.mark.parametrize(
    "operation,key,kind",
    [
        ("DescribeDatasetGroup", "datasetGroupArn", "dataset-group"),
        ("DescribeDataset", "datasetArn", "dataset"),
        ("DescribeSchema", "schemaArn", "schema"),
        ("DescribeSolution", "solutionArn", "solution"),
        ("DescribeSolutionVersion", "solutionVersionArn", "solution"),
        ("DescribeCampaign", "campaignArn", "campaign"),
        ("DescribeFilter", "filterArn", "filter"),
        ("DescribeEventTracker", "eventTrackerArn", "event-tracker"),
        ("DeleteCampaign", "campaignArn", "campaign"),
        ("DeleteSolution", "solutionArn", "solution"),
    ],
    ids=lambda v: v if isinstance(v, str) and v[0].isupper() else "",
)
def test_unknown_arns_are_resource_not_found(
    engine: LocalEngine, operation: str, key: str, kind: str
) -> None:
    pz, _, _ = clients(engine)
    arn = (
        f"{PREFIX}{kind}/nothing/abc"
        if key == "solutionVersionArn"
        else f"{PREFIX}{kind}/nothing"
    )
    method = getattr(
        pz,
        "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_"),
    )
    with pytest.raises(pz.exceptions.ResourceNotFoundException, match="nothing"):
        method(**{key: arn})


def test_an_arn_of_another_kind_is_invalid_input(engine: LocalEngine) -> None:
    raises(
        engine,
        InvalidInput,
        "DescribeDatasetGroup",
        "not a valid dataset-group ARN",
        datasetGroupArn=PREFIX + "schema/x",
    )
    raises(
        engine,
        ResourceNotFound,
        "DescribeRecipe",
        "Could not find recipe",
        recipeArn="arn:aws:personalize:::recipe/aws-nothing",
    )


# -- resource in use --


def test_deleting_used_resources_is_resource_in_use(dsg: Group) -> None:
    pz = dsg.pz
    solution, version = dsg.train()
    campaign = dsg.campaign(version)
    schema = pz.describe_dataset(datasetArn=dsg.interactions)["dataset"]["schemaArn"]

    with pytest.raises(pz.exceptions.ResourceInUseException, match="dataset"):
        pz.delete_dataset_group(datasetGroupArn=dsg.group)
    with pytest.raises(pz.exceptions.ResourceInUseException, match=campaign):
        pz.delete_solution(solutionArn=solution)
    with pytest.raises(pz.exceptions.ResourceInUseException, match=dsg.interactions):
        pz.delete_schema(schemaArn=schema)

    # Deleting in Personalize's order empties the group, then the group goes.
    pz.delete_campaign(campaignArn=campaign)
    assert (
        pz.describe_campaign(campaignArn=campaign)["campaign"]["status"]
        == "DELETE PENDING"
    )
    dsg.wait()
    pz.delete_solution(solutionArn=solution)
    dsg.wait()
    for dataset in (dsg.interactions, dsg.items, dsg.users):
        pz.delete_dataset(datasetArn=dataset)
        dsg.wait()
    pz.delete_schema(schemaArn=schema)
    pz.delete_dataset_group(datasetGroupArn=dsg.group)
    dsg.wait()
    with pytest.raises(pz.exceptions.ResourceNotFoundException):
        pz.describe_dataset_group(datasetGroupArn=dsg.group)
    with pytest.raises(pz.exceptions.ResourceNotFoundException):
        pz.describe_solution_version(solutionVersionArn=version)


def test_deleting_twice_is_resource_in_use(engine: LocalEngine) -> None:
    pz, _, _ = clients(engine)
    group = pz.create_dataset_group(name="g")["datasetGroupArn"]
    engine.runner.join()  # type: ignore[attr-defined]
    engine.control.submit = lambda arn, action: None  # keep the delete pending
    pz.delete_dataset_group(datasetGroupArn=group)
    with pytest.raises(pz.exceptions.ResourceInUseException, match="DELETE PENDING"):
        pz.delete_dataset_group(datasetGroupArn=group)


# -- invalid input --


def test_solution_config_rules(dsg: Group) -> None:
    e = dsg.engine
    base = {"datasetGroupArn": dsg.group, "recipeArn": RECIPE}
    raises(
        e,
        InvalidInput,
        "CreateSolution",
        "eventValueThreshold 'high' is not a number",
        name="a",
        solutionConfig={"eventValueThreshold": "high"},
        **base,
    )
    raises(
        e,
        InvalidInput,
        "CreateSolution",
        "eventValueThreshold",
        name="a",
        solutionConfig={"eventValueThreshold": ["1"]},
        **base,
    )
    raises(
        e,
        InvalidInput,
        "CreateSolution",
        "performHPO is false",
        name="a",
        solutionConfig={"hpoConfig": {}},
        **base,
    )
    raises(
        e,
        InvalidInput,
        "CreateSolution",
        "hpoObjective",
        name="a",
        performHPO=True,
        solutionConfig={"hpoConfig": {"hpoObjective": {"type": "Maximize"}}},
        **base,
    )
    raises(
        e,
        InvalidInput,
        "CreateSolution",
        "maxNumberOfTrainingJobs",
        name="a",
        performHPO=True,
        solutionConfig={
            "hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "41"}}
        },
        **base,
    )
    raises(
        e,
        InvalidInput,
        "CreateSolution",
        "maxParallelTrainingJobs",
        name="a",
        performHPO=True,
        solutionConfig={
            "hpoConfig": {"hpoResourceConfig": {"maxParallelTrainingJobs": "0"}}
        },
        **base,
    )
    raises(
        e,
        InvalidInput,
        "CreateSolution",
        "minValue <= maxValue",
        name="a",
        performHPO=True,
        solutionConfig={
            "hpoConfig": {
                "algorithmHyperParameterRanges": {
                    "integerHyperParameterRanges": [
                        {"name": "hidden_dimension", "minValue": 9, "maxValue": 3}
                    ]
                }
            }
        },
        **base,
    )
    raises(
        e,
        InvalidInput,
        "CreateSolution",
        "banana_weight",
        name="a",
        performHPO=True,
        solutionConfig={
            "hpoConfig": {
                "algorithmHyperParameterRanges": {
                    "continuousHyperParameterRanges": [
                        {"name": "banana_weight", "minValue": 0, "maxValue": 1}
                    ]
                }
            }
        },
        **base,
    )
    raises(
        e,
        InvalidInput,
        "CreateSolution",
        r"'context_weight'.*accepts context_weight from 0 to 100",
        name="a",
        performHPO=True,
        solutionConfig={
            "hpoConfig": {
                "algorithmHyperParameterRanges": {
                    "continuousHyperParameterRanges": [
                        {"name": "context_weight", "minValue": -5, "maxValue": 0.5}
                    ]
                }
            }
        },
        **base,
    )
    raises(
        e,
        InvalidInput,
        "CreateSolution",
        "not a recipe",
        name="a",
        datasetGroupArn=dsg.group,
        recipeArn="arn:aws:personalize:::recipe/x",
    )
    raises(
        e,
        InvalidInput,
        "CreateSolution",
        "performAutoML",
        name="a",
        performAutoML=True,
        **base,
    )


def test_campaign_rules(dsg: Group) -> None:
    e = dsg.engine
    _, version = dsg.train()
    raises(
        e,
        InvalidInput,
        "CreateCampaign",
        "minProvisionedTPS must be an integer >= 1",
        name="c",
        solutionVersionArn=version,
        minProvisionedTPS=0,
    )
    raises(
        e,
        InvalidInput,
        "CreateCampaign",
        "explorationWeight",
        name="c",
        solutionVersionArn=version,
        campaignConfig={"itemExplorationConfig": {"explorationWeight": "2"}},
    )
    raises(
        e,
        InvalidInput,
        "CreateCampaign",
        "unknown key 'weight'",
        name="c",
        solutionVersionArn=version,
        campaignConfig={"itemExplorationConfig": {"weight": "0.3"}},
    )
    campaign = dsg.campaign(version)
    raises(
        e,
        InvalidInput,
        "UpdateCampaign",
        "minProvisionedTPS",
        campaignArn=campaign,
        minProvisionedTPS=0,
    )


def test_import_rules(dsg: Group, tmp_path: Path) -> None:
    e = dsg.engine
    raises(
        e,
        InvalidInput,
        "CreateDatasetImportJob",
        "s3:// locations need the aws",
        jobName="j",
        datasetArn=dsg.interactions,
        dataSource={"dataLocation": "s3://bucket/key.csv"},
    )
    raises(
        e,
        InvalidInput,
        "CreateDatasetImportJob",
        "dataLocation is required",
        jobName="j",
        datasetArn=dsg.interactions,
        dataSource={},
    )
    raises(
        e,
        InvalidInput,
        "CreateDatasetImportJob",
        "importMode",
        jobName="j",
        datasetArn=dsg.interactions,
        importMode="PARTIAL",
        dataSource={"dataLocation": str(tmp_path)},
    )


def test_incremental_import_needs_a_bulk_import_first(engine: LocalEngine) -> None:
    pz, _, _ = clients(engine)
    group = pz.create_dataset_group(name="g")["datasetGroupArn"]
    engine.runner.join()  # type: ignore[attr-defined]
    schema = pz.create_schema(name="s", schema=json.dumps(INTERACTIONS_SCHEMA))[
        "schemaArn"
    ]
    dataset = pz.create_dataset(
        name="d", datasetGroupArn=group, datasetType="INTERACTIONS", schemaArn=schema
    )["datasetArn"]
    engine.runner.join()  # type: ignore[attr-defined]
    with pytest.raises(pz.exceptions.InvalidInputException, match="must be FULL"):
        pz.create_dataset_import_job(
            jobName="j",
            datasetArn=dataset,
            importMode="INCREMENTAL",
            dataSource={"dataLocation": "/x.csv"},
        )


def test_schema_rules(engine: LocalEngine) -> None:
    raises(engine, InvalidInput, "CreateSchema", "not valid JSON", name="s", schema="{")
    raises(
        engine,
        InvalidInput,
        "CreateSchema",
        "Avro record",
        name="s",
        schema=json.dumps({"type": "enum"}),
    )
    pz, _, _ = clients(engine)
    group = pz.create_dataset_group(name="g")["datasetGroupArn"]
    engine.runner.join()  # type: ignore[attr-defined]
    bad = dict(INTERACTIONS_SCHEMA, fields=[{"name": "ITEM_ID", "type": "string"}])
    schema = pz.create_schema(name="bad", schema=json.dumps(bad))["schemaArn"]
    with pytest.raises(pz.exceptions.InvalidInputException, match="USER_ID"):
        pz.create_dataset(
            name="d",
            datasetGroupArn=group,
            datasetType="INTERACTIONS",
            schemaArn=schema,
        )


def test_a_second_dataset_of_one_type_is_already_exists(dsg: Group) -> None:
    schema = dsg.pz.describe_dataset(datasetArn=dsg.items)["dataset"]["schemaArn"]
    with pytest.raises(dsg.pz.exceptions.ResourceAlreadyExistsException, match="ITEMS"):
        dsg.pz.create_dataset(
            name="other",
            datasetGroupArn=dsg.group,
            datasetType="ITEMS",
            schemaArn=schema,
        )


# -- limits --


def test_second_event_tracker_is_limit_exceeded(dsg: Group) -> None:
    dsg.pz.create_event_tracker(name="t1", datasetGroupArn=dsg.group)
    with pytest.raises(dsg.pz.exceptions.LimitExceededException, match="only one"):
        dsg.pz.create_event_tracker(name="t2", datasetGroupArn=dsg.group)


def test_more_than_five_pending_is_limit_exceeded(engine: LocalEngine) -> None:
    engine.control.submit = lambda arn, action: None  # nothing ever leaves PENDING
    for index in range(5):
        call(engine, "CreateDatasetGroup", name=f"g{index}")
    error = raises(
        engine, LimitExceeded, "CreateDatasetGroup", "More than 5", name="g5"
    )
    assert "CREATE PENDING" in error.message


def test_a_concurrent_import_is_limit_exceeded(dsg: Group) -> None:
    dsg.engine.control.submit = lambda arn, action: None
    source = {"dataLocation": str(dsg.data / "interactions.csv")}
    dsg.pz.create_dataset_import_job(
        jobName="j1", datasetArn=dsg.interactions, dataSource=source
    )
    with pytest.raises(dsg.pz.exceptions.LimitExceededException, match="j1"):
        dsg.pz.create_dataset_import_job(
            jobName="j2", datasetArn=dsg.interactions, dataSource=source
        )


@pytest.mark.parametrize(
    ("operation", "naming", "refusal"),
    [
        ("CreateSolutionVersion", "solution_version", "ResourceInUseException"),
        ("CreateDatasetImportJob", "import_job", "LimitExceededException"),
        ("CreateEventTracker", "event_tracker", "LimitExceededException"),
    ],
)
def test_a_second_client_past_the_first_check_is_still_refused(
    dsg: Group,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    naming: str,
    refusal: str,
) -> None:
    # Another client's identical request is stored after this one's first check
    # (while its ARN is being made) and before its own insert.
    solution, _version = dsg.train()
    dsg.engine.control.submit = lambda arn, action: None
    params: dict[str, Any] = {
        "CreateSolutionVersion": {"solutionArn": solution},
        "CreateDatasetImportJob": {
            "jobName": "j1",
            "datasetArn": dsg.interactions,
            "dataSource": {"dataLocation": str(dsg.data / "interactions.csv")},
        },
        "CreateEventTracker": {"name": "t1", "datasetGroupArn": dsg.group},
    }[operation]
    control = dsg.engine.control
    real_naming = getattr(control.arns, naming)
    other: list[Any] = []

    def other_client_first(*args: Any) -> Any:
        if not other:
            other.append(operation)
            other_params = dict(params)
            if "jobName" in other_params:
                other_params["jobName"] = "j0"
            if operation == "CreateEventTracker":
                other_params["name"] = "t0"
            getattr(control, operation)(other_params)
        return real_naming(*args)

    monkeypatch.setattr(control.arns, naming, other_client_first)

    with pytest.raises(getattr(dsg.pz.exceptions, refusal)):
        getattr(dsg.pz, snake(operation))(**params)
    assert len(other) == 1


def snake(operation: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", operation).lower()


# -- pagination --


def test_list_pages_with_max_results_and_next_token(engine: LocalEngine) -> None:
    pz, _, _ = clients(engine)
    for index in range(5):
        pz.create_schema(name=f"s{index}", schema=json.dumps(INTERACTIONS_SCHEMA))
    seen: list[str] = []
    page = pz.list_schemas(maxResults=2)
    pages = 1
    while True:
        seen.extend(s["name"] for s in page["schemas"])
        if "nextToken" not in page:
            break
        page = pz.list_schemas(maxResults=2, nextToken=page["nextToken"])
        pages += 1
    assert pages == 3
    assert sorted(seen) == [f"s{i}" for i in range(5)]
    raises(engine, InvalidNextToken, "ListSchemas", "nextToken", nextToken="garbage!")
    raises(engine, InvalidInput, "ListSchemas", "maxResults", maxResults=0)


def test_paginator_walks_all_pages(engine: LocalEngine) -> None:
    pz, _, _ = clients(engine)
    for index in range(3):
        pz.create_schema(name=f"s{index}", schema=json.dumps(INTERACTIONS_SCHEMA))
    pages = list(
        pz.get_paginator("list_schemas").paginate(PaginationConfig={"PageSize": 1})
    )
    assert [len(p["schemas"]) for p in pages] == [1, 1, 1]


# -- the parent filters of list calls --


def test_list_calls_with_an_unknown_parent_are_not_found(engine: LocalEngine) -> None:
    for operation, key, kind in (
        ("ListSolutions", "datasetGroupArn", "dataset-group"),
        ("ListFilters", "datasetGroupArn", "dataset-group"),
        ("ListEventTrackers", "datasetGroupArn", "dataset-group"),
        ("ListDatasetImportJobs", "datasetArn", "dataset"),
        ("ListCampaigns", "solutionArn", "solution"),
    ):
        raises(
            engine,
            ResourceNotFound,
            operation,
            "nothing",
            **{key: f"{PREFIX}{kind}/nothing"},
        )


def test_update_campaign_while_an_update_is_pending_is_in_use(dsg: Group) -> None:
    _, version = dsg.train()
    campaign = dsg.campaign(version)
    dsg.engine.control.submit = lambda arn, action: None
    dsg.pz.update_campaign(campaignArn=campaign, minProvisionedTPS=2)
    with pytest.raises(dsg.pz.exceptions.ResourceInUseException, match="update"):
        dsg.pz.update_campaign(campaignArn=campaign, minProvisionedTPS=3)


def test_an_update_started_while_another_is_checked_is_in_use(dsg: Group) -> None:
    # Two clients update at once: the second passes the first look before the
    # first one's update is stored, and must still be refused, not queued twice.
    _, version = dsg.train()
    campaign = dsg.campaign(version)
    control = dsg.engine.control
    control.submit = lambda arn, action: None
    real_version = control._version

    def other_client_updates_first(arn: Any) -> Any:
        control.UpdateCampaign({"campaignArn": campaign, "minProvisionedTPS": 2})
        return real_version(arn)

    control._version = other_client_updates_first  # type: ignore[method-assign]
    with pytest.raises(dsg.pz.exceptions.ResourceInUseException, match="update"):
        dsg.pz.update_campaign(campaignArn=campaign, solutionVersionArn=version)
    update = dsg.pz.describe_campaign(campaignArn=campaign)["campaign"][
        "latestCampaignUpdate"
    ]
    assert update["minProvisionedTPS"] == 2


def test_already_exists_error_is_not_raised_for_a_free_name(
    engine: LocalEngine,
) -> None:
    call(engine, "CreateDatasetGroup", name="g")
    with pytest.raises(ResourceAlreadyExists):
        engine.call("personalize", "CreateDatasetGroup", {"name": "g"})
    call(engine, "CreateDatasetGroup", name="g2")


def test_stop_needs_a_version_in_training(dsg: Group) -> None:
    _, version = dsg.train()
    with pytest.raises(dsg.pz.exceptions.InvalidInputException, match="ACTIVE"):
        dsg.pz.stop_solution_version_creation(solutionVersionArn=version)


def test_resource_in_use_when_the_solution_is_not_active(engine: LocalEngine) -> None:
    engine.control.submit = lambda arn, action: None
    call(engine, "CreateDatasetGroup", name="g")
    raises(
        engine,
        ResourceInUse,
        "CreateSolution",
        "CREATE PENDING",
        name="s",
        datasetGroupArn=PREFIX + "dataset-group/g",
        recipeArn=RECIPE,
    )


def test_every_local_recipe_model_is_listed_and_every_listed_recipe_has_one(
    engine: LocalEngine,
) -> None:
    from airctx.engine.recipes import RECIPES as MODELS

    listed = {
        r["name"]
        for r in call(engine, "ListRecipes")["recipes"]
        if r["name"].startswith("aws-")
    }
    assert listed == set(MODELS)
    assert "aws-personalized-ranking-v2" in listed
