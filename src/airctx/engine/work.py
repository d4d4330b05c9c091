"""What each asynchronous job does, run by a worker (see :mod:`airctx.engine.jobs`).

Imports validate a CSV against the dataset's schema and keep a normalised copy in the
state directory; training assembles the dataset group's data (imports plus recorded
events), applies the solution's event filters, trains the recipe and stores the model
and its metrics; deployment checks that the model loads. Every failure becomes the
resource's ``CREATE FAILED`` status with a ``failureReason`` a user can act on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from airctx.engine.arns import arn_prefix, name_from_arn, scope_dir
from airctx.engine.catalog import recipe_by_arn
from airctx.engine.jobs import Heartbeat, JobFailed, JobStopped, pid_alive
from airctx.engine.store import Resource, Store

if TYPE_CHECKING:
    from airctx.config import DatasetSpec

log = logging.getLogger(__name__)

MIN_IMPORT_RECORDS = 1000


class Executor:
    """Runs queued jobs against one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- entry points --------------------------------------------------------------

    def run(self, arn: str) -> None:
        job = self.store.claim_job(arn, os.getpid(), time.time(), pid_alive)
        if job is None:
            return
        resource = self.store.get(arn)
        if resource is None:
            with self.store.transaction() as db:
                self.store.finish_job(db, arn)
            return
        log.info("%s %s %s (attempt %d)", job.action, resource.type, arn, job.attempts)
        try:
            with Heartbeat(self.store, arn):
                if job.action == "delete":
                    self._delete(resource)
                elif job.action == "update":
                    self._update_campaign(resource)
                else:
                    self._create(resource)
        except JobStopped:
            self._finish(arn, "CREATE STOPPED")
        except JobFailed as exc:
            log.info("%s failed: %s", arn, exc)
            self.fail(arn, str(exc))
        except Exception as exc:
            log.exception("job for %s crashed", arn)
            self.fail(arn, f"Internal error in the local engine: {exc}")

    def fail(self, arn: str, reason: str) -> None:
        """Record a job's failure on its resource and close the job.

        A failed create leaves ``CREATE FAILED``; a failed campaign update leaves the
        campaign ACTIVE on its previous version, with ``latestCampaignUpdate`` in
        ``UPDATE FAILED``; a failed delete leaves the resource ACTIVE so that the
        delete can be tried again.
        """
        reason = reason[:1000]
        now = time.time()
        with self.store.transaction() as db:
            resource = self.store.get(arn, db=db)
            job = self.store.job(arn, db=db)
            if resource is not None:
                body = dict(resource.body, lastUpdatedDateTime=now)
                status = resource.status
                if job is not None and job.action == "update":
                    update = dict(body.get("latestCampaignUpdate") or {})
                    update.update(
                        status="UPDATE FAILED",
                        failureReason=reason,
                        lastUpdatedDateTime=now,
                    )
                    body["latestCampaignUpdate"] = update
                elif resource.status and resource.status.startswith("DELETE"):
                    status = "ACTIVE"
                    body.update(status=status, failureReason=reason)
                else:
                    status = "CREATE FAILED"
                    body.update(status=status, failureReason=reason)
                self.store.update(db, arn, status=status, body=body, now=now)
            self.store.finish_job(db, arn)

    # -- state changes -------------------------------------------------------------

    def _set_status(self, resource: Resource, status: str, **extra: Any) -> Resource:
        now = time.time()
        with self.store.transaction() as db:
            current = self.store.get(resource.arn, db=db)
            if current is None:
                raise JobFailed(
                    f"{resource.arn} disappeared while it was being processed"
                )
            if current.status == "CREATE STOPPING" and status != "CREATE STOPPED":
                raise JobStopped()
            body = dict(current.body, status=status, lastUpdatedDateTime=now, **extra)
            self.store.update(db, resource.arn, status=status, body=body, now=now)
        updated = self.store.get(resource.arn)
        if updated is None:
            raise JobFailed(f"{resource.arn} disappeared while it was being processed")
        return updated

    def _finish(self, arn: str, status: str, **extra: Any) -> None:
        now = time.time()
        with self.store.transaction() as db:
            current = self.store.get(arn, db=db)
            if current is not None:
                body = dict(
                    current.body, status=status, lastUpdatedDateTime=now, **extra
                )
                body.pop("failureReason", None)
                self.store.update(db, arn, status=status, body=body, now=now)
            self.store.finish_job(db, arn)

    # -- create --------------------------------------------------------------------

    def _create(self, resource: Resource) -> None:
        resource = self._set_status(resource, "CREATE IN_PROGRESS")
        extra: dict[str, Any] = {}
        if resource.type == "dataset-import-job":
            self._import(resource)
        elif resource.type == "solution-version":
            extra = self._train(resource)
        elif resource.type == "campaign":
            self._deploy(resource.body["solutionVersionArn"])
        self._finish(resource.arn, "ACTIVE", **extra)

    def _update_campaign(self, campaign: Resource) -> None:
        now = time.time()
        update = dict(
            campaign.body["latestCampaignUpdate"],
            status="UPDATE IN_PROGRESS",
            lastUpdatedDateTime=now,
        )
        with self.store.transaction() as db:
            self.store.update(
                db,
                campaign.arn,
                body=dict(campaign.body, latestCampaignUpdate=update),
                now=now,
            )
        self._deploy(update["solutionVersionArn"])
        now = time.time()
        with self.store.transaction() as db:
            # Re-read: the campaign may have been changed or deleted meanwhile.
            current = self.store.get(campaign.arn, db=db)
            if current is not None:
                update.update(status="ACTIVE", lastUpdatedDateTime=now)
                body = dict(
                    current.body, latestCampaignUpdate=update, lastUpdatedDateTime=now
                )
                for key in (
                    "solutionVersionArn",
                    "minProvisionedTPS",
                    "campaignConfig",
                ):
                    body[key] = update[key]
                self.store.update(db, campaign.arn, body=body, now=now)
            self.store.finish_job(db, campaign.arn)

    def _deploy(self, version_arn: str) -> None:
        from airctx.engine.recipes import recipe_class

        version = self.store.get(version_arn)
        if version is None or version.status != "ACTIVE":
            raise JobFailed(f"Solution version {version_arn} is not ACTIVE")
        info = recipe_by_arn(version.body["recipeArn"])
        model_dir = Path(version.body["_modelDir"])
        try:
            recipe_class(info.name if info else "").load(model_dir)
        except (OSError, ValueError, KeyError) as exc:
            raise JobFailed(
                f"The model of {version_arn} cannot be loaded: {exc}"
            ) from None

    # -- import --------------------------------------------------------------------

    def _import(self, job: Resource) -> None:
        from airctx.engine import datafiles

        dataset = self.store.get(job.body["datasetArn"])
        if dataset is None:
            raise JobFailed(f"Dataset {job.body['datasetArn']} no longer exists")
        schema = self.store.get(dataset.body["schemaArn"])
        if schema is None:
            raise JobFailed(f"Schema {dataset.body['schemaArn']} no longer exists")
        spec = _spec(schema, dataset.body["datasetType"])
        source = local_path(job.body["dataSource"]["dataLocation"])
        target = self.data_dir(dataset) / f"{job.body['jobName']}.csv"
        rows = datafiles.import_csv(source, spec, target)
        minimum = MIN_IMPORT_RECORDS if spec.kind == "INTERACTIONS" else 1
        if job.body.get("importMode") == "FULL" and rows < minimum:
            target.unlink(missing_ok=True)
            raise JobFailed(
                f"Input file {source} has {rows} valid records; an import into an "
                f"{spec.kind} dataset needs at least {minimum}"
            )
        with self.store.transaction() as db:
            current = self.store.get(dataset.arn, db=db)
            if current is None:
                raise JobFailed(f"Dataset {dataset.arn} was deleted during the import")
            parts = (
                []
                if job.body.get("importMode") == "FULL"
                else list(current.body["_imports"])
            )
            parts.append(str(target))
            self.store.update(db, dataset.arn, body=dict(current.body, _imports=parts))

    def data_dir(self, dataset: Resource) -> Path:
        group = name_from_arn(dataset.body["datasetGroupArn"])
        kind = str(dataset.body["datasetType"]).lower()
        return self.scope_root(dataset.arn) / "data" / group / kind

    def scope_root(self, arn: str) -> Path:
        """Where the files of ``arn``'s region and account live.

        Names are unique only within a region, so files are kept apart by region as
        the resources are. Files written before that stay where their bodies point.
        """
        return self.store.root / "regions" / scope_dir(arn)

    # -- training ------------------------------------------------------------------

    def _train(self, version: Resource) -> dict[str, Any]:
        from airctx.engine import training
        from airctx.engine.datafiles import training_data
        from airctx.engine.trained_events import event_filters

        info = recipe_by_arn(version.body["recipeArn"])
        if info is None:
            raise JobFailed(f"Recipe {version.body['recipeArn']} is not available")
        group_arn = version.body["datasetGroupArn"]
        watermark = self.store.last_event_id(group_arn)
        data = training_data(self.store, group_arn)
        config = version.body.get("solutionConfig") or {}
        data = _filtered(data, *event_filters(version.body))

        def progress(stage: str, figures: Any) -> None:
            if self.store.get(version.arn) is None:
                raise JobFailed("The solution version was deleted during training")
            current = self.store.get(version.arn)
            if current is not None and current.status == "CREATE STOPPING":
                raise JobStopped()
            log.info("%s %s %s", version.arn, stage, dict(figures))
            self._note_progress(version.arn, _progress_text(stage, figures))

        started = time.time()
        if version.body.get("trainingMode") == "UPDATE":
            extra = self._refresh(version, info.name, data, progress)
        else:
            hyperparameters = dict(config.get("algorithmHyperParameters") or {})
            try:
                result = training.train(
                    info.name,
                    data,
                    hyperparameters=hyperparameters,
                    perform_hpo=bool(version.body.get("performHPO")),
                    hpo_config=config.get("hpoConfig"),
                    progress=progress,
                )
            except ValueError as exc:
                raise JobFailed(str(exc)) from None
            self._save_model(version, result.model)
            extra = {
                "_metrics": result.metrics,
                "_baselineMetrics": result.baseline_metrics,
                "_hpoTrials": result.hpo_trials,
                "_hyperparameters": result.hyperparameters,
            }
            if version.body.get("performHPO"):
                extra["tunedHPOParams"] = {
                    "algorithmHyperParameters": result.hyperparameters
                }
        extra.update(
            trainingHours=round((time.time() - started) / 3600.0, 6),
            _modelDir=str(self._model_dir(version)),
            _eventWatermark=watermark,
        )
        return extra

    def _refresh(
        self, version: Resource, recipe: str, data: Any, progress: Any
    ) -> dict[str, Any]:
        """trainingMode UPDATE: refit on today's data with the FULL version's settings.

        The model sees the interactions, events and items added since the FULL
        version, but there is no tuning and no new holdout measurement: the
        hyperparameters (tuned ones included) and the metrics are those of the
        newest ACTIVE FULL version of the solution, as on Personalize, where an
        update is a cheap refresh and a FULL retraining is still due regularly.
        """
        from airctx.engine.recipes import recipe_class
        from airctx.engine.training import check_minimums

        base = next(
            (
                v
                for v in self.store.list(
                    "solution-version",
                    version.body["solutionArn"],
                    prefix=arn_prefix(version.arn),
                )
                if v.status == "ACTIVE" and v.body.get("trainingMode", "FULL") == "FULL"
            ),
            None,
        )
        if base is None:
            raise JobFailed(
                "trainingMode UPDATE needs an ACTIVE solution version trained in FULL "
                "mode; none is left"
            )
        hyperparameters = dict(
            base.body.get("_hyperparameters")
            or (base.body.get("tunedHPOParams") or {}).get("algorithmHyperParameters")
            or (base.body.get("solutionConfig") or {}).get("algorithmHyperParameters")
            or {}
        )
        try:
            check_minimums(data.interactions)
            model = recipe_class(recipe)()
            model.fit(data, hyperparameters, progress)
        except ValueError as exc:
            raise JobFailed(str(exc)) from None
        self._save_model(version, model)
        extra: dict[str, Any] = {
            "_metrics": dict(base.body.get("_metrics") or {}),
            "_baselineMetrics": dict(base.body.get("_baselineMetrics") or {}),
            "_hyperparameters": hyperparameters,
            "_updatedFrom": base.arn,
        }
        if "tunedHPOParams" in base.body:
            extra["tunedHPOParams"] = base.body["tunedHPOParams"]
        return extra

    def _model_dir(self, version: Resource) -> Path:
        tail = "/".join(version.arn.split("/")[-2:])
        return self.scope_root(version.arn) / "models" / tail

    def _save_model(self, version: Resource, model: Any) -> None:
        """Write the model beside its final place, then rename it there."""
        model_dir = self._model_dir(version)
        staging = model_dir.with_name(model_dir.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        model.save(staging)
        shutil.rmtree(model_dir, ignore_errors=True)
        staging.rename(model_dir)

    def _note_progress(self, arn: str, text: str | None) -> None:
        """Record what training is doing, for clients of this engine to show."""
        if text is None:
            return
        with self.store.transaction() as db:
            current = self.store.get(arn, db=db)
            if current is not None:
                body = dict(current.body, _progress=text)
                self.store.update(db, arn, body=body)

    # -- delete --------------------------------------------------------------------

    def _delete(self, resource: Resource) -> None:
        self._set_status(resource, "DELETE IN_PROGRESS")
        paths: list[Path] = []
        empty_dirs: list[Path] = []
        prefix = arn_prefix(resource.arn)
        with self.store.transaction() as db:
            if resource.type == "dataset":
                paths.append(self.data_dir(resource))
                # Imports written before files were kept per region live elsewhere.
                paths.extend(Path(p).parent for p in resource.body.get("_imports", []))
                self.store.delete_live_records(db, resource.arn)
                for job in self.store.list(
                    "dataset-import-job", resource.arn, db=db, prefix=prefix
                ):
                    self.store.delete(db, job.arn)
            elif resource.type == "solution":
                for version in self.store.list(
                    "solution-version", resource.arn, db=db, prefix=prefix
                ):
                    if "_modelDir" in version.body:
                        paths.append(Path(version.body["_modelDir"]))
                    self.store.delete(db, version.arn)
            elif resource.type == "dataset-group":
                self.store.delete_events(db, resource.arn)
                name = name_from_arn(resource.arn)
                paths.append(self.scope_root(resource.arn) / "data" / name)
                # The directory of the same name from before files were kept per
                # region may hold another region's data: remove it only when empty.
                empty_dirs.append(self.store.root / "data" / name)
            self.store.delete(db, resource.arn)
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
        for path in empty_dirs:
            with contextlib.suppress(OSError):
                path.rmdir()


def local_path(location: str) -> Path:
    """A dataLocation as a local path: a path, a file:// URI or a downloaded s3://."""
    if location.startswith("s3://"):
        from airctx.engine import s3source

        return s3source.download(location)
    if location.startswith("file://"):
        return Path(unquote(urlparse(location).path))
    return Path(location)


def _spec(schema: Resource, kind: str) -> DatasetSpec:
    from airctx.data.schema import spec_from_avro

    return spec_from_avro(schema.body["schema"], kind)


def _filtered(data: Any, event_type: str | None, threshold: float | None) -> Any:
    from dataclasses import replace

    from airctx.engine.training import filter_events

    return replace(
        data, interactions=filter_events(data.interactions, event_type, threshold)
    )


def _progress_text(stage: str, figures: Any) -> str | None:
    """One line a user can follow: the HPO trial and best score, or the stage."""
    f = dict(figures)
    if stage == "hpo_trial":
        return (
            f"HPO trial {int(f['trial'])}/{int(f['trials'])}: "
            f"NDCG@10 {f['score']:.4f}, best {f['best']:.4f}"
        )
    if stage == "metrics":
        return "scored on held-out users"
    if stage == "fit":
        return (
            f"fitting the final model on {int(f.get('interactions', 0)):,} interactions"
        )
    return None
