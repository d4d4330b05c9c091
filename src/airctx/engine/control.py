"""The ``personalize`` control-plane operations of the local engine.

Each public method is one API operation: it checks the request the way Personalize
does, records the resource in the store, and queues the asynchronous part (import,
training, deployment, deletion) for a worker. Responses are the wire documents, with
timestamps as epoch seconds; internal bookkeeping lives under keys starting with ``_``,
which never leave the engine.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from airctx.engine import filters, s3source
from airctx.engine.arns import Arns
from airctx.engine.catalog import RECIPES, recipe_by_arn
from airctx.engine.errors import (
    InvalidInput,
    InvalidNextToken,
    LimitExceeded,
    ResourceAlreadyExists,
    ResourceInUse,
    ResourceNotFound,
)
from airctx.engine.store import Resource, Store

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$")
DATASET_TYPES = ("INTERACTIONS", "USERS", "ITEMS", "ACTIONS", "ACTION_INTERACTIONS")
SUPPORTED_DATASET_TYPES = ("INTERACTIONS", "USERS", "ITEMS")
MAX_PENDING = 5
IN_FLIGHT = ("CREATE PENDING", "CREATE IN_PROGRESS")
DELETABLE = ("ACTIVE", "CREATE FAILED", "CREATE STOPPED")

# The recipes whose solution versions can be refreshed with trainingMode UPDATE.
UPDATABLE_RECIPES = ("arn:aws:personalize:::recipe/aws-user-personalization",)

SubmitJob = Callable[[str, str], None]


def public(body: Mapping[str, Any]) -> dict[str, Any]:
    """The API document of a stored resource, without engine bookkeeping."""
    return {k: v for k, v in body.items() if not k.startswith("_")}


class ControlPlane:
    """The ``personalize`` service of the local engine."""

    def __init__(self, store: Store, arns: Arns, submit: SubmitJob) -> None:
        self.store = store
        self.arns = arns
        self.submit = submit

    # -- shared helpers ------------------------------------------------------------

    def _all(
        self,
        kind: str,
        parent_arn: str | None = None,
        db: sqlite3.Connection | None = None,
    ) -> list[Resource]:
        """The ``kind`` resources of this region and account (the only ones it sees)."""
        return self.store.list(kind, parent_arn, db=db, prefix=self.arns.prefix)

    def _get(
        self, arn: Any, kind: str, field: str, stored_type: str | None = None
    ) -> Resource:
        """The resource at ``arn``; ``stored_type`` when not the ARN's own kind."""
        self.arns.check(arn, kind, field)
        found = self.store.get(arn)
        if found is None or found.type != (stored_type or kind):
            raise ResourceNotFound(f"Could not find resource with ARN {arn}")
        return found

    def _create(
        self,
        kind: str,
        arn: str,
        name: str | None,
        parent: str | None,
        body: dict[str, Any],
        *,
        status: str | None = "CREATE PENDING",
        job: str | None = "create",
        guard: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        """Store a new resource and queue its job. ``guard`` checks, inside the same
        transaction, what another client could change between a caller's own
        checks and the insert (a second version in training, a second tracker)."""
        now = time.time()
        document = dict(body)
        if status is not None:
            document["status"] = status
        document["creationDateTime"] = now
        document["lastUpdatedDateTime"] = now
        with self.store.transaction() as db:
            if guard is not None:
                guard(db)
            taken = (
                self.store.find(kind, name, db=db, prefix=self.arns.prefix)
                if name is not None
                else None
            )
            if taken is not None:
                raise ResourceAlreadyExists(
                    f"A {kind} with the name {name} already exists: {taken.arn}"
                )
            if self.store.get(arn, db=db) is not None:
                raise ResourceAlreadyExists(f"Resource {arn} already exists")
            pending = self.store.count_pending(db, prefix=self.arns.prefix)
            if status in IN_FLIGHT and pending >= MAX_PENDING:
                raise LimitExceeded(
                    f"More than {MAX_PENDING} resources are in CREATE PENDING or "
                    f"CREATE IN_PROGRESS in region {self.arns.region}; wait for some "
                    "of them to finish"
                )
            self.store.insert(
                db,
                arn=arn,
                type=kind,
                name=name,
                parent_arn=parent,
                status=status,
                body=document,
                now=now,
            )
            if job is not None:
                self.store.add_job(db, arn, job, now)
        log.debug("created %s %s (%s)", kind, arn, status)
        if job is not None:
            self.submit(arn, job)

    def _delete(self, resource: Resource) -> None:
        """Move a resource to DELETE PENDING and queue its removal."""
        if resource.status not in DELETABLE:
            raise ResourceInUse(
                f"{resource.arn} is {resource.status}; it can be deleted once it is "
                "ACTIVE or has failed"
            )
        self._move(resource, "DELETE PENDING", job="delete")

    def _move(self, resource: Resource, status: str, job: str | None = None) -> None:
        """Record a new status (and queue the work that follows from it)."""
        now = time.time()
        with self.store.transaction() as db:
            body = dict(resource.body, status=status, lastUpdatedDateTime=now)
            self.store.update(db, resource.arn, status=status, body=body, now=now)
            if job is not None:
                self.store.add_job(db, resource.arn, job, now)
        if job is not None:
            self.submit(resource.arn, job)

    def _page(
        self, key: str, items: list[dict[str, Any]], params: Mapping[str, Any]
    ) -> dict[str, Any]:
        limit = params.get("maxResults", 100)
        if (
            not isinstance(limit, int)
            or isinstance(limit, bool)
            or not 1 <= limit <= 100
        ):
            raise InvalidInput(
                f"maxResults must be an integer from 1 to 100, not {limit!r}"
            )
        start = 0
        token = params.get("nextToken")
        if token:
            try:
                start = int(base64.urlsafe_b64decode(str(token).encode()).decode())
            except (ValueError, UnicodeDecodeError):
                start = -1
            if start < 0:
                raise InvalidNextToken(
                    f"The nextToken {token!r} is not one this list call returned"
                )
        out: dict[str, Any] = {key: items[start : start + limit]}
        if start + limit < len(items):
            out["nextToken"] = base64.urlsafe_b64encode(
                str(start + limit).encode()
            ).decode()
        return out

    @staticmethod
    def _name(params: Mapping[str, Any], field: str = "name") -> str:
        name = params.get(field)
        if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 63:
            raise InvalidInput(
                f"{field} {name!r} is invalid: use 1-63 letters, digits, '-' or '_', "
                "starting with a letter or digit"
            )
        return name

    def _parent(self, params: Mapping[str, Any], field: str, kind: str) -> str | None:
        """The parent ARN a list call is narrowed to; it must exist."""
        arn = params.get(field)
        if arn is None:
            return None
        return self._get(arn, kind, field).arn

    def _list(
        self,
        params: Mapping[str, Any],
        kind: str,
        key: str,
        fields: tuple[str, ...],
        parent: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """One page of ``kind`` summaries, narrowed by ``parent`` (field, kind)."""
        owner = self._parent(params, *parent) if parent else None
        items = [_summary(r.body, fields) for r in self._all(kind, owner)]
        return self._page(key, items, params)

    def _group(self, arn: Any, field: str = "datasetGroupArn") -> Resource:
        group = self._get(arn, "dataset-group", field)
        if group.status != "ACTIVE":
            raise ResourceInUse(f"Dataset group {arn} is {group.status}, not ACTIVE")
        return group

    # -- schemas -------------------------------------------------------------------

    def CreateSchema(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name = self._name(params)
        text = params.get("schema")
        if not isinstance(text, str) or len(text) > 20000:
            raise InvalidInput(
                "schema must be an Avro schema document of 20000 chars or less"
            )
        _check_avro_record(name, text)
        arn = self.arns.schema(name)
        body: dict[str, Any] = {"name": name, "schemaArn": arn, "schema": text}
        if params.get("domain"):
            raise InvalidInput(
                "Domain dataset groups are not supported by the local engine"
            )
        self._create("schema", arn, name, None, body, status=None, job=None)
        return {"schemaArn": arn}

    def DescribeSchema(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "schema": public(
                self._get(params.get("schemaArn"), "schema", "schemaArn").body
            )
        }

    def ListSchemas(self, params: Mapping[str, Any]) -> dict[str, Any]:
        keys = summary_fields("ListSchemas", "schemas")
        return self._list(params, "schema", "schemas", keys)

    def DeleteSchema(self, params: Mapping[str, Any]) -> dict[str, Any]:
        schema = self._get(params.get("schemaArn"), "schema", "schemaArn")
        users = [
            d.arn for d in self._all("dataset") if d.body.get("schemaArn") == schema.arn
        ]
        if users:
            raise ResourceInUse(
                f"Schema {schema.arn} is used by dataset(s) {', '.join(users)}; delete "
                "them first"
            )
        with self.store.transaction() as db:
            self.store.delete(db, schema.arn)
        return {}

    # -- dataset groups ------------------------------------------------------------

    def CreateDatasetGroup(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name = self._name(params)
        if params.get("domain"):
            raise InvalidInput(
                "Domain dataset groups are not supported by the local engine"
            )
        arn = self.arns.dataset_group(name)
        body: dict[str, Any] = {"name": name, "datasetGroupArn": arn}
        for key in ("roleArn", "kmsKeyArn"):
            if params.get(key):
                body[key] = params[key]
        self._create("dataset-group", arn, name, None, body)
        return {"datasetGroupArn": arn}

    def DescribeDatasetGroup(self, params: Mapping[str, Any]) -> dict[str, Any]:
        group = self._get(
            params.get("datasetGroupArn"), "dataset-group", "datasetGroupArn"
        )
        return {"datasetGroup": public(group.body)}

    def ListDatasetGroups(self, params: Mapping[str, Any]) -> dict[str, Any]:
        keys = summary_fields("ListDatasetGroups", "datasetGroups")
        return self._list(params, "dataset-group", "datasetGroups", keys)

    def DeleteDatasetGroup(self, params: Mapping[str, Any]) -> dict[str, Any]:
        group = self._get(
            params.get("datasetGroupArn"), "dataset-group", "datasetGroupArn"
        )
        for kind in ("dataset", "solution", "event-tracker", "filter"):
            children = self._all(kind, parent_arn=group.arn)
            if children:
                raise ResourceInUse(
                    f"Dataset group {group.arn} still has {len(children)} {kind}(s), "
                    f"for example {children[0].arn}; delete them first"
                )
        self._delete(group)
        return {}

    # -- datasets ------------------------------------------------------------------

    def CreateDataset(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name = self._name(params)
        group = self._group(params.get("datasetGroupArn"))
        dataset_type = str(params.get("datasetType", "")).upper()
        if dataset_type not in DATASET_TYPES:
            raise InvalidInput(f"datasetType must be one of {', '.join(DATASET_TYPES)}")
        if dataset_type not in SUPPORTED_DATASET_TYPES:
            raise InvalidInput(
                f"The local engine does not support {dataset_type} datasets"
            )
        schema = self._get(params.get("schemaArn"), "schema", "schemaArn")
        _check_schema_fits(schema, dataset_type)
        arn = self.arns.dataset(group.body["name"], dataset_type)
        if self.store.get(arn) is not None:
            raise ResourceAlreadyExists(
                f"Dataset group {group.arn} already has a {dataset_type} dataset: {arn}"
            )
        body = {
            "name": name,
            "datasetArn": arn,
            "datasetGroupArn": group.arn,
            "datasetType": dataset_type,
            "schemaArn": schema.arn,
            "_imports": [],
        }
        self._create("dataset", arn, name, group.arn, body)
        return {"datasetArn": arn}

    def DescribeDataset(self, params: Mapping[str, Any]) -> dict[str, Any]:
        dataset = self._get(params.get("datasetArn"), "dataset", "datasetArn")
        body = public(dataset.body)
        if dataset.body["datasetType"] == "INTERACTIONS":
            tracker = self._tracker_of(dataset.parent_arn or "")
            if tracker is not None:
                body["trackingId"] = tracker.body["trackingId"]
        return {"dataset": body}

    def ListDatasets(self, params: Mapping[str, Any]) -> dict[str, Any]:
        keys = summary_fields("ListDatasets", "datasets")
        parent = ("datasetGroupArn", "dataset-group")
        return self._list(params, "dataset", "datasets", keys, parent)

    def UpdateDataset(self, params: Mapping[str, Any]) -> dict[str, Any]:
        dataset = self._get(params.get("datasetArn"), "dataset", "datasetArn")
        schema = self._get(params.get("schemaArn"), "schema", "schemaArn")
        _check_schema_fits(schema, dataset.body["datasetType"])
        now = time.time()
        body = dict(dataset.body, schemaArn=schema.arn, lastUpdatedDateTime=now)
        body["latestDatasetUpdate"] = {
            "schemaArn": schema.arn,
            "status": "ACTIVE",
            "creationDateTime": now,
            "lastUpdatedDateTime": now,
        }
        with self.store.transaction() as db:
            self.store.update(db, dataset.arn, body=body, now=now)
        return {"datasetArn": dataset.arn}

    def DeleteDataset(self, params: Mapping[str, Any]) -> dict[str, Any]:
        dataset = self._get(params.get("datasetArn"), "dataset", "datasetArn")
        running = [
            j.arn
            for j in self._all("dataset-import-job", dataset.arn)
            if j.status in IN_FLIGHT
        ]
        if running:
            raise ResourceInUse(
                f"Dataset {dataset.arn} has import jobs in progress: {running[0]}"
            )
        self._delete(dataset)
        return {}

    # -- dataset import jobs -------------------------------------------------------

    def CreateDatasetImportJob(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name = self._name(params, "jobName")
        dataset = self._get(params.get("datasetArn"), "dataset", "datasetArn")
        if dataset.status != "ACTIVE":
            raise ResourceInUse(
                f"Dataset {dataset.arn} is {dataset.status}, not ACTIVE"
            )
        location = (params.get("dataSource") or {}).get("dataLocation")
        if not isinstance(location, str) or not location:
            raise InvalidInput("dataSource.dataLocation is required")
        if location.startswith("s3://") and s3source.endpoint_url() is None:
            raise InvalidInput(
                f"dataSource.dataLocation {location}: the local engine reads local "
                "files; give a path or a file:// URI (s3:// locations need the aws "
                f"backend, or {s3source.ENDPOINT_ENV} set for the engine)"
            )
        mode = params.get("importMode", "FULL")
        if mode not in ("FULL", "INCREMENTAL"):
            raise InvalidInput("importMode must be FULL or INCREMENTAL")
        if mode == "INCREMENTAL" and not dataset.body.get("_imports"):
            raise InvalidInput(
                f"Dataset {dataset.arn} has no data yet; the first import must be FULL"
            )
        self._no_import_running(dataset.arn)
        arn = self.arns.import_job(name)
        body: dict[str, Any] = {
            "jobName": name,
            "datasetImportJobArn": arn,
            "datasetArn": dataset.arn,
            "dataSource": {"dataLocation": location},
            "importMode": mode,
            "publishAttributionMetricsToS3": bool(
                params.get("publishAttributionMetricsToS3", False)
            ),
        }
        if params.get("roleArn"):
            body["roleArn"] = params["roleArn"]
        self._create(
            "dataset-import-job",
            arn,
            name,
            dataset.arn,
            body,
            guard=lambda db: self._no_import_running(dataset.arn, db),
        )
        return {"datasetImportJobArn": arn}

    def _no_import_running(
        self, dataset_arn: str, db: sqlite3.Connection | None = None
    ) -> None:
        running = [
            j.arn
            for j in self._all("dataset-import-job", dataset_arn, db)
            if j.status in IN_FLIGHT
        ]
        if running:
            raise LimitExceeded(
                f"Dataset {dataset_arn} already has an import job in progress: "
                f"{running[0]}"
            )

    def DescribeDatasetImportJob(self, params: Mapping[str, Any]) -> dict[str, Any]:
        job = self._get(
            params.get("datasetImportJobArn"),
            "dataset-import-job",
            "datasetImportJobArn",
        )
        return {"datasetImportJob": public(job.body)}

    def ListDatasetImportJobs(self, params: Mapping[str, Any]) -> dict[str, Any]:
        keys = summary_fields("ListDatasetImportJobs", "datasetImportJobs")
        parent = ("datasetArn", "dataset")
        return self._list(
            params, "dataset-import-job", "datasetImportJobs", keys, parent
        )

    # -- recipes -------------------------------------------------------------------

    def ListRecipes(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if params.get("domain"):
            return self._page("recipes", [], params)
        items = [
            _summary(info.document(0.0), summary_fields("ListRecipes", "recipes"))
            for info in RECIPES.values()
        ]
        return self._page("recipes", items, params)

    def DescribeRecipe(self, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = params.get("recipeArn", "")
        info = recipe_by_arn(arn)
        if info is None:
            raise ResourceNotFound(f"Could not find recipe {arn}")
        return {"recipe": info.document(0.0)}

    # -- solutions -----------------------------------------------------------------

    def CreateSolution(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name = self._name(params)
        group = self._group(params.get("datasetGroupArn"))
        if params.get("performAutoML"):
            raise InvalidInput("performAutoML is not supported; choose a recipeArn")
        recipe_arn = params.get("recipeArn")
        info = recipe_by_arn(recipe_arn or "")
        if info is None:
            raise InvalidInput(
                f"recipeArn {recipe_arn!r} is not a recipe of this service; "
                "ListRecipes shows them"
            )
        config = dict(params.get("solutionConfig") or {})
        _check_solution_config(config, bool(params.get("performHPO")))
        if config.get("hpoConfig"):
            _check_hpo_ranges(info.name, config["hpoConfig"])
        body: dict[str, Any] = {
            "name": name,
            "solutionArn": self.arns.solution(name),
            "performHPO": bool(params.get("performHPO", False)),
            "performAutoML": False,
            # Personalize turns automatic training on unless the request says otherwise.
            "performAutoTraining": bool(params.get("performAutoTraining", True)),
            "recipeArn": info.arn,
            "datasetGroupArn": group.arn,
            "solutionConfig": config,
        }
        if params.get("eventType"):
            body["eventType"] = params["eventType"]
        self._create("solution", body["solutionArn"], name, group.arn, body)
        return {"solutionArn": body["solutionArn"]}

    def DescribeSolution(self, params: Mapping[str, Any]) -> dict[str, Any]:
        solution = self._get(params.get("solutionArn"), "solution", "solutionArn")
        body = public(solution.body)
        versions = self._all("solution-version", solution.arn)
        if versions:
            latest = versions[0].body
            body["latestSolutionVersion"] = _summary(
                latest, summary_fields("ListSolutionVersions", "solutionVersions")
            )
        return {"solution": body}

    def ListSolutions(self, params: Mapping[str, Any]) -> dict[str, Any]:
        keys = summary_fields("ListSolutions", "solutions")
        parent = ("datasetGroupArn", "dataset-group")
        return self._list(params, "solution", "solutions", keys, parent)

    def DeleteSolution(self, params: Mapping[str, Any]) -> dict[str, Any]:
        solution = self._get(params.get("solutionArn"), "solution", "solutionArn")
        versions = {v.arn: v for v in self._all("solution-version", solution.arn)}
        campaigns = [
            c.arn
            for c in self._all("campaign")
            if c.body.get("solutionVersionArn") in versions
        ]
        if campaigns:
            raise ResourceInUse(
                f"Solution {solution.arn} is used by campaign(s) "
                f"{', '.join(campaigns)}; delete them first"
            )
        training = [v.arn for v in versions.values() if v.status in IN_FLIGHT]
        if training:
            raise ResourceInUse(
                f"Solution {solution.arn} has a version in training: {training[0]}"
            )
        self._delete(solution)
        return {}

    # -- solution versions ---------------------------------------------------------

    def CreateSolutionVersion(self, params: Mapping[str, Any]) -> dict[str, Any]:
        solution = self._get(params.get("solutionArn"), "solution", "solutionArn")
        if solution.status != "ACTIVE":
            raise ResourceInUse(
                f"Solution {solution.arn} is {solution.status}, not ACTIVE"
            )
        mode = params.get("trainingMode", "FULL")
        if mode not in ("FULL", "UPDATE"):
            raise InvalidInput("trainingMode must be FULL or UPDATE")
        versions = self._all("solution-version", solution.arn)
        self._none_in_training(solution.arn)
        if mode == "UPDATE":
            if solution.body["recipeArn"] not in UPDATABLE_RECIPES:
                raise InvalidInput(
                    "trainingMode UPDATE works only with the User-Personalization "
                    f"recipe ({', '.join(UPDATABLE_RECIPES)}); solution {solution.arn} "
                    "uses "
                    f"{solution.body['recipeArn']}"
                )
            if not any(
                v.status == "ACTIVE" and v.body.get("trainingMode") == "FULL"
                for v in versions
            ):
                raise InvalidInput(
                    "trainingMode UPDATE needs an ACTIVE solution version trained in "
                    f"FULL mode; solution {solution.arn} has none"
                )
        name = params.get("name")
        if name is not None:
            self._name(params)
        arn = self.arns.solution_version(solution.body["name"])
        body: dict[str, Any] = {
            key: solution.body[key]
            for key in (
                "solutionArn",
                "performHPO",
                "performAutoML",
                "recipeArn",
                "datasetGroupArn",
                "solutionConfig",
                "eventType",
            )
            if key in solution.body
        }
        body.update(
            solutionVersionArn=arn,
            trainingMode=mode,
            trainingType="MANUAL",
            performIncrementalUpdate=mode == "UPDATE",
        )
        if name:
            body["name"] = name
        self._create(
            "solution-version",
            arn,
            None,
            solution.arn,
            body,
            guard=lambda db: self._none_in_training(solution.arn, db),
        )
        return {"solutionVersionArn": arn}

    def _none_in_training(
        self, solution_arn: str, db: sqlite3.Connection | None = None
    ) -> None:
        versions = self._all("solution-version", solution_arn, db)
        if any(v.status in IN_FLIGHT for v in versions):
            raise ResourceInUse(
                f"Solution {solution_arn} already has a version in training; wait for "
                "it or stop it"
            )

    def DescribeSolutionVersion(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "solutionVersion": public(
                self._version(params.get("solutionVersionArn")).body
            )
        }

    def ListSolutionVersions(self, params: Mapping[str, Any]) -> dict[str, Any]:
        keys = summary_fields("ListSolutionVersions", "solutionVersions")
        parent = ("solutionArn", "solution")
        return self._list(params, "solution-version", "solutionVersions", keys, parent)

    def StopSolutionVersionCreation(self, params: Mapping[str, Any]) -> dict[str, Any]:
        version = self._version(params.get("solutionVersionArn"))
        if version.status not in IN_FLIGHT:
            raise InvalidInput(
                f"Solution version {version.arn} is {version.status}; only a version "
                "in CREATE PENDING or CREATE IN_PROGRESS can be stopped"
            )
        self._move(version, "CREATE STOPPING")
        return {}

    def GetSolutionMetrics(self, params: Mapping[str, Any]) -> dict[str, Any]:
        version = self._version(params.get("solutionVersionArn"))
        if version.status != "ACTIVE":
            raise ResourceInUse(
                f"Solution version {version.arn} is {version.status}, not ACTIVE"
            )
        return {
            "solutionVersionArn": version.arn,
            "metrics": dict(version.body.get("_metrics", {})),
        }

    def _version(self, arn: Any) -> Resource:
        return self._get(arn, "solution", "solutionVersionArn", "solution-version")

    # -- campaigns -----------------------------------------------------------------

    def CreateCampaign(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name = self._name(params)
        version = self._version(params.get("solutionVersionArn"))
        if version.status != "ACTIVE":
            raise InvalidInput(
                f"Solution version {version.arn} is {version.status}; a campaign needs "
                "an ACTIVE solution version"
            )
        tps = _check_tps(params.get("minProvisionedTPS", 1))
        config = _check_campaign_config(params.get("campaignConfig") or {})
        arn = self.arns.campaign(name)
        body: dict[str, Any] = {
            "name": name,
            "campaignArn": arn,
            "solutionVersionArn": version.arn,
            "minProvisionedTPS": tps,
            "campaignConfig": config,
        }
        self._create("campaign", arn, name, version.body["datasetGroupArn"], body)
        return {"campaignArn": arn}

    def DescribeCampaign(self, params: Mapping[str, Any]) -> dict[str, Any]:
        campaign = self._get(params.get("campaignArn"), "campaign", "campaignArn")
        return {"campaign": public(campaign.body)}

    def ListCampaigns(self, params: Mapping[str, Any]) -> dict[str, Any]:
        keys = summary_fields("ListCampaigns", "campaigns")
        solution = self._parent(params, "solutionArn", "solution")
        rows = self._all("campaign")
        if solution is not None:
            rows = [
                r
                for r in rows
                if r.body["solutionVersionArn"].startswith(solution + "/")
            ]
        return self._page("campaigns", [_summary(r.body, keys) for r in rows], params)

    def UpdateCampaign(self, params: Mapping[str, Any]) -> dict[str, Any]:
        campaign = self._get(params.get("campaignArn"), "campaign", "campaignArn")
        _check_updatable(campaign)
        changes: dict[str, Any] = {}
        if params.get("solutionVersionArn"):
            version = self._version(params["solutionVersionArn"])
            if version.status != "ACTIVE":
                raise InvalidInput(
                    f"Solution version {version.arn} is {version.status}, not ACTIVE"
                )
            changes["solutionVersionArn"] = version.arn
        if "minProvisionedTPS" in params:
            changes["minProvisionedTPS"] = _check_tps(params["minProvisionedTPS"])
        if "campaignConfig" in params:
            changes["campaignConfig"] = _check_campaign_config(
                params["campaignConfig"] or {}
            )
        now = time.time()
        with self.store.transaction() as db:
            # Checked again where no other client can start an update in between.
            current = self.store.get(campaign.arn, db=db)
            if current is None:
                raise ResourceNotFound(
                    f"Could not find resource with ARN {campaign.arn}"
                )
            _check_updatable(current)
            update: dict[str, Any] = {
                "solutionVersionArn": current.body["solutionVersionArn"],
                "minProvisionedTPS": current.body["minProvisionedTPS"],
                "campaignConfig": current.body.get("campaignConfig", {}),
                **changes,
                "status": "UPDATE PENDING",
                "creationDateTime": now,
                "lastUpdatedDateTime": now,
            }
            body = dict(
                current.body, latestCampaignUpdate=update, lastUpdatedDateTime=now
            )
            self.store.update(db, campaign.arn, body=body, now=now)
            self.store.add_job(db, campaign.arn, "update", now)
        self.submit(campaign.arn, "update")
        return {"campaignArn": campaign.arn}

    def DeleteCampaign(self, params: Mapping[str, Any]) -> dict[str, Any]:
        self._delete(self._get(params.get("campaignArn"), "campaign", "campaignArn"))
        return {}

    # -- event trackers ------------------------------------------------------------

    def _tracker_of(
        self, group_arn: str, db: sqlite3.Connection | None = None
    ) -> Resource | None:
        trackers = self._all("event-tracker", group_arn, db)
        return trackers[0] if trackers else None

    def _no_tracker(self, group_arn: str, db: sqlite3.Connection | None = None) -> None:
        existing = self._tracker_of(group_arn, db)
        if existing is not None:
            raise LimitExceeded(
                f"Dataset group {group_arn} already has an event tracker "
                f"({existing.arn}); a dataset group can have only one"
            )

    def CreateEventTracker(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name = self._name(params)
        group = self._group(params.get("datasetGroupArn"))
        self._no_tracker(group.arn)
        arn = self.arns.event_tracker()
        body = {
            "name": name,
            "eventTrackerArn": arn,
            "accountId": self.arns.account_id,
            "trackingId": str(uuid.uuid4()),
            "datasetGroupArn": group.arn,
        }
        self._create(
            "event-tracker",
            arn,
            name,
            group.arn,
            body,
            guard=lambda db: self._no_tracker(group.arn, db),
        )
        return {"eventTrackerArn": arn, "trackingId": body["trackingId"]}

    def DescribeEventTracker(self, params: Mapping[str, Any]) -> dict[str, Any]:
        tracker = self._get(
            params.get("eventTrackerArn"), "event-tracker", "eventTrackerArn"
        )
        return {"eventTracker": public(tracker.body)}

    def ListEventTrackers(self, params: Mapping[str, Any]) -> dict[str, Any]:
        keys = summary_fields("ListEventTrackers", "eventTrackers")
        parent = ("datasetGroupArn", "dataset-group")
        return self._list(params, "event-tracker", "eventTrackers", keys, parent)

    def DeleteEventTracker(self, params: Mapping[str, Any]) -> dict[str, Any]:
        self._delete(
            self._get(params.get("eventTrackerArn"), "event-tracker", "eventTrackerArn")
        )
        return {}

    # -- filters -------------------------------------------------------------------

    def CreateFilter(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name = self._name(params)
        group = self._group(params.get("datasetGroupArn"))
        expression = params.get("filterExpression", "")
        try:
            clauses = filters.parse(expression)
        except ValueError as exc:
            raise InvalidInput(f"filterExpression is invalid: {exc}") from None
        self._check_filter_fields(group, clauses)
        arn = self.arns.filter(name)
        body = {
            "name": name,
            "filterArn": arn,
            "datasetGroupArn": group.arn,
            "filterExpression": expression,
        }
        self._create("filter", arn, name, group.arn, body)
        return {"filterArn": arn}

    def _check_filter_fields(
        self, group: Resource, clauses: list[filters.Clause]
    ) -> None:
        """Every Items./Interactions. field must be in that dataset's schema."""
        from airctx.engine.datafiles import dataset_specs

        specs = dataset_specs(self.store, group.arn)
        for clause in clauses:
            for condition in clause.conditions:
                kind = condition.dataset.upper()
                if kind not in specs:
                    raise InvalidInput(
                        f"filterExpression uses {condition.dataset}.{condition.field} "
                        f"but dataset group {group.arn} has no ACTIVE {kind} dataset"
                    )
                names = specs[kind][1].names
                if condition.field not in names:
                    raise InvalidInput(
                        "filterExpression uses "
                        f"{condition.dataset}.{condition.field}, which is not a field "
                        f"of the {kind} schema ({', '.join(names)})"
                    )

    def DescribeFilter(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "filter": public(
                self._get(params.get("filterArn"), "filter", "filterArn").body
            )
        }

    def ListFilters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        keys = summary_fields("ListFilters", "Filters")
        parent = ("datasetGroupArn", "dataset-group")
        return self._list(params, "filter", "Filters", keys, parent)

    def DeleteFilter(self, params: Mapping[str, Any]) -> dict[str, Any]:
        self._delete(self._get(params.get("filterArn"), "filter", "filterArn"))
        return {}


def _check_avro_record(name: str, text: str) -> None:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"Schema {name} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("type") != "record":
        raise InvalidInput(f'Schema {name} must be an Avro record ("type": "record")')
    fields = document.get("fields")
    if not isinstance(fields, list) or not fields:
        raise InvalidInput(f"Schema {name} must list its fields")
    for item in fields:
        if not isinstance(item, dict) or "name" not in item or "type" not in item:
            raise InvalidInput(f"Schema {name}: every field needs a name and a type")


def _check_schema_fits(schema: Resource, dataset_type: str) -> None:
    """Apply Personalize's rules for a dataset type to a stored schema."""
    from airctx.data.schema import schema_problems, spec_from_avro
    from airctx.errors import SchemaError

    try:
        problems = schema_problems(spec_from_avro(schema.body["schema"], dataset_type))
    except SchemaError as exc:
        problems = [str(exc)]
    if problems:
        raise InvalidInput(
            f"Schema {schema.arn} cannot be used for a {dataset_type} dataset: "
            + "; ".join(problems)
        )


@functools.cache
def summary_fields(operation: str, key: str) -> tuple[str, ...]:
    """The members of one entry of ``operation``'s list ``key``, as botocore models it.

    Taking them from the service model keeps every summary the engine returns to
    exactly what Amazon Personalize returns.
    """
    import botocore.session

    model = botocore.session.get_session().get_service_model("personalize")
    output = model.operation_model(operation).output_shape
    return tuple(output.members[key].member.members)  # type: ignore[union-attr]


def _summary(body: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: body[k] for k in keys if k in body}


def _check_hpo_ranges(recipe: str, hpo_config: Mapping[str, Any]) -> None:
    """Ranges must name hyperparameters the recipe has (a typo tunes nothing)."""
    from airctx.engine.hpo import parse_ranges
    from airctx.engine.recipes import recipe_class

    try:
        parse_ranges(recipe_class(recipe), hpo_config)
    except ValueError as exc:
        raise InvalidInput(f"solutionConfig.hpoConfig: {exc}") from None


def _check_solution_config(config: Any, perform_hpo: bool) -> None:
    if not isinstance(config, dict):
        raise InvalidInput("solutionConfig must be a structure")
    threshold = config.get("eventValueThreshold")
    if threshold is not None:
        try:
            float(threshold if isinstance(threshold, str) else "")
        except ValueError:
            raise InvalidInput(
                f"solutionConfig.eventValueThreshold {threshold!r} is not a number "
                '(give it as a string, e.g. "0.5")'
            ) from None
    hpo = config.get("hpoConfig")
    if hpo is None:
        return
    if not isinstance(hpo, dict):
        raise InvalidInput("solutionConfig.hpoConfig must be a structure")
    if not perform_hpo:
        raise InvalidInput("solutionConfig.hpoConfig is given but performHPO is false")
    if hpo.get("hpoObjective"):
        raise InvalidInput(
            "solutionConfig.hpoConfig.hpoObjective cannot be set for this recipe; "
            "Personalize chooses the objective"
        )
    resources = hpo.get("hpoResourceConfig") or {}
    for key, limit in (
        ("maxNumberOfTrainingJobs", 40),
        ("maxParallelTrainingJobs", 10),
    ):
        value = resources.get(key)
        if value is None:
            continue
        if (
            not isinstance(value, str)
            or not value.isdigit()
            or not 1 <= int(value) <= limit
        ):
            raise InvalidInput(
                f"solutionConfig.hpoConfig.hpoResourceConfig.{key} must be a string "
                f"holding an integer from 1 to {limit}, not {value!r}"
            )
    ranges = hpo.get("algorithmHyperParameterRanges") or {}
    for kind in ("integerHyperParameterRanges", "continuousHyperParameterRanges"):
        for item in ranges.get(kind) or []:
            name = item.get("name")
            low, high = item.get("minValue"), item.get("maxValue")
            if not isinstance(name, str) or not name:
                raise InvalidInput(f"every entry of {kind} needs a name")
            if (
                not isinstance(low, (int, float))
                or not isinstance(high, (int, float))
                or low > high
            ):
                raise InvalidInput(
                    f"{kind} for {name!r}: minValue and maxValue must be numbers with "
                    f"minValue <= maxValue, not {low!r} and {high!r}"
                )
    for item in ranges.get("categoricalHyperParameterRanges") or []:
        if not item.get("name") or not item.get("values"):
            raise InvalidInput(
                "every entry of categoricalHyperParameterRanges needs a name and values"
            )


def _check_updatable(campaign: Resource) -> None:
    if campaign.status != "ACTIVE":
        raise ResourceInUse(f"Campaign {campaign.arn} is {campaign.status}, not ACTIVE")
    pending = (campaign.body.get("latestCampaignUpdate") or {}).get("status")
    if pending in ("UPDATE PENDING", "UPDATE IN_PROGRESS"):
        raise ResourceInUse(
            f"Campaign {campaign.arn} has an update in progress ({pending}); wait "
            "for it to finish before updating again"
        )


def _check_tps(value: Any) -> int:
    if not isinstance(value, int) or value < 1:
        raise InvalidInput(f"minProvisionedTPS must be an integer >= 1, not {value!r}")
    return value


def _check_campaign_config(config: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(config)
    exploration = config.get("itemExplorationConfig") or {}
    for key in exploration:
        if key not in ("explorationWeight", "explorationItemAgeCutOff"):
            raise InvalidInput(
                f"campaignConfig.itemExplorationConfig has an unknown key {key!r}; use "
                "explorationWeight or explorationItemAgeCutOff"
            )
    if "explorationWeight" in exploration:
        try:
            weight = float(exploration["explorationWeight"])
        except ValueError:
            weight = -1.0
        if not 0.0 <= weight <= 1.0:
            raise InvalidInput(
                "itemExplorationConfig.explorationWeight must be from 0 to 1"
            )
    if "explorationItemAgeCutOff" in exploration:
        try:
            age = float(exploration["explorationItemAgeCutOff"])
        except ValueError:
            age = 0.0
        if age <= 0:
            raise InvalidInput(
                "itemExplorationConfig.explorationItemAgeCutOff must be > 0"
            )
    return out
