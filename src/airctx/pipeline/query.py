"""Recommend, rank and track events: the runtime side of the pipeline.

Context keys are checked against the context fields the interactions dataset
declares before any call is made; event properties are sent under the camelCase
names Personalize expects.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import logging
import shlex
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from airctx.aws.errors import error_code, translate_errors
from airctx.config import Settings
from airctx.data.summary import PreparedSummary, summary_path
from airctx.errors import ContextError, ResourceError
from airctx.pipeline.deploy import campaign_arn, ensure_event_tracker
from airctx.pipeline.project import Project

if TYPE_CHECKING:
    from mypy_boto3_personalize_events.type_defs import EventTypeDef

log = logging.getLogger(__name__)


# Recipes by what a campaign of theirs answers (Personalize's recipe types).
RELATED_ITEMS_RECIPES = ("aws-sims", "aws-similar-items")
RANKING_RECIPES = ("aws-personalized-ranking", "aws-personalized-ranking-v2")
# The example configuration of a ranking project, shipped beside airctx.yaml.
RANKING_EXAMPLE = "ranking.yaml"
GENERIC_ARGUMENTS = "--user USER --items A,B,..."


# Where each id a command takes goes in its request: (service, operation, path to
# the member), for the length limit in botocore's service model.
ID_MEMBERS: dict[tuple[str, str], tuple[str, str, tuple[str, ...]]] = {
    ("recommend", "user_id"): (
        "personalize-runtime",
        "GetRecommendations",
        ("userId",),
    ),
    ("recommend", "item_id"): (
        "personalize-runtime",
        "GetRecommendations",
        ("itemId",),
    ),
    ("rank", "user_id"): ("personalize-runtime", "GetPersonalizedRanking", ("userId",)),
    ("rank", "items"): (
        "personalize-runtime",
        "GetPersonalizedRanking",
        ("inputList",),
    ),
    ("track-event", "user_id"): ("personalize-events", "PutEvents", ("userId",)),
    ("track-event", "item_id"): (
        "personalize-events",
        "PutEvents",
        ("eventList", "itemId"),
    ),
    ("track-event", "session_id"): ("personalize-events", "PutEvents", ("sessionId",)),
}


@functools.cache
def id_length_limit(command: str, option: str) -> int | None:
    """The most characters the id ``option`` of ``command`` may have, as botocore's
    service model declares it (None when the model sets no limit). botocore checks
    only minimum lengths, so a longer id would reach the service."""
    where = ID_MEMBERS.get((command, option))
    if where is None:
        return None
    service, operation, path = where
    shape: Any = _service_model(service).operation_model(operation).input_shape
    for name in path:
        shape = shape.members[name]
        while shape.type_name == "list":
            shape = shape.member
    limit = shape.metadata.get("max")
    return int(limit) if limit is not None else None


@functools.cache
def _service_model(service: str) -> Any:
    """botocore's model of ``service``, loaded once per process (a command checks
    several ids against the same one)."""
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


def recipe_type(recipe: str) -> str:
    """RELATED_ITEMS, PERSONALIZED_RANKING or USER_PERSONALIZATION, by recipe name."""
    if recipe in RELATED_ITEMS_RECIPES:
        return "RELATED_ITEMS"
    if recipe in RANKING_RECIPES:
        return "PERSONALIZED_RANKING"
    return "USER_PERSONALIZATION"


def format_score(score: float | None) -> str:
    """A score for a table: four significant digits (scores that are shares of
    the whole catalogue are small), nothing when the answer had none."""
    return "" if score is None else f"{score:#.4g}"


def _item_list(entries: Iterable[Mapping[str, Any]]) -> list[tuple[str, float | None]]:
    """(item, score) pairs of an answer; Personalize sends no score for some
    recipes (SIMS, Popularity-Count)."""
    out: list[tuple[str, float | None]] = []
    for entry in entries:
        score = entry.get("score")
        out.append((entry["itemId"], None if score is None else float(score)))
    return out


def _entry(item: str, score: float | None) -> dict[str, Any]:
    return {"itemId": item} if score is None else {"itemId": item, "score": score}


# What a campaign of each recipe type answers instead of a ranking, and how to ask it.
_ANSWERS = {
    "USER_PERSONALIZATION": (
        "recommends for a user",
        "ask it with `airctx recommend --user USER`",
    ),
    "RELATED_ITEMS": (
        "lists the items related to an item",
        "ask it with `airctx recommend --item ITEM`",
    ),
}


def not_a_ranking_recipe(
    settings: Settings, recipe: str, whose: str, arguments: str = GENERIC_ARGUMENTS
) -> str:
    """Why `rank` cannot ask a campaign of ``recipe`` (``whose`` says where the
    recipe comes from), and how to get a campaign it can ask ``arguments``."""
    does, ask = _ANSWERS.get(recipe_type(recipe), _ANSWERS["USER_PERSONALIZATION"])
    return (
        f"`rank` needs a campaign of a personalized-ranking recipe "
        f"({', '.join(RANKING_RECIPES)}), and {whose} is {recipe!r}, which {does} "
        f"({ask}). {ranking_project_hint(settings, arguments)}"
    )


def rank_arguments(user_id: str, items: Sequence[str]) -> str:
    """`rank`'s options for a request, to show in a hint (generic when long)."""
    shown = f"--user {shlex.quote(user_id)} --items {shlex.quote(','.join(items))}"
    return shown if len(shown) <= 80 else GENERIC_ARGUMENTS


def ranking_project_hint(settings: Settings, arguments: str = GENERIC_ARGUMENTS) -> str:
    """How to deploy a campaign `rank` can ask: a project of its own."""
    example = _example_ranking_config(settings)
    if example is not None:
        option = f"--config {example}"
        return (
            "A campaign has one recipe, so ranking takes a project of its own whose "
            f"solution.recipe is aws-personalized-ranking, such as {example}: "
            f"`airctx {option} run`, then `airctx {option} rank {arguments}`"
        )
    return (
        "A campaign has one recipe, so ranking takes a project of its own: copy the "
        "configuration, set another project and data.output_dir and "
        "solution.recipe: aws-personalized-ranking, then `airctx --config COPY run` "
        f"and `airctx --config COPY rank {arguments}`"
    )


def _example_ranking_config(settings: Settings) -> str | None:
    """The example ranking configuration beside the configuration in use (as
    shipped in config/), shown relative to the current folder when inside it."""
    if settings.config_path is None:
        return None
    example = settings.config_path.parent / RANKING_EXAMPLE
    if not example.is_file() or example.resolve() == settings.config_path.resolve():
        return None
    try:
        return str(example.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(example)


@dataclass
class Recommendations:
    """A campaign's answer, for a user or (related items) for an item."""

    user_id: str | None
    context: dict[str, str]
    # Best first; the score is None when the recipe's answers carry none.
    items: list[tuple[str, float | None]]
    recommendation_id: str
    item_id: str | None = None
    # Why the answer may mean less than it seems (an item the model never saw...).
    warnings: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        asked: dict[str, Any] = {"userId": self.user_id}
        if self.item_id is not None:
            asked = {"itemId": self.item_id}
            if self.user_id is not None:
                asked["userId"] = self.user_id
        answer = {
            **asked,
            "context": self.context,
            "recommendationId": self.recommendation_id,
            "itemList": [_entry(i, s) for i, s in self.items],
        }
        if self.warnings:
            answer["warnings"] = self.warnings
        return answer

    @property
    def scored(self) -> bool:
        """Whether the answer carried scores (the recipe gives them)."""
        return any(score is not None for _i, score in self.items)

    def table(self) -> tuple[list[list[str]], list[str]]:
        """Rows and headers: rank, item and, when the answer has them, score."""
        rows = [
            [str(n), item, *([format_score(score)] if self.scored else [])]
            for n, (item, score) in enumerate(self.items, 1)
        ]
        return rows, ["rank", "item", *(["score"] if self.scored else [])]


def check_context(project: Project, context: Mapping[str, str]) -> dict[str, str]:
    """Unknown keys are errors; a value the prepared data never had is a warning
    (events may bring new values, but usually it is a typo that silently means
    "no context")."""
    check_context_keys(project, context)
    seen = _seen_values(project)
    for key, value in context.items():
        if key in seen and value not in seen[key]:
            guess = _closest(value, seen[key])
            hint = f"; did you mean {guess!r}?" if guess else ""
            project.report(
                f"warning: {key}={value!r} does not occur in the prepared data "
                f"(values: {', '.join(seen[key])}); the model has learnt nothing "
                f"about it{hint}"
            )
    return dict(context)


def _closest(value: str, known: Sequence[str]) -> str | None:
    """The known value ``value`` most likely meant: one that differs only in case,
    else the closest by difflib's ratio (ignoring case), if any is close."""
    by_folded = {k.casefold(): k for k in reversed(known)}
    folded = value.strip().casefold()
    if folded in by_folded:
        return by_folded[folded]
    close = difflib.get_close_matches(folded, list(by_folded), n=1)
    return by_folded[close[0]] if close else None


def check_context_keys(project: Project, keys: Iterable[str]) -> None:
    """Every key must be a context field the interactions schema declares."""
    declared = project.settings.interactions.context_fields
    for key in keys:
        if key not in declared:
            known = ", ".join(declared) or "none"
            raise ContextError(
                f"context key {key!r} is not a context field of the interactions "
                f"schema (declared: {known}); context keys are schema field names, "
                f"e.g. {declared[0] if declared else 'CABIN_TYPE'}=VALUE"
            )


def _seen_values(project: Project) -> dict[str, list[str]]:
    path = project.settings.context_values_path
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): [str(v) for v in values] for k, values in document.items()}


def recommend(
    project: Project,
    user_id: str | None,
    context: Mapping[str, str],
    num_results: int = 10,
    *,
    item_id: str | None = None,
    filter_arn: str | None = None,
    filter_values: Mapping[str, str] | None = None,
) -> Recommendations:
    """Top items for ``user_id``, or with ``item_id`` the items related to it (a
    related-items campaign, such as aws-sims, needs ``item_id``)."""
    ctx = check_context(project, context)
    warnings = []
    if item_id is not None:
        warnings += related_items_warnings(project, item_id, user_id, ctx)
    _report(project, warnings)
    arn = campaign_arn(project)
    params: dict[str, Any] = {"campaignArn": arn, "numResults": num_results}
    if user_id is not None:
        params["userId"] = user_id
    if item_id is not None:
        params["itemId"] = item_id
    if ctx:
        params["context"] = ctx
    if filter_arn:
        params["filterArn"] = filter_arn
        params["filterValues"] = dict(filter_values or {})
    with translate_errors(arn):
        answer = project.clients.runtime.get_recommendations(**params)
    items = _item_list(answer["itemList"])
    return Recommendations(
        user_id, ctx, items, answer.get("recommendationId", ""), item_id, warnings
    )


def related_items_warnings(
    project: Project, item_id: str, user_id: str | None, context: Mapping[str, str]
) -> list[str]:
    """What a related-items request carries in vain: an item the prepared data
    lacks, and a user or context the recipe does not use."""
    out = []
    if unknown_items(project, [item_id]):
        out.append(
            f"item {item_id!r} does not occur in the prepared interactions; the "
            "model has learnt nothing about it, so the items listed say nothing "
            "about it"
        )
    recipe = project.settings.solution.recipe
    if recipe_type(recipe) == "RELATED_ITEMS":
        unused = [
            option
            for option, given in (
                ("--user", user_id is not None),
                ("--context", context),
            )
            if given
        ]
        if unused:
            out.append(
                f"{' and '.join(unused)} {'is' if len(unused) == 1 else 'are'} not "
                f"used by solution.recipe {recipe!r}: a related-items campaign "
                "answers for the item alone"
            )
    return out


def unknown_items(project: Project, items: Iterable[str]) -> list[str]:
    """The items absent from the prepared interactions, in the order given (none
    when there is no summary of them to judge by)."""
    known = _prepared_items(project)
    if known is None:
        return []
    return [item for item in dict.fromkeys(items) if item not in known]


def _prepared_items(project: Project) -> frozenset[str] | None:
    summary = PreparedSummary.load(summary_path(project.settings.data.output_dir))
    if summary is None or summary.prepared_for_another(project.settings.project):
        return None
    return summary.items


def _report(project: Project, warnings: Iterable[str]) -> None:
    for warning in warnings:
        project.report(f"warning: {warning}")


def rank(
    project: Project, user_id: str, items: Sequence[str], context: Mapping[str, str]
) -> Recommendations:
    """Reorder ``items`` for a user; an id given twice is ranked once, where it
    first appears (the answer would otherwise hold it twice)."""
    ctx = check_context(project, context)
    unique = list(dict.fromkeys(items))
    warnings = []
    if len(unique) < len(items):
        repeated = sorted({i for i in items if list(items).count(i) > 1})
        warnings.append(
            f"{', '.join(repeated)} given more than once; each item is ranked once"
        )
    unknown = unknown_items(project, unique)
    if len(unknown) == 1:
        warnings.append(
            f"item {unknown[0]!r} does not occur in the prepared interactions; the "
            "model has learnt nothing about it, so its rank means little"
        )
    elif unknown:
        warnings.append(
            f"items {', '.join(repr(i) for i in unknown)} do not occur in the "
            "prepared interactions; the model has learnt nothing about them, so "
            "their ranks mean little"
        )
    _report(project, warnings)
    arn = campaign_arn(project)
    params: dict[str, Any] = {
        "campaignArn": arn,
        "userId": user_id,
        "inputList": unique,
    }
    if ctx:
        params["context"] = ctx
    try:
        with translate_errors(arn):
            answer = project.clients.runtime.get_personalized_ranking(**params)
    except ResourceError as exc:
        # Refused as invalid: say so in terms of recipes when that is the reason.
        cause = exc.__cause__
        invalid = cause is not None and error_code(cause) == "InvalidInputException"
        recipe = _campaign_recipe(project, arn) if invalid else None
        if recipe is None or recipe_type(recipe) == "PERSONALIZED_RANKING":
            raise
        name = project.settings.campaign_name
        raise ResourceError(
            not_a_ranking_recipe(
                project.settings,
                recipe,
                f"the recipe of campaign {name} ({arn})",
                rank_arguments(user_id, unique),
            )
        ) from exc
    ranked = _item_list(answer["personalizedRanking"])
    return Recommendations(
        user_id, ctx, ranked, answer.get("recommendationId", ""), warnings=warnings
    )


def _campaign_recipe(project: Project, arn: str) -> str | None:
    """The recipe of the solution version a campaign serves, or None when it
    cannot be told."""
    try:
        campaign = project.call("DescribeCampaign", arn, campaignArn=arn)["campaign"]
        version = str(campaign["solutionVersionArn"])
        described = project.call(
            "DescribeSolutionVersion", version, solutionVersionArn=version
        )["solutionVersion"]
    except (ResourceError, KeyError):
        return None
    recipe = described.get("recipeArn")
    return str(recipe).rsplit("/", 1)[-1] if recipe else None


def camel_case(name: str) -> str:
    from airctx.data.schema import camel_case as convert

    return convert(name)


def track_event(
    project: Project,
    user_id: str,
    item_id: str,
    event_type: str,
    value: float | None,
    context: Mapping[str, str],
    session_id: str | None = None,
) -> dict[str, Any]:
    """Record one event with its context through the project's event tracker.

    Personalize accepts any event, so one the model cannot use is still recorded;
    each reason it may be ineffective is reported and listed under ``warnings``.
    """
    ctx = check_context(project, context)
    warnings = event_warnings(project, item_id, event_type, value)
    for warning in warnings:
        project.report(f"warning: {warning}")
    _tracker, tracking_id = ensure_event_tracker(project)
    event: dict[str, Any] = {
        "eventType": event_type,
        "itemId": item_id,
        "sentAt": time.time(),
        "eventId": str(uuid.uuid4()),
    }
    if value is not None:
        event["eventValue"] = float(value)
    if ctx:
        event["properties"] = json.dumps({camel_case(k): v for k, v in ctx.items()})
    session = session_id or new_session_id(user_id)
    with translate_errors(f"event tracker {tracking_id}"):
        project.clients.events.put_events(
            trackingId=tracking_id,
            userId=user_id,
            sessionId=session,
            eventList=[cast("EventTypeDef", event)],
        )
    answer: dict[str, Any] = {
        "trackingId": tracking_id,
        "sessionId": session,
        "event": event,
    }
    if warnings:
        answer["warnings"] = warnings
    return answer


def new_session_id(user_id: str) -> str:
    """A fresh session id naming the user, within PutEvents' limit for it even for
    a user id of the longest length Personalize takes."""
    suffix = f"-{uuid.uuid4().hex[:12]}"
    limit = id_length_limit("track-event", "session_id") or 256
    return user_id[: limit - len(suffix)] + suffix


def event_warnings(
    project: Project, item_id: str, event_type: str, value: float | None
) -> list[str]:
    """Why an event would be ignored or odd in training, judged against the
    prepared interactions' summary (nothing is checked without one)."""
    out = []
    trained_type = project.settings.solution.event_type
    if trained_type and event_type != trained_type:
        out.append(
            f"event type {event_type!r} is not the one the solution trains on "
            f"(solution.event_type: {trained_type!r}); training will ignore this "
            f"event (use --event-type {trained_type})"
        )
    summary = PreparedSummary.load(summary_path(project.settings.data.output_dir))
    if summary is None or summary.prepared_for_another(project.settings.project):
        return out
    if value is not None and summary.event_value_range is not None:
        low, high = summary.event_value_range
        if not low <= value <= high:
            out.append(
                f"--value {value:g} is outside the EVENT_VALUE range of the prepared "
                f"interactions ({low:g} to {high:g}); it is recorded as given"
            )
    if summary.items is not None and item_id not in summary.items:
        out.append(
            f"item {item_id!r} does not occur in the prepared interactions; it "
            "counts only once it is in the training data (or the items dataset) "
            "and a new solution version is trained"
        )
    return out


@dataclass
class Comparison:
    """One user's top-N for every value of one context field, side by side.

    The first value is the baseline: every other list marks each item with how far
    it moved from its baseline rank (``↑2``, ``↓1``, ``=``) or ``new``.
    """

    user_id: str
    field: str
    lists: dict[str, list[str]]
    scores: dict[str, list[float | None]] = dataclasses.field(default_factory=dict)

    def marks(self, value: str) -> list[str]:
        first = next(iter(self.lists))
        baseline, items = self.lists[first], self.lists[value]
        if value == first:
            return [""] * len(items)
        out = []
        for rank, item in enumerate(items):
            if item not in baseline:
                out.append("new")
                continue
            moved = baseline.index(item) - rank
            out.append(f"↑{moved}" if moved > 0 else f"↓{-moved}" if moved else "=")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "userId": self.user_id,
            "field": self.field,
            "lists": {
                value: [
                    self._entry(value, rank, item, mark)
                    for rank, (item, mark) in enumerate(
                        zip(items, self.marks(value), strict=True)
                    )
                ]
                for value, items in self.lists.items()
            },
        }

    def _entry(self, value: str, rank: int, item: str, mark: str) -> dict[str, Any]:
        score = self.scores[value][rank] if value in self.scores else None
        return {**_entry(item, score), "moved": mark}

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Headers and rows: rank, then one column per value."""
        headers = ["rank", *self.lists]
        columns = [
            [
                f"{item} {mark}".rstrip()
                for item, mark in zip(items, self.marks(v), strict=True)
            ]
            for v, items in self.lists.items()
        ]
        depth = max((len(c) for c in columns), default=0)
        rows = [
            [str(n + 1)] + [c[n] if n < len(c) else "" for c in columns]
            for n in range(depth)
        ]
        return headers, rows


def context_values(project: Project, field_name: str) -> list[str]:
    """The values of a context field in the prepared interactions, most common first."""
    import csv
    from collections import Counter

    from airctx.errors import DataError

    path = project.settings.prepared_csv("INTERACTIONS")
    if not path.is_file():
        raise DataError(
            f"{path} does not exist, so the values of {field_name} are unknown; run "
            "`airctx prep-data` or pass --values"
        )
    counts: Counter[str] = Counter()
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get(field_name):
                counts[row[field_name]] += 1
    if not counts:
        raise DataError(f"{path} has no values in column {field_name}; pass --values")
    return [value for value, _n in counts.most_common()]


def compare(
    project: Project,
    user_id: str,
    field_name: str,
    values: Sequence[str] | None,
    context: Mapping[str, str],
    num_results: int = 10,
) -> Comparison:
    """Recommend once per value of ``field_name``, the rest of the context fixed."""
    check_context_keys(project, [field_name, *context])
    if field_name in context:
        raise ContextError(
            f"--context {field_name}=... and --compare {field_name} contradict each "
            "other; drop the --context for the compared field"
        )
    chosen = (
        list(dict.fromkeys(values)) if values else context_values(project, field_name)
    )
    answers = {
        value: recommend(project, user_id, {**context, field_name: value}, num_results)
        for value in chosen
    }
    return Comparison(
        user_id,
        field_name,
        {value: [item for item, _s in a.items] for value, a in answers.items()},
        {value: [score for _i, score in a.items] for value, a in answers.items()},
    )
