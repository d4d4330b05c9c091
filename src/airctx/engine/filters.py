"""Personalize filter expressions: parsing and evaluation.

Supported grammar (one or more clauses joined by ``|``)::

    (INCLUDE|EXCLUDE) ItemID WHERE <condition> [(AND|OR) <condition>]...
    condition := Items.FIELD|Interactions.FIELD  IN|NOT IN (v, ...)
               | Items.FIELD|Interactions.FIELD  = < > <= >=  v
    v := "string" | number | $PLACEHOLDER

``Interactions`` conditions look at the querying user's own interactions (imported
and recorded with PutEvents); ``Items`` conditions at item metadata. ``"*"`` in an
``Interactions.EVENT_TYPE IN`` list matches every event type. Conditions on
``CurrentUser`` and action filters are not supported by the local engine and are
rejected when the filter is created.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?)|(?P<ph>\$[A-Za-z0-9_]+)'
    r"|(?P<op><=|>=|=|<|>|\(|\)|,|\|)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
COMPARISONS = ("=", "<", ">", "<=", ">=")


@dataclass(frozen=True)
class Condition:
    dataset: str  # "Items" or "Interactions"
    field: str
    op: str  # IN, NOT IN, or a comparison
    values: tuple[Any, ...]  # literals, or ("$", NAME) placeholders


@dataclass(frozen=True)
class Clause:
    action: str  # INCLUDE or EXCLUDE
    conditions: tuple[Condition, ...]
    joins: tuple[str, ...]  # AND / OR between consecutive conditions


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(
                f"unexpected text at character {pos + 1}: {text[pos : pos + 20]!r}"
            )
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def parse(expression: str) -> list[Clause]:
    """Parse a filter expression; ValueError names what is wrong and where."""
    if not expression or not expression.strip():
        raise ValueError("the expression is empty")
    if len(expression) > 2500:
        raise ValueError("the expression is longer than 2500 characters")
    tokens = _tokens(expression)
    clauses: list[Clause] = []
    i = 0

    def expect_word(*words: str) -> str:
        nonlocal i
        if (
            i >= len(tokens)
            or tokens[i][0] != "word"
            or tokens[i][1].upper() not in words
        ):
            got = tokens[i][1] if i < len(tokens) else "end of expression"
            raise ValueError(f"expected {' or '.join(words)}, found {got!r}")
        i += 1
        return tokens[i - 1][1].upper()

    def value() -> Any:
        nonlocal i
        if i >= len(tokens):
            raise ValueError("expected a value, found end of expression")
        kind, text = tokens[i]
        i += 1
        if kind == "str":
            return text[1:-1].replace('\\"', '"')
        if kind == "num":
            return float(text)
        if kind == "ph":
            return ("$", text[1:])
        raise ValueError(f"expected a value, found {text!r}")

    while True:
        action = expect_word("INCLUDE", "EXCLUDE")
        expect_word("ITEMID")
        expect_word("WHERE")
        conditions: list[Condition] = []
        joins: list[str] = []
        while True:
            if i >= len(tokens) or tokens[i][0] != "word" or "." not in tokens[i][1]:
                raise ValueError("expected Items.FIELD or Interactions.FIELD")
            dataset, _, field = tokens[i][1].partition(".")
            if dataset not in ("Items", "Interactions"):
                raise ValueError(
                    f"{dataset}.{field}: the local engine filters on Items and "
                    "Interactions fields only"
                )
            i += 1
            if i < len(tokens) and tokens[i] == ("word", "NOT"):
                i += 1
                expect_word("IN")
                op = "NOT IN"
            elif (
                i < len(tokens)
                and tokens[i][0] == "word"
                and tokens[i][1].upper() == "IN"
            ):
                i += 1
                op = "IN"
            elif i < len(tokens) and tokens[i][1] in COMPARISONS:
                op = tokens[i][1]
                i += 1
            else:
                raise ValueError(
                    f"expected IN, NOT IN or a comparison after {dataset}.{field}"
                )
            if op in ("IN", "NOT IN"):
                if i >= len(tokens) or tokens[i][1] != "(":
                    raise ValueError(f"expected '(' after {op}")
                i += 1
                values = [value()]
                while i < len(tokens) and tokens[i][1] == ",":
                    i += 1
                    values.append(value())
                if i >= len(tokens) or tokens[i][1] != ")":
                    raise ValueError("expected ')' to close the value list")
                i += 1
            else:
                values = [value()]
            conditions.append(Condition(dataset, field, op, tuple(values)))
            if (
                i < len(tokens)
                and tokens[i][0] == "word"
                and tokens[i][1].upper() in ("AND", "OR")
            ):
                joins.append(tokens[i][1].upper())
                i += 1
                continue
            break
        clauses.append(Clause(action, tuple(conditions), tuple(joins)))
        if i < len(tokens) and tokens[i][1] == "|":
            i += 1
            continue
        if i < len(tokens):
            raise ValueError(f"unexpected {tokens[i][1]!r} after a complete clause")
        return clauses


def placeholders(clauses: Iterable[Clause]) -> set[str]:
    return {
        v[1]
        for clause in clauses
        for cond in clause.conditions
        for v in cond.values
        if isinstance(v, tuple)
    }


def parse_filter_values(raw: Mapping[str, str]) -> dict[str, list[Any]]:
    """filterValues entries carry their own quotes: ``"\\"comedy\\",\\"drama\\""``."""
    out: dict[str, list[Any]] = {}
    for name, text in raw.items():
        items: list[Any] = []
        for kind, token in _tokens(text):
            if kind == "str":
                items.append(token[1:-1])
            elif kind == "num":
                items.append(float(token))
            elif token != ",":
                raise ValueError(
                    f"filterValues[{name}] must be quoted strings or numbers "
                    f'separated by commas, e.g. "\\"comedy\\""; found {token!r}'
                )
        out[name] = items
    return out


@dataclass(frozen=True)
class FilterInput:
    """What a filter looks at for one query."""

    candidates: Sequence[str]
    item_metadata: Mapping[str, Mapping[str, Any]]
    user_interactions: Sequence[Mapping[str, Any]]  # rows keyed by schema field name


def apply(
    clauses: Sequence[Clause], values: Mapping[str, list[Any]], data: FilterInput
) -> set[str]:
    """The candidate item ids that pass every clause."""
    missing = placeholders(clauses) - set(values)
    if missing:
        raise ValueError(
            "filterValues is missing a value for "
            + ", ".join(f"${m}" for m in sorted(missing))
        )
    allowed = set(data.candidates)
    for clause in clauses:
        matched = {
            item for item in allowed if _clause_matches(clause, item, values, data)
        }
        allowed = matched if clause.action == "INCLUDE" else allowed - matched
    return allowed


def _clause_matches(
    clause: Clause, item: str, values: Mapping[str, list[Any]], data: FilterInput
) -> bool:
    result = _condition_matches(clause.conditions[0], item, values, data)
    for join, cond in zip(clause.joins, clause.conditions[1:], strict=True):
        current = _condition_matches(cond, item, values, data)
        result = (result and current) if join == "AND" else (result or current)
    return result


def _condition_matches(
    cond: Condition, item: str, values: Mapping[str, list[Any]], data: FilterInput
) -> bool:
    literals: list[Any] = []
    for v in cond.values:
        literals.extend(values[v[1]] if isinstance(v, tuple) else [v])
    if cond.dataset == "Items":
        return _compare(
            data.item_metadata.get(item, {}).get(cond.field), cond.op, literals
        )
    for row in data.user_interactions:
        if row.get("ITEM_ID") != item:
            continue
        if cond.field == "EVENT_TYPE" and "*" in literals and cond.op == "IN":
            return True
        if _compare(row.get(cond.field), cond.op, literals):
            return True
    return False


def _compare(actual: Any, op: str, literals: list[Any]) -> bool:
    if actual is None:
        return op == "NOT IN"
    if op in ("IN", "NOT IN"):
        # Multi-valued categorical metadata uses '|' between values.
        parts = (
            {p for p in str(actual).split("|")} if isinstance(actual, str) else {actual}
        )
        hit = any(
            str(lit) in {str(p) for p in parts} or lit == actual for lit in literals
        )
        return hit if op == "IN" else not hit
    try:
        left, right = float(actual), float(literals[0])
    except (TypeError, ValueError):
        return False
    return {
        "=": left == right,
        "<": left < right,
        ">": left > right,
        "<=": left <= right,
        ">=": left >= right,
    }[op]
