"""Personalize schemas derived from one field list (:class:`DatasetSpec`).

The Avro document sent to CreateSchema, the rules Personalize applies to it, the
PutEvents property names and the pandas dtypes for the prepared CSVs all come from
the same :class:`~airctx.config.DatasetSpec`, so they cannot drift apart.

Notes
-----
Avro has no notion of a *context* field: in Personalize any categorical string
metadata field of the interactions dataset may be passed as context. Parsing an Avro
document back (:func:`spec_from_avro`) therefore marks every such field as context.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from airctx.config import DATASET_KINDS, FIELD_TYPES, DatasetSpec, FieldSpec
from airctx.errors import SchemaError

NAMESPACE = "com.amazonaws.personalize.schema"
RECORD_NAMES = {"INTERACTIONS": "Interactions", "USERS": "Users", "ITEMS": "Items"}
AVRO_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Fields every dataset of a kind must have, with the one type Personalize accepts.
REQUIRED_FIELDS: dict[str, dict[str, str]] = {
    "INTERACTIONS": {"USER_ID": "string", "ITEM_ID": "string", "TIMESTAMP": "long"},
    "USERS": {"USER_ID": "string"},
    "ITEMS": {"ITEM_ID": "string"},
}

# Names Personalize gives a meaning to, with the types it accepts for them.
RESERVED_FIELDS: dict[str, tuple[str, ...]] = {
    "EVENT_TYPE": ("string",),
    "EVENT_VALUE": ("float", "double"),
    "IMPRESSION": ("string",),
    "RECOMMENDATION_ID": ("string",),
    "CREATION_TIMESTAMP": ("long",),
}

# Metadata (non-reserved) field limits from PERSONALIZE-NOTES: users 1-5,
# interactions at most 5, items at least 1 (no upper bound given there).
METADATA_LIMITS: dict[str, tuple[int, int | None]] = {
    "INTERACTIONS": (0, 5),
    "USERS": (1, 5),
    "ITEMS": (1, None),
}

ID_FIELDS = ("USER_ID", "ITEM_ID")
MAX_ID_CHARS = 256
MAX_CATEGORICAL_CHARS = 1000

_PANDAS_DTYPES = {
    "string": "string",
    "long": "Int64",
    "int": "Int64",
    "float": "float64",
    "double": "float64",
    "boolean": "boolean",
}


def avro_schema(spec: DatasetSpec) -> dict[str, Any]:
    """The Avro record CreateSchema expects for ``spec``, fields in CSV order."""
    fields: list[dict[str, Any]] = []
    for f in spec.fields:
        entry: dict[str, Any] = {
            "name": f.name,
            "type": ["null", f.type] if f.nullable else f.type,
        }
        if f.categorical:
            entry["categorical"] = True
        fields.append(entry)
    return {
        "type": "record",
        "name": RECORD_NAMES.get(spec.kind, spec.kind.title()),
        "namespace": NAMESPACE,
        "fields": fields,
        "version": "1.0",
    }


def metadata_fields(spec: DatasetSpec) -> list[FieldSpec]:
    """The fields that are neither required nor reserved for the dataset's kind."""
    required = REQUIRED_FIELDS.get(spec.kind, {})
    return [
        f
        for f in spec.fields
        if f.name not in required and f.name not in RESERVED_FIELDS
    ]


def schema_problems(spec: DatasetSpec) -> list[str]:
    """Every way ``spec`` breaks Personalize's schema rules; empty when it is valid."""
    kind = spec.kind
    if kind not in DATASET_KINDS:
        return [f"dataset kind {kind!r} is not one of {', '.join(DATASET_KINDS)}"]
    problems: list[str] = []
    if not spec.fields:
        problems.append(f"{kind}: the schema has no fields")

    counts = Counter(spec.names)
    for name, count in counts.items():
        if count > 1:
            problems.append(f"{kind}.{name}: field name appears {count} times")
    for f in spec.fields:
        problems.extend(_field_problems(kind, f))

    for name, ftype in REQUIRED_FIELDS[kind].items():
        found = spec.get(name)
        if found is None:
            problems.append(f"{kind}.{name}: required field is missing (type {ftype})")
        elif found.nullable:
            problems.append(f"{kind}.{name}: required field cannot be nullable")

    low, high = METADATA_LIMITS[kind]
    n_meta = len(metadata_fields(spec))
    if n_meta < low:
        problems.append(
            f"{kind}: needs at least {low} metadata field(s) besides "
            f"{', '.join(REQUIRED_FIELDS[kind])}; it has {n_meta}"
        )
    if high is not None and n_meta > high:
        problems.append(
            f"{kind}: at most {high} metadata fields are allowed; it has {n_meta}"
        )
    return problems


def _field_problems(kind: str, f: FieldSpec) -> list[str]:
    where = f"{kind}.{f.name}"
    problems: list[str] = []
    if not AVRO_NAME_RE.match(f.name):
        problems.append(
            f"{where}: not a valid Avro field name (letters, digits and '_', "
            "not starting with a digit)"
        )
    if f.type not in FIELD_TYPES:
        problems.append(
            f"{where}: type {f.type!r} is not one of {', '.join(FIELD_TYPES)}"
        )

    required_type = REQUIRED_FIELDS[kind].get(f.name)
    if required_type is not None and f.type != required_type:
        problems.append(f"{where}: must have type {required_type}, not {f.type}")
    reserved_types = RESERVED_FIELDS.get(f.name)
    if reserved_types is not None and f.type not in reserved_types:
        problems.append(
            f"{where}: reserved field must have type {' or '.join(reserved_types)}, "
            f"not {f.type}"
        )

    if f.categorical and f.type != "string":
        problems.append(f"{where}: only string fields can be categorical, not {f.type}")
    if f.categorical and f.name == "EVENT_TYPE":
        problems.append(f"{where}: EVENT_TYPE can never be categorical")

    if f.context:
        if kind != "INTERACTIONS":
            problems.append(f"{where}: only interactions fields can be context fields")
        elif f.name in REQUIRED_FIELDS[kind] or f.name in RESERVED_FIELDS:
            problems.append(f"{where}: a required or reserved field cannot be context")
        elif not (f.categorical and f.type == "string"):
            problems.append(
                f"{where}: a context field must be a categorical string "
                "(type string, categorical: true)"
            )
    return problems


def check_spec(spec: DatasetSpec) -> None:
    """Raise :class:`SchemaError` listing every problem of ``spec``, if any."""
    problems = schema_problems(spec)
    if problems:
        raise SchemaError(
            f"the {spec.kind.lower()} schema breaks Personalize's rules:\n  - "
            + "\n  - ".join(problems)
        )


def spec_from_avro(schema: Mapping[str, Any] | str, kind: str) -> DatasetSpec:
    """Parse an Avro schema document (as sent to CreateSchema) into a DatasetSpec.

    Raises :class:`SchemaError` when the document is not a record of named fields
    with primitive (or ``["null", primitive]``) types. Rule checks are left to
    :func:`schema_problems`.
    """
    doc: Any = schema
    if isinstance(schema, str):
        try:
            doc = json.loads(schema)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"the schema is not valid JSON: {exc}") from None
    if not isinstance(doc, Mapping):
        raise SchemaError("the schema must be a JSON object (an Avro record)")
    if doc.get("type") != "record":
        raise SchemaError(
            f"the schema's type must be 'record', not {doc.get('type')!r}"
        )
    raw_fields = doc.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise SchemaError("the schema needs a non-empty 'fields' list")

    kind = kind.upper()
    fields: list[FieldSpec] = []
    for index, raw in enumerate(raw_fields):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
            raise SchemaError(f"fields[{index}]: each field needs a string 'name'")
        name = raw["name"]
        ftype, nullable = _avro_type(raw.get("type"), f"fields[{index}] ({name})")
        categorical = raw.get("categorical", False)
        if not isinstance(categorical, bool):
            raise SchemaError(
                f"fields[{index}] ({name}): 'categorical' must be true/false"
            )
        context = (
            kind == "INTERACTIONS"
            and categorical
            and ftype == "string"
            and name not in REQUIRED_FIELDS["INTERACTIONS"]
            and name not in RESERVED_FIELDS
        )
        fields.append(FieldSpec(name, ftype, categorical, context, nullable))
    return DatasetSpec(kind=kind, fields=tuple(fields))


def _avro_type(raw: Any, where: str) -> tuple[str, bool]:
    """A field's primitive type name and whether it is nullable."""
    if isinstance(raw, str):
        return raw, False
    if isinstance(raw, list) and "null" in raw:
        others = [t for t in raw if t != "null"]
        if len(others) == 1 and isinstance(others[0], str):
            return others[0], True
    raise SchemaError(
        f"{where}: type {raw!r} is not supported; use a primitive type name or "
        '["null", <type>]'
    )


def camel_case(name: str) -> str:
    """The PutEvents ``properties`` key for a field: CABIN_TYPE -> cabinType."""
    parts = [p for p in name.split("_") if p]
    if not parts:
        return name
    return parts[0].lower() + "".join(p[:1].upper() + p[1:].lower() for p in parts[1:])


def pandas_dtypes(spec: DatasetSpec) -> dict[str, str]:
    """Nullable pandas dtypes for reading a prepared CSV of ``spec``."""
    return {f.name: _PANDAS_DTYPES.get(f.type, "string") for f in spec.fields}
