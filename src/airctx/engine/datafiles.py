"""Bulk data inside the engine: checking imported CSVs and assembling training data.

An import is checked the way Personalize checks it (header against the schema, types,
required values, timestamp units) and stored as a normalised CSV, so training never
meets a malformed row. Training data is the dataset group's imports plus the events
and records sent since, with the schema's names.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from airctx.config import DatasetSpec
from airctx.engine.jobs import JobFailed
from airctx.engine.recipes.base import TrainingData
from airctx.engine.store import Store

log = logging.getLogger(__name__)

RESERVED = {
    "USER_ID",
    "ITEM_ID",
    "TIMESTAMP",
    "EVENT_TYPE",
    "EVENT_VALUE",
    "IMPRESSION",
    "RECOMMENDATION_ID",
    "CREATION_TIMESTAMP",
}
ID_FIELDS = {"USER_ID", "ITEM_ID"}
MAX_ID = 256
MAX_CATEGORICAL = 1000
MILLISECONDS = 10**11  # epoch seconds reach 1e11 only in the year 5138


def context_fields(spec: DatasetSpec) -> list[str]:
    """Interaction fields usable as query context: categorical, not reserved."""
    return [f.name for f in spec.fields if f.categorical and f.name not in RESERVED]


def metadata_fields(spec: DatasetSpec) -> list[str]:
    return [f.name for f in spec.fields if f.categorical and f.name not in RESERVED]


def _names(names: list[str], sep: str) -> str:
    """Column names for a message, escaped where a terminal would not show them."""
    return sep.join(n if n.isprintable() else repr(n) for n in names)


def import_csv(source: Path, spec: DatasetSpec, target: Path) -> int:
    """Check ``source`` against ``spec`` and write the normalised rows to ``target``."""
    if not source.is_file():
        raise JobFailed(f"Input file {source} does not exist or is not a file")
    try:
        with open(source, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError as exc:
        raise JobFailed(f"Input file {source} is not UTF-8 ({exc})") from None
    if not header:
        raise JobFailed(f"Input file {source} is empty")
    header = [h.strip() for h in header]
    missing = [n for n in spec.names if n not in header]
    extra = [n for n in header if n not in spec.names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"is missing the column(s) {', '.join(missing)}")
        if extra:
            parts.append(
                f"has column(s) {_names(extra, ', ')} that the schema does not declare"
            )
        raise JobFailed(f"Input CSV {source} " + " and ".join(parts))
    if header != spec.names:
        raise JobFailed(
            f"Input CSV {source} has its columns in the order "
            f"{_names(header, ',')}; the "
            f"schema's order is {','.join(spec.names)}"
        )
    frame = pd.read_csv(
        source, dtype=str, keep_default_na=False, encoding="utf-8-sig", na_filter=False
    )
    frame = normalise(frame, spec, str(source))
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(target.name + ".tmp")
    frame.to_csv(temp, index=False)
    os.replace(temp, target)
    return len(frame)


def normalise(frame: pd.DataFrame, spec: DatasetSpec, where: str) -> pd.DataFrame:
    """Typed columns; raises JobFailed naming the first bad line and column."""
    out = pd.DataFrame(index=frame.index)
    for field in spec.fields:
        column = frame[field.name].str.strip()
        empty = column == ""
        if empty.any() and not field.nullable:
            line = int(np.flatnonzero(empty.to_numpy())[0]) + 2
            raise JobFailed(
                f"{where} line {line}: column {field.name} is empty and the schema "
                "does not allow null values"
            )
        if field.type in ("long", "int"):
            values = pd.to_numeric(column.where(~empty), errors="coerce")
            bad = values.isna() & ~empty
            if not bad.any():
                bad = (values % 1 != 0) & ~empty
            _bad_line(bad, column, where, field.name, f"a whole number ({field.type})")
            if field.name in ("TIMESTAMP", "CREATION_TIMESTAMP"):
                big = values >= MILLISECONDS
                _bad_line(
                    big,
                    column,
                    where,
                    field.name,
                    "epoch seconds (this looks like milliseconds)",
                )
            out[field.name] = values.astype("Int64")
        elif field.type in ("float", "double"):
            values = pd.to_numeric(column.where(~empty), errors="coerce")
            _bad_line(values.isna() & ~empty, column, where, field.name, "a number")
            out[field.name] = values.astype(float)
        elif field.type == "boolean":
            lowered = column.str.lower()
            _bad_line(
                ~lowered.isin(["true", "false", ""]),
                column,
                where,
                field.name,
                "true or false",
            )
            out[field.name] = lowered
        else:
            limit = MAX_ID if field.name in ID_FIELDS else MAX_CATEGORICAL
            _bad_line(
                column.str.len() > limit,
                column,
                where,
                field.name,
                f"at most {limit} characters",
            )
            out[field.name] = column.where(~empty)
    return out


def _bad_line(
    mask: pd.Series, column: pd.Series, where: str, name: str, expected: str
) -> None:
    if bool(mask.any()):
        position = int(np.flatnonzero(mask.to_numpy())[0])
        value = str(column.iloc[position])[:40]
        raise JobFailed(
            f"{where} line {position + 2}: column {name} must be {expected}, "
            f"found {value!r}"
        )


def read_parts(parts: list[str], spec: DatasetSpec) -> pd.DataFrame:
    frames = [
        pd.read_csv(p, dtype=str, keep_default_na=False)
        for p in parts
        if Path(p).is_file()
    ]
    if not frames:
        return pd.DataFrame(columns=spec.names)
    frame = pd.concat(frames, ignore_index=True)
    for field in spec.fields:
        if field.type in ("long", "int", "float", "double"):
            frame[field.name] = pd.to_numeric(frame[field.name], errors="coerce")
        else:
            frame[field.name] = frame[field.name].replace("", np.nan)
    return frame


def dataset_specs(store: Store, group_arn: str) -> dict[str, tuple[Any, DatasetSpec]]:
    from airctx.data.schema import spec_from_avro

    out: dict[str, tuple[Any, DatasetSpec]] = {}
    for dataset in store.list("dataset", group_arn):
        if dataset.status != "ACTIVE":
            continue
        schema = store.get(dataset.body["schemaArn"])
        if schema is None:
            continue
        kind = dataset.body["datasetType"]
        out[kind] = (dataset, spec_from_avro(schema.body["schema"], kind))
    return out


def training_data(store: Store, group_arn: str) -> TrainingData:
    """The dataset group's interactions, users and items, events included."""
    from airctx.data.schema import camel_case

    specs = dataset_specs(store, group_arn)
    if "INTERACTIONS" not in specs:
        raise JobFailed(
            f"Dataset group {group_arn} has no ACTIVE interactions dataset; create one "
            "and import data into it"
        )
    dataset, spec = specs["INTERACTIONS"]
    if not dataset.body.get("_imports"):
        raise JobFailed(f"Interactions dataset {dataset.arn} has no imported data")
    interactions = read_parts(dataset.body["_imports"], spec)
    contexts = context_fields(spec)

    # Events recorded through the event tracker join the interactions, as on AWS.
    events = store.events_for_group(group_arn)
    if events:
        by_camel = {camel_case(f.name): f.name for f in spec.fields}
        rows = []
        for event in events:
            row: dict[str, Any] = {
                "USER_ID": event["user_id"],
                "ITEM_ID": event["item_id"],
                "TIMESTAMP": int(event["sent_at"]),
                "EVENT_TYPE": event["event_type"],
                "EVENT_VALUE": event["event_value"],
            }
            for key, value in json.loads(event["properties"] or "{}").items():
                if key in by_camel:
                    row[by_camel[key]] = value
            rows.append(row)
        extra = pd.DataFrame(rows).dropna(subset=["ITEM_ID"])
        interactions = pd.concat([interactions, extra], ignore_index=True)
    if "EVENT_TYPE" not in interactions:
        interactions["EVENT_TYPE"] = ""
    if "EVENT_VALUE" not in interactions:
        interactions["EVENT_VALUE"] = np.nan
    interactions["TIMESTAMP"] = interactions["TIMESTAMP"].astype("int64")
    interactions["EVENT_VALUE"] = interactions["EVENT_VALUE"].astype(float)

    users, user_fields = _metadata(store, specs.get("USERS"), "USER_ID")
    items, item_fields = _metadata(store, specs.get("ITEMS"), "ITEM_ID")
    return TrainingData(
        interactions=interactions,
        users=users,
        items=items,
        context_fields=tuple(contexts),
        user_fields=tuple(user_fields),
        item_fields=tuple(item_fields),
    )


def _metadata(
    store: Store, entry: tuple[Any, DatasetSpec] | None, key: str
) -> tuple[pd.DataFrame | None, list[str]]:
    from airctx.data.schema import camel_case

    if entry is None:
        return None, []
    dataset, spec = entry
    fields = metadata_fields(spec)
    frame = read_parts(dataset.body.get("_imports", []), spec)
    live = store.live_records(dataset.arn)
    if live:
        by_camel = {camel_case(f): f for f in fields}
        rows = [
            {key: rid, **{by_camel[k]: v for k, v in props.items() if k in by_camel}}
            for rid, props in live.items()
        ]
        frame = pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)
    frame = frame.drop_duplicates(subset=[key], keep="last").set_index(key)
    return frame[fields], fields
