"""Schema derivation and Personalize's schema rules."""

from __future__ import annotations

import json
from io import StringIO

import pandas as pd
import pytest

from airctx.config import DatasetSpec, FieldSpec
from airctx.data.schema import (
    avro_schema,
    camel_case,
    check_spec,
    pandas_dtypes,
    schema_problems,
    spec_from_avro,
)
from airctx.errors import SchemaError
from tests.conftest import INTERACTIONS, USERS


def _with(spec: DatasetSpec, *extra: FieldSpec) -> DatasetSpec:
    return DatasetSpec(spec.kind, spec.fields + extra)


def test_avro_schema_of_reference_interactions() -> None:
    assert avro_schema(INTERACTIONS) == {
        "type": "record",
        "name": "Interactions",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
            {"name": "CABIN_TYPE", "type": "string", "categorical": True},
            {"name": "EVENT_TYPE", "type": "string"},
            {"name": "EVENT_VALUE", "type": "float"},
        ],
        "version": "1.0",
    }


def test_avro_schema_nullable_is_a_union() -> None:
    spec = DatasetSpec(
        "USERS",
        (FieldSpec("USER_ID"), FieldSpec("AGE_BAND", categorical=True, nullable=True)),
    )
    doc = avro_schema(spec)
    assert doc["name"] == "Users"
    assert doc["fields"][1] == {
        "name": "AGE_BAND",
        "type": ["null", "string"],
        "categorical": True,
    }


@pytest.mark.parametrize("spec", [INTERACTIONS, USERS], ids=["interactions", "users"])
def test_reference_specs_are_valid(spec: DatasetSpec) -> None:
    assert schema_problems(spec) == []
    check_spec(spec)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            DatasetSpec("INTERACTIONS", INTERACTIONS.fields[1:]),
            "INTERACTIONS.USER_ID: required field is missing",
        ),
        (
            DatasetSpec(
                "INTERACTIONS",
                (FieldSpec("USER_ID"), FieldSpec("ITEM_ID"), FieldSpec("TIMESTAMP")),
            ),
            "INTERACTIONS.TIMESTAMP: must have type long",
        ),
        (
            _with(USERS, FieldSpec("AGE", "int", categorical=True)),
            "USERS.AGE: only string fields can be categorical",
        ),
        (
            DatasetSpec(
                "INTERACTIONS",
                (*INTERACTIONS.fields[:4], FieldSpec("EVENT_TYPE", categorical=True)),
            ),
            "INTERACTIONS.EVENT_TYPE: EVENT_TYPE can never be categorical",
        ),
        (
            DatasetSpec(
                "INTERACTIONS", (*INTERACTIONS.fields[:5], FieldSpec("EVENT_VALUE"))
            ),
            "INTERACTIONS.EVENT_VALUE: reserved field must have type float or double",
        ),
        (
            _with(INTERACTIONS, FieldSpec("CREATION_TIMESTAMP", "int")),
            "INTERACTIONS.CREATION_TIMESTAMP: reserved field must have type long",
        ),
        (
            _with(INTERACTIONS, FieldSpec("DEVICE", context=True)),
            "INTERACTIONS.DEVICE: a context field must be a categorical string",
        ),
        (
            _with(USERS, FieldSpec("TIER", categorical=True, context=True)),
            "USERS.TIER: only interactions fields can be context fields",
        ),
        (
            DatasetSpec(
                "INTERACTIONS",
                (
                    *INTERACTIONS.fields[:4],
                    FieldSpec("EVENT_TYPE", categorical=False, context=True),
                ),
            ),
            "INTERACTIONS.EVENT_TYPE: a required or reserved field cannot be context",
        ),
        (
            _with(INTERACTIONS, FieldSpec("CABIN_TYPE", categorical=True)),
            "INTERACTIONS.CABIN_TYPE: field name appears 2 times",
        ),
        (
            _with(USERS, FieldSpec("HOME-TOWN", categorical=True)),
            "USERS.HOME-TOWN: not a valid Avro field name",
        ),
        (
            _with(USERS, FieldSpec("2ND", categorical=True)),
            "USERS.2ND: not a valid Avro field name",
        ),
        (
            DatasetSpec("USERS", (FieldSpec("USER_ID"),)),
            "USERS: needs at least 1 metadata field(s)",
        ),
        (
            DatasetSpec("ITEMS", (FieldSpec("ITEM_ID"),)),
            "ITEMS: needs at least 1 metadata field(s)",
        ),
        (
            _with(USERS, *(FieldSpec(f"M{i}", categorical=True) for i in range(5))),
            "USERS: at most 5 metadata fields are allowed; it has 6",
        ),
        (
            _with(INTERACTIONS, *(FieldSpec(f"M{i}") for i in range(5))),
            "INTERACTIONS: at most 5 metadata fields are allowed; it has 6",
        ),
        (
            DatasetSpec(
                "USERS", (FieldSpec("USER_ID", nullable=True), USERS.fields[1])
            ),
            "USERS.USER_ID: required field cannot be nullable",
        ),
        (
            _with(USERS, FieldSpec("BLOB", "bytes")),
            "USERS.BLOB: type 'bytes' is not one of",
        ),
        (DatasetSpec("EVENTS", USERS.fields), "dataset kind 'EVENTS' is not one of"),
    ],
    ids=[
        "missing-user-id",
        "timestamp-not-long",
        "categorical-int",
        "event-type-categorical",
        "event-value-string",
        "creation-timestamp-int",
        "context-not-categorical",
        "context-on-users",
        "context-on-reserved",
        "duplicate",
        "dash-in-name",
        "leading-digit",
        "users-no-metadata",
        "items-no-metadata",
        "users-too-much-metadata",
        "interactions-too-much-metadata",
        "nullable-id",
        "unknown-type",
        "unknown-kind",
    ],
)
def test_schema_problems_name_field_and_rule(spec: DatasetSpec, expected: str) -> None:
    problems = schema_problems(spec)
    assert any(p.startswith(expected) for p in problems), problems


def test_check_spec_lists_all_problems() -> None:
    spec = DatasetSpec("INTERACTIONS", (FieldSpec("ITEM_ID", "int"),))
    with pytest.raises(SchemaError) as info:
        check_spec(spec)
    message = str(info.value)
    assert "USER_ID: required field is missing" in message
    assert "TIMESTAMP: required field is missing" in message
    assert "ITEM_ID: must have type string, not int" in message


def test_five_interaction_metadata_fields_are_allowed() -> None:
    spec = _with(INTERACTIONS, *(FieldSpec(f"M{i}") for i in range(4)))
    assert schema_problems(spec) == []


@pytest.mark.parametrize("spec", [INTERACTIONS, USERS], ids=["interactions", "users"])
def test_spec_from_avro_round_trips(spec: DatasetSpec) -> None:
    assert spec_from_avro(avro_schema(spec), spec.kind) == spec
    assert spec_from_avro(json.dumps(avro_schema(spec)), spec.kind.lower()) == spec


def test_spec_from_avro_reads_nullable_union_in_either_order() -> None:
    doc = {
        "type": "record",
        "name": "Items",
        "fields": [
            {"name": "ITEM_ID", "type": "string"},
            {"name": "GENRE", "type": ["string", "null"], "categorical": True},
        ],
    }
    spec = spec_from_avro(doc, "ITEMS")
    assert spec.fields[1] == FieldSpec("GENRE", "string", True, False, True)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"type": "enum", "fields": []}, "type must be 'record'"),
        ({"type": "record"}, "non-empty 'fields' list"),
        ({"type": "record", "fields": [{"type": "string"}]}, "fields[0]: each field"),
        (
            {"type": "record", "fields": [{"name": "X", "type": {"type": "map"}}]},
            "fields[0] (X): type",
        ),
        (
            {"type": "record", "fields": [{"name": "X", "type": ["int", "string"]}]},
            "fields[0] (X): type",
        ),
        (
            {
                "type": "record",
                "fields": [{"name": "X", "type": "string", "categorical": "yes"}],
            },
            "'categorical' must be true/false",
        ),
    ],
    ids=["bad-json", "array", "enum", "no-fields", "no-name", "map", "union", "cat"],
)
def test_spec_from_avro_rejects_malformed_documents(doc: object, expected: str) -> None:
    with pytest.raises(SchemaError) as info:
        spec_from_avro(doc, "USERS")  # type: ignore[arg-type]
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CABIN_TYPE", "cabinType"),
        ("USER_RESIDENCE", "userResidence"),
        ("DEVICE", "device"),
        ("TRIP__KIND_", "tripKind"),
        ("trip_kind", "tripKind"),
    ],
)
def test_camel_case(name: str, expected: str) -> None:
    assert camel_case(name) == expected


def test_pandas_dtypes_read_a_prepared_csv() -> None:
    dtypes = pandas_dtypes(INTERACTIONS)
    assert dtypes == {
        "USER_ID": "string",
        "ITEM_ID": "string",
        "TIMESTAMP": "Int64",
        "CABIN_TYPE": "string",
        "EVENT_TYPE": "string",
        "EVENT_VALUE": "float64",
    }
    frame = pd.read_csv(
        StringIO(
            "USER_ID,ITEM_ID,TIMESTAMP,CABIN_TYPE,EVENT_TYPE,EVENT_VALUE\n"
            "007,a,1428624000,Economy,RATING,7\n"
        ),
        dtype=dtypes,  # type: ignore[arg-type]
    )
    assert frame["USER_ID"].iloc[0] == "007"
    assert frame["TIMESTAMP"].iloc[0] == 1428624000
