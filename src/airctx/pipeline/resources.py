"""Schemas, the dataset group and its datasets: found by name, created when missing.

A schema is immutable on Personalize, so an existing schema whose fields differ from
the configuration is reported with the differences instead of being reused.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from airctx.config import DatasetSpec
from airctx.data.schema import avro_schema, check_spec
from airctx.errors import ResourceConflict
from airctx.pipeline.project import Project, raced
from airctx.pipeline.solution_config import check_solution_config

log = logging.getLogger(__name__)


@dataclass
class Provisioned:
    """ARNs of what the step made or found, and which of them it created now."""

    dataset_group_arn: str = ""
    schemas: dict[str, str] = field(default_factory=dict)
    datasets: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "datasetGroupArn": self.dataset_group_arn,
            "schemas": self.schemas,
            "datasets": self.datasets,
            "created": self.created,
        }


def create_schemas(project: Project) -> Provisioned:
    """Validate the field lists (and the solution's settings, which fail later steps
    otherwise), then make the schemas, dataset group and datasets."""
    settings = project.settings
    for spec in settings.datasets.values():
        check_spec(spec)
    check_solution_config(settings)
    out = Provisioned()
    for kind, spec in settings.datasets.items():
        out.schemas[kind] = _ensure_schema(
            project, settings.schema_name(kind), spec, out
        )
    out.dataset_group_arn = _ensure_dataset_group(project, out)
    for kind in settings.datasets:
        out.datasets[kind] = _ensure_dataset(project, kind, out)
    return out


@raced
def _ensure_schema(
    project: Project, name: str, spec: DatasetSpec, out: Provisioned
) -> str:
    wanted = avro_schema(spec)
    found = project.find("ListSchemas", "schemas", "name", name)
    if found is not None:
        arn = str(found["schemaArn"])
        current = json.loads(
            project.call("DescribeSchema", arn, schemaArn=arn)["schema"]["schema"]
        )
        differences = _schema_differences(current, wanted)
        if differences:
            raise ResourceConflict(
                f"schema {name} ({arn}) already exists with other fields: "
                + "; ".join(differences)
                + ". Schemas cannot change: delete it (`airctx teardown`) or set "
                "another project name"
            )
        project.report(f"schema {name}: exists, unchanged")
        return arn
    arn = str(
        project.call("CreateSchema", name, name=name, schema=json.dumps(wanted))[
            "schemaArn"
        ]
    )
    out.created.append(arn)
    project.report(f"schema {name}: created {arn}")
    return arn


def _schema_differences(current: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    def fields(doc: dict[str, Any]) -> dict[str, Any]:
        return {
            f["name"]: {k: v for k, v in f.items() if k != "name"}
            for f in doc["fields"]
        }

    have, want = fields(current), fields(wanted)
    out = [f"field {n} is missing" for n in want if n not in have]
    out += [f"field {n} is not in the configuration" for n in have if n not in want]
    out += [
        f"field {n} is {have[n]} but the configuration says {want[n]}"
        for n in want
        if n in have and have[n] != want[n]
    ]
    if not out and list(have) != list(want):
        out.append(f"field order {list(have)} differs from {list(want)}")
    return out


@raced
def _ensure_dataset_group(project: Project, out: Provisioned) -> str:
    name = project.settings.dataset_group_name
    found = project.find("ListDatasetGroups", "datasetGroups", "name", name)
    if found is None:
        arn = str(
            project.call("CreateDatasetGroup", name, name=name)["datasetGroupArn"]
        )
        out.created.append(arn)
        project.report(f"dataset group {name}: created {arn}")
    else:
        arn = str(found["datasetGroupArn"])
    project.wait_for(
        "dataset_group", arn, "DescribeDatasetGroup", "datasetGroup", "datasetGroupArn"
    )
    return arn


@raced
def _ensure_dataset(project: Project, kind: str, out: Provisioned) -> str:
    group = out.dataset_group_arn
    found = next(
        (
            d
            for d in project.paginate("ListDatasets", "datasets", datasetGroupArn=group)
            if d.get("datasetType") == kind
        ),
        None,
    )
    schema_arn = out.schemas[kind]
    if found is None:
        name = f"{project.settings.project}-{kind.lower()}"
        arn = str(
            project.call(
                "CreateDataset",
                name,
                name=name,
                schemaArn=schema_arn,
                datasetGroupArn=group,
                datasetType=kind,
            )["datasetArn"]
        )
        out.created.append(arn)
        project.report(f"dataset {kind}: created {arn}")
    else:
        arn = str(found["datasetArn"])
        described = project.call("DescribeDataset", arn, datasetArn=arn)["dataset"]
        if described["schemaArn"] != schema_arn:
            raise ResourceConflict(
                f"dataset {arn} uses schema {described['schemaArn']}, not "
                f"{schema_arn}; run `airctx teardown` to start over"
            )
    project.wait_for("dataset", arn, "DescribeDataset", "dataset", "datasetArn")
    return arn
