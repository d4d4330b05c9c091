"""Import the prepared CSVs: validate, stage (S3 on AWS), run one import job each.

Validation runs first, on this machine, so a bad file costs seconds instead of a
failed import job. Import jobs are named after the file's content hash: importing the
same data again finds the finished job and does nothing, while changed data gets a
new job. An INCREMENTAL import sends only the rows the dataset does not hold yet (see
``imported_rows``), since Personalize appends every row it is given.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from airctx.config import Settings
from airctx.data.schema import check_spec
from airctx.data.summary import PreparedSummary, summary_path
from airctx.data.validate import ValidationReport, validate_files
from airctx.errors import ConfigError, DataError, ResourceError, ValidationFailed
from airctx.pipeline.imported_rows import Hashes, RowRecord, file_hashes
from airctx.pipeline.project import Project, lost_race
from airctx.pipeline.resources import create_schemas
from airctx.pipeline.waiter import IN_FLIGHT

log = logging.getLogger(__name__)


@dataclass
class ImportResult:
    jobs: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)
    report: ValidationReport | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "importJobs": self.jobs,
            "unchanged": self.skipped,
            "validation": self.validation,
        }

    def text(self) -> str:
        """The jobs, then the validation report with runs of problems summed up."""
        lines = ["import jobs:"]
        lines.extend(
            f"  {kind}: {arn}" + (" (unchanged)" if kind in self.skipped else "")
            for kind, arn in self.jobs.items()
        )
        if self.report is not None:
            lines.append("validation: " + self.report.text())
        return "\n".join(lines)


def prepared_files(project: Project) -> dict[str, Path]:
    """The prepared CSV of every configured dataset that has one."""
    settings = project.settings
    files = {k: settings.prepared_csv(k) for k in settings.datasets}
    if not files.get("INTERACTIONS") or not files["INTERACTIONS"].is_file():
        raise DataError(
            f"{settings.prepared_csv('INTERACTIONS')} does not exist; run `airctx "
            "prep-data` first"
        )
    return {k: p for k, p in files.items() if p.is_file()}


def check_prepared_for(settings: Settings) -> None:
    """Refuse data that ``prep-data`` prepared for another project.

    Projects sharing one configuration share ``data.output_dir``; without this,
    ``--project alpha import`` would import what ``--project beta prep-data`` left
    there. Data prepared before the project was recorded is accepted.
    """
    path = summary_path(settings.data.output_dir)
    summary = PreparedSummary.load(path)
    if summary is None or not summary.prepared_for_another(settings.project):
        return
    source = f" from {summary.input_file}" if summary.input_file else ""
    raise DataError(
        f"the prepared data in {settings.data.output_dir} was prepared for project "
        f"{summary.project!r}{source} (recorded in {path}), not for "
        f"{settings.project!r}; nothing was imported. Run `airctx --project "
        f"{settings.project} prep-data` first, or give each project its own "
        "data.output_dir"
    )


def validate(project: Project, *, minimums: bool = True) -> ValidationReport:
    """Check the field lists, then the prepared CSVs against them."""
    settings = project.settings
    for spec in settings.datasets.values():
        check_spec(spec)
    files = prepared_files(project)
    return validate_files(
        files,
        {k: settings.datasets[k] for k in files},
        event_type=settings.solution.event_type,
        event_value_threshold=settings.solution.event_value_threshold,
        minimums=minimums,
    )


def import_data(
    project: Project, *, mode: str = "FULL", replace: bool = False
) -> ImportResult:
    """Validate, then import every prepared dataset into its Personalize dataset.

    A FULL import replaces what a dataset holds, so one that would drop
    interactions imported before, or leave out users or items the dataset holds, is
    refused unless ``replace`` is given.
    """
    check_prepared_for(project.settings)
    report = validate(project, minimums=mode == "FULL")
    result = ImportResult(validation=report.as_dict(), report=report)
    if not report.ok:
        raise ValidationFailed(
            "the prepared data is not safe to import; nothing was uploaded. Problems:\n"
            + "\n".join(report.problem_lines("error"))
            + "".join(f"\nskipped: {reason}" for reason in report.skipped),
            report,
        )
    check_staging(project)
    provisioned = create_schemas(project)
    if mode == "INCREMENTAL":
        _check_appendable(project, provisioned.datasets, prepared_files(project))
    # The row hashes of each file the FULL-import check read, reused for the record.
    hashed: dict[str, Hashes] = {}
    if mode == "FULL" and not replace:
        hashed = _check_nothing_dropped(
            project, provisioned.datasets, prepared_files(project)
        )
    for kind, path in prepared_files(project).items():
        dataset_arn = provisioned.datasets[kind]
        args = (project, kind, path, dataset_arn, mode, result, hashed.get(kind))
        try:
            arn, record = _import_one(*args)
        except ResourceError as exc:
            # Another run started the same import between the look-up and the start
            # (the job name is taken, or the dataset has a job in progress).
            if not lost_race(
                exc, "ResourceAlreadyExistsException", "LimitExceededException"
            ):
                raise
            log.info("import %s: another run started an import; looking again", kind)
            arn, record = _import_one(*args)
        if arn is None:
            continue
        result.jobs[kind] = arn
        project.wait_for(
            "dataset_import_job",
            arn,
            "DescribeDatasetImportJob",
            "datasetImportJob",
            "datasetImportJobArn",
        )
        record.settle(project)
    for kind, dataset_arn in provisioned.datasets.items():
        if kind in result.jobs:
            continue
        if active_imports(project, dataset_arn):
            project.report(
                f"warning: no {kind.lower()}.csv was prepared this time, so the {kind} "
                "dataset keeps the data of an earlier import; `airctx teardown` starts "
                "over"
            )
    return result


def _import_one(
    project: Project,
    kind: str,
    path: Path,
    dataset_arn: str,
    mode: str,
    result: ImportResult,
    hashes: Hashes | None = None,
) -> tuple[str | None, RowRecord]:
    """Start (or find) the import job of one prepared file; the job to wait for,
    or None when the dataset already holds the file's rows. ``hashes`` are the
    file's row hashes when they were read already.
    """
    base = _job_name(project.settings.project, kind, path)
    jobs = list(
        project.paginate(
            "ListDatasetImportJobs", "datasetImportJobs", datasetArn=dataset_arn
        )
    )
    ours = sorted(
        (
            j
            for j in jobs
            if j["jobName"] == base or j["jobName"].startswith(base + "-")
        ),
        key=lambda j: j["creationDateTime"],
    )
    active = [j for j in jobs if j["status"] == "ACTIVE"]
    record = RowRecord.for_dataset(project, kind, dataset_arn)
    record.settle(project)
    # What the dataset holds now: a FULL import replaces the data, so the newest
    # finished job decides; an INCREMENTAL one added to it if it ever finished.
    if mode == "FULL":
        holds = (
            bool(active) and max(active, key=lambda j: j["creationDateTime"]) in ours
        )
    else:
        holds = any(j["status"] == "ACTIVE" for j in ours)
    running = [j for j in ours if j["status"] in IN_FLIGHT]
    if running:
        arn = str(running[-1]["datasetImportJobArn"])
        project.report(f"import {kind}: already under way ({arn})")
    elif mode == "INCREMENTAL" and _record_is_current(record, active):
        delta = record.delta(path)
        if not delta.new:
            project.report(
                f"import {kind}: no new rows in {path.name}; all {delta.known} "
                "were imported before, so no import job was started"
            )
            result.skipped.append(kind)
            result.jobs[kind] = str(
                max(active, key=lambda j: j["creationDateTime"])["datasetImportJobArn"]
            )
            return None, record
        project.report(
            f"import {kind}: {delta.new} new rows appended; {delta.known} already "
            "imported were skipped"
        )
        arn = _start(project, kind, dataset_arn, delta.path, base, ours, mode)
        record.add_pending(arn, mode, delta.hashes)
    elif holds:
        project.report(f"import {kind}: {path.name} is what the dataset holds")
        if mode == "FULL":
            _start_record(
                project,
                record,
                path,
                max(active, key=lambda j: j["creationDateTime"]),
            )
        result.skipped.append(kind)
        result.jobs[kind] = str(ours[-1]["datasetImportJobArn"])
        return None, record
    elif ours and ours[-1]["status"] == "CREATE FAILED":
        raise ResourceError(
            f"import job {ours[-1]['jobName']} for {path} failed earlier: "
            f"{ours[-1].get('failureReason', 'no reason given')}. Fix the data "
            "and run `airctx prep-data` again (a changed file gets a new import "
            "job)"
        )
    else:
        if mode == "INCREMENTAL":
            project.report(
                f"warning: import {kind}: every row of {path.name} is appended, "
                "since airctx has no record of the rows the dataset holds "
                "(imported before airctx kept one, or by another tool); rows "
                "imported before are then held twice. A FULL import starts the "
                "record"
            )
        if mode == "FULL" and hashes is None:
            hashes = file_hashes(path)
        arn = _start(project, kind, dataset_arn, path, base, ours, mode)
        if mode == "FULL" and hashes is not None:
            record.add_pending(arn, mode, hashes)
    return arn, record


def check_staging(project: Project) -> None:
    """On the aws backend, check the bucket and the configured role an import job
    needs before any schema or dataset is created for it. Creates nothing."""
    settings = project.settings
    if settings.backend == "local":
        return

    from airctx.aws.iam import check_role
    from airctx.aws.s3 import check_bucket
    from airctx.aws.session import check_credentials

    bucket = _bucket(settings)
    check_credentials(project.clients)
    check_bucket(
        project.clients.s3,
        bucket,
        region=settings.region,
        create=settings.aws.create_bucket,
    )
    if settings.aws.role_arn:
        check_role(project.clients.iam, settings.aws.role_arn)


def check_interactions_imported(project: Project, group_arn: str) -> None:
    """Refuse to train, before a solution or version is created (and billed), on an
    interactions dataset that holds no imported data: the training would fail."""
    dataset = next(
        (
            d
            for d in project.paginate(
                "ListDatasets", "datasets", datasetGroupArn=group_arn
            )
            if d.get("datasetType") == "INTERACTIONS"
        ),
        None,
    )
    group = project.settings.dataset_group_name
    if dataset is None:
        raise ResourceError(
            f"dataset group {group} has no INTERACTIONS dataset, so there is nothing "
            "to train on; run `airctx import` (or `airctx run`) first. Nothing was "
            "created"
        )
    arn = str(dataset["datasetArn"])
    jobs = sorted(
        project.paginate("ListDatasetImportJobs", "datasetImportJobs", datasetArn=arn),
        key=lambda j: j["creationDateTime"],
    )
    if any(j["status"] == "ACTIVE" for j in jobs):
        return
    what = f"the INTERACTIONS dataset {dataset.get('name', arn)} ({arn})"
    running = [j for j in jobs if j["status"] in IN_FLIGHT]
    if running:
        raise ResourceError(
            f"{what} holds no imported data yet: import job "
            f"{running[-1]['jobName']} is still running. Run `airctx wait`, then "
            "`airctx train` again. Nothing was created"
        )
    failed = ""
    if jobs:
        newest = jobs[-1]
        reason = newest.get("failureReason") or "no reason given"
        failed = (
            f" (its import job {newest['jobName']} ended {newest['status']}: {reason})"
        )
    raise ResourceError(
        f"{what} holds no imported data{failed}, so a training would fail; run "
        "`airctx import` (or `airctx run`) first. Nothing was created"
    )


def unimported_changes(project: Project) -> bool:
    """Whether the prepared interactions differ from what the dataset holds now."""
    path = project.settings.prepared_csv("INTERACTIONS")
    group = project.find(
        "ListDatasetGroups",
        "datasetGroups",
        "name",
        project.settings.dataset_group_name,
    )
    if not path.is_file() or group is None:
        return False
    base = _job_name(project.settings.project, "INTERACTIONS", path)
    for dataset in project.paginate(
        "ListDatasets", "datasets", datasetGroupArn=group["datasetGroupArn"]
    ):
        if dataset["datasetType"] != "INTERACTIONS":
            continue
        active = active_imports(project, dataset["datasetArn"])
        if not active:
            return True
        newest = max(active, key=lambda j: j["creationDateTime"])
        return not str(newest["jobName"]).startswith(base)
    return True


def _start_record(
    project: Project, record: RowRecord, path: Path, newest: dict[str, Any]
) -> None:
    """Record the rows of a FULL import made before airctx kept a record."""
    arn = str(newest["datasetImportJobArn"])
    if record.job() == arn:
        return
    job = project.describe(
        "DescribeDatasetImportJob", "datasetImportJob", "datasetImportJobArn", arn
    )
    if job and job.get("importMode", "FULL") == "FULL":
        record.add_pending(arn, "FULL", file_hashes(path))
        record.settle(project)


def _record_is_current(record: RowRecord, active: list[dict[str, Any]]) -> bool:
    """Whether the record describes the dataset: no job it missed finished since."""
    job = record.job()
    if job is None or not active:
        return False
    newest = max(active, key=lambda j: j["creationDateTime"])
    return bool(newest["datasetImportJobArn"] == job)


def _start(
    project: Project,
    kind: str,
    dataset_arn: str,
    path: Path,
    base: str,
    ours: list[dict[str, Any]],
    mode: str,
) -> str:
    """Stage ``path`` and start an import job of it; its ARN."""
    # The same content imported before and replaced since gets a new job.
    suffix = f"-{len(ours) + 1}" if ours else ""
    name = base[: 63 - len(suffix)] + suffix
    location, role = _stage(project, kind, path)
    params: dict[str, Any] = {
        "jobName": name,
        "datasetArn": dataset_arn,
        "dataSource": {"dataLocation": location},
        "importMode": mode,
    }
    if role:
        params["roleArn"] = role
    arn = str(
        project.call("CreateDatasetImportJob", name, **params)["datasetImportJobArn"]
    )
    project.report(f"import {kind}: started {arn}")
    return arn


def active_imports(project: Project, dataset_arn: str) -> list[dict[str, Any]]:
    """The finished (ACTIVE) import jobs of a dataset: it holds data if any."""
    return [
        j
        for j in project.paginate(
            "ListDatasetImportJobs", "datasetImportJobs", datasetArn=dataset_arn
        )
        if j["status"] == "ACTIVE"
    ]


def _check_appendable(
    project: Project, datasets: dict[str, str], files: dict[str, Path]
) -> None:
    """Refuse an incremental import, before it starts, into a dataset with no data."""
    empty = [kind for kind in files if not active_imports(project, datasets[kind])]
    if empty:
        raise ResourceError(
            f"the {', '.join(empty)} dataset(s) hold no data yet, and an INCREMENTAL "
            "import can only add to earlier data; run `airctx import` (FULL) first. "
            "Nothing was imported."
        )


def _check_nothing_dropped(
    project: Project, datasets: dict[str, str], files: dict[str, Path]
) -> dict[str, Hashes]:
    """Refuse a FULL import that would remove rows a dataset holds.

    Interactions are the record of what happened, so a prepared file that lacks
    any of them (prepared from the new reviews alone, say) would lose them. A users
    or items row describes one id and a FULL import is how it is updated, so there
    only a file with fewer rows than the dataset holds (ids left out) is refused.
    Without a record of the rows imported, nothing is known to be lost and the
    import goes ahead. Returns the row hashes of the files it read.
    """
    problems = []
    hashed: dict[str, Hashes] = {}
    for kind, path in files.items():
        if kind not in datasets:
            continue
        record = RowRecord.for_dataset(project, kind, datasets[kind])
        record.settle(project)
        if not _record_is_current(record, active_imports(project, datasets[kind])):
            continue
        held = record.rows()
        given = hashed[kind] = file_hashes(path)
        if kind == "INTERACTIONS":
            lost = int(held.size - np.isin(held, given).sum())
            if lost:
                problems.append(
                    f"{path} lacks {lost:,} of the {held.size:,} interactions the "
                    "INTERACTIONS dataset holds"
                )
        elif given.size < held.size:
            what = kind.lower()
            problems.append(
                f"{path} holds {given.size:,} {what} where the {kind} dataset holds "
                f"{held.size:,}, so at least {held.size - given.size:,} {what} would "
                "lose their metadata"
            )
    if problems:
        raise ResourceError(
            "; ".join(problems) + ". A FULL import replaces a dataset's data, so "
            "nothing was imported. Prepare every review, old and new, together "
            "(`airctx prep-data --input FILE` or `airctx run --input FILE`; set "
            "data.input to FILE to make it the default) and import again, append "
            "only new rows with `airctx import --mode INCREMENTAL`, or pass "
            "--replace to replace the data on purpose"
        )
    return hashed


def _job_name(project: str, kind: str, path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"{project}-{kind.lower()}-{digest.hexdigest()[:12]}"[:63]


def _stage(project: Project, kind: str, path: Path) -> tuple[str, str | None]:
    """Where the import job reads the file, and the role it reads it with."""
    settings = project.settings
    if settings.backend == "local":
        return path.resolve().as_uri(), None

    from airctx.aws.iam import check_role, ensure_role
    from airctx.aws.s3 import ensure_bucket, object_key, upload_dataset
    from airctx.aws.session import check_credentials

    aws = settings.aws
    bucket = _bucket(settings)
    account = check_credentials(project.clients)
    ensure_bucket(
        project.clients.s3,
        bucket,
        region=settings.region,
        create=aws.create_bucket,
        account_id=account,
        prefix=aws.prefix,
    )
    key = object_key(aws.prefix, f"{settings.project}/{kind.lower()}.csv")
    uri = upload_dataset(project.clients.s3, path, bucket, key)
    if aws.role_arn:
        check_role(project.clients.iam, aws.role_arn)
        role = aws.role_arn
    else:
        role = ensure_role(
            project.clients.iam,
            role_name=aws.role_name or f"{settings.project}-personalize",
            bucket=bucket,
            prefix=aws.prefix,
            account_id=account,
        )
    return uri, role


def _bucket(settings: Settings) -> str:
    if not settings.aws.bucket:
        raise ResourceError(
            "aws.bucket is not set: the aws backend imports from S3; set aws.bucket in "
            f"{settings.config_path or 'the configuration'} (and aws.create_bucket: "
            "true to let airctx create it)"
        )
    from airctx.aws.s3 import bucket_name_problem

    problem = bucket_name_problem(settings.aws.bucket)
    if problem is not None:
        raise ConfigError(
            f"aws.bucket in {settings.config_path or 'the configuration'}: {problem}"
        )
    return settings.aws.bucket
