"""Runtime and events of the local engine: filters, request rules, live updates."""

from __future__ import annotations

from typing import Any

import pytest

from airctx.engine.errors import InvalidInput
from tests.unit import test_engine_fixture as fx
from tests.unit.test_engine_fixture import ITEMS, Group, genre, item_id

engine = fx.engine
dsg = fx.dsg


@pytest.fixture
def served(dsg: Group) -> tuple[Group, str]:
    _, version = dsg.train()
    return dsg, dsg.campaign(version)


def _filter(group: Group, name: str, expression: str) -> str:
    arn = group.pz.create_filter(
        name=name, datasetGroupArn=group.group, filterExpression=expression
    )["filterArn"]
    group.wait()
    return str(arn)


def _items(group: Group, campaign: str, user: str, **extra: Any) -> list[str]:
    answer = group.rt.get_recommendations(
        campaignArn=campaign, userId=user, numResults=ITEMS, **extra
    )
    return [r["itemId"] for r in answer["itemList"]]


def test_exclude_on_item_metadata_with_a_placeholder(served: tuple[Group, str]) -> None:
    group, campaign = served
    flt = _filter(group, "no-genre", "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE)")
    kept = _items(
        group, campaign, "u01", filterArn=flt, filterValues={"GENRE": '"short"'}
    )
    assert kept and all(genre(i) == "long" for i in kept)
    both = _items(
        group, campaign, "u01", filterArn=flt, filterValues={"GENRE": '"short","long"'}
    )
    assert both == []


def test_include_on_item_metadata(served: tuple[Group, str]) -> None:
    group, campaign = served
    flt = _filter(group, "only-long", 'INCLUDE ItemID WHERE Items.GENRE IN ("long")')
    kept = _items(group, campaign, "u02", filterArn=flt)
    assert kept and {genre(i) for i in kept} == {"long"}


def test_exclude_what_the_user_interacted_with(served: tuple[Group, str]) -> None:
    group, campaign = served
    flt = _filter(
        group, "unseen", "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($TYPE)"
    )
    seen = {
        row.split(",")[1]
        for row in (group.data / "interactions.csv").read_text().splitlines()
        if row.startswith("u03,")
    }
    kept = _items(
        group, campaign, "u03", filterArn=flt, filterValues={"TYPE": '"click"'}
    )
    assert set(kept) == {item_id(i) for i in range(ITEMS)} - seen

    # An event recorded now counts at once.
    tracking = group.pz.create_event_tracker(name="t", datasetGroupArn=group.group)[
        "trackingId"
    ]
    group.wait()
    fresh = sorted(set(kept))[0]
    group.ev.put_events(
        trackingId=tracking,
        userId="u03",
        sessionId="s",
        eventList=[{"eventType": "click", "itemId": fresh, "sentAt": 1800000000}],
    )
    after = _items(
        group, campaign, "u03", filterArn=flt, filterValues={"TYPE": '"click"'}
    )
    assert fresh not in after and set(after) == set(kept) - {fresh}


def test_filter_on_interaction_context_from_events(served: tuple[Group, str]) -> None:
    group, campaign = served
    flt = _filter(
        group, "cabin", 'EXCLUDE ItemID WHERE Interactions.CABIN_TYPE IN ("First")'
    )
    tracking = group.pz.create_event_tracker(name="t", datasetGroupArn=group.group)[
        "trackingId"
    ]
    group.wait()
    target = _items(group, campaign, "u05")[0]
    group.ev.put_events(
        trackingId=tracking,
        userId="u05",
        sessionId="s",
        eventList=[
            {
                "eventType": "click",
                "itemId": target,
                "sentAt": 1800000000,
                "properties": '{"cabinType": "First"}',
            }
        ],
    )
    assert target not in _items(group, campaign, "u05", filterArn=flt)


def test_put_items_changes_what_item_filters_see(served: tuple[Group, str]) -> None:
    group, campaign = served
    flt = _filter(group, "only-long", 'INCLUDE ItemID WHERE Items.GENRE IN ("long")')
    moved = next(item_id(i) for i in range(ITEMS) if genre(item_id(i)) == "short")
    assert moved not in _items(group, campaign, "u01", filterArn=flt)
    group.ev.put_items(
        datasetArn=group.items,
        items=[{"itemId": moved, "properties": '{"genre": "long"}'}],
    )
    assert moved in _items(group, campaign, "u01", filterArn=flt)


def test_put_users_metadata_reaches_the_query(
    served: tuple[Group, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    group, campaign = served
    seen: list[Any] = []
    runtime = group.engine.runtime
    original = runtime._query

    def spy(*args: Any) -> Any:
        query = original(*args)
        seen.append(query.user_metadata)
        return query

    monkeypatch.setattr(runtime, "_query", spy)
    group.ev.put_users(
        datasetArn=group.users,
        users=[{"userId": "u07", "properties": '{"tier": "gold"}'}],
    )
    _items(group, campaign, "u07")
    assert seen == [{"TIER": "gold"}]


def test_live_events_obey_the_solution_event_type_and_threshold(
    dsg: Group, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, version = dsg.train(
        eventType="click", solutionConfig={"eventValueThreshold": "2"}
    )
    campaign = dsg.campaign(version)
    tracking = dsg.pz.create_event_tracker(name="t", datasetGroupArn=dsg.group)[
        "trackingId"
    ]
    dsg.wait()
    sent = [
        {"eventType": "rating", "itemId": "i01", "eventValue": 9.0},
        {"eventType": "click", "itemId": "i02", "eventValue": 1.0},
        {"eventType": "click", "itemId": "i03"},
        {"eventType": "click", "itemId": "i04", "eventValue": 2.0},
    ]
    dsg.ev.put_events(
        trackingId=tracking,
        userId="u09",
        sessionId="s",
        eventList=[{**event, "sentAt": 1800000000 + n} for n, event in enumerate(sent)],
    )
    seen: list[Any] = []
    original = dsg.engine.runtime._query

    def spy(*args: Any) -> Any:
        query = original(*args)
        seen.append([event.item_id for event in query.live_events])
        return query

    monkeypatch.setattr(dsg.engine.runtime, "_query", spy)
    _items(dsg, campaign, "u09")
    assert seen == [["i04"]]

    # Interaction filters still see every event, as Personalize's filters do.
    flt = _filter(
        dsg, "unrated", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("rating")'
    )
    assert "i01" not in _items(dsg, campaign, "u09", filterArn=flt)


@pytest.mark.parametrize(
    "expression,message",
    [
        ("", "empty"),
        ("EXCLUDE ItemID WHERE", "Items.FIELD or Interactions.FIELD"),
        ('KEEP ItemID WHERE Items.GENRE IN ("x")', "expected INCLUDE or EXCLUDE"),
        ('EXCLUDE ItemID WHERE Items.GENRE IN ("x"', "')'"),
        ('EXCLUDE ItemID WHERE Users.TIER IN ("x")', "Items and Interactions"),
        ('EXCLUDE ItemID WHERE Items.GENRE LIKE ("x")', "IN, NOT IN or a comparison"),
    ],
    ids=["empty", "no-condition", "bad-action", "unclosed", "users", "like"],
)
def test_invalid_filter_expressions(dsg: Group, expression: str, message: str) -> None:
    with pytest.raises(InvalidInput, match="filterExpression is invalid") as info:
        dsg.engine.call(
            "personalize",
            "CreateFilter",
            {"name": "f", "datasetGroupArn": dsg.group, "filterExpression": expression},
        )
    assert message in info.value.message


def test_a_filter_naming_an_unknown_field_is_invalid(dsg: Group) -> None:
    with pytest.raises(dsg.pz.exceptions.InvalidInputException, match="COLOUR"):
        dsg.pz.create_filter(
            name="f",
            datasetGroupArn=dsg.group,
            filterExpression='EXCLUDE ItemID WHERE Items.COLOUR IN ("red")',
        )


def test_a_missing_filter_value_is_invalid(served: tuple[Group, str]) -> None:
    group, campaign = served
    flt = _filter(group, "p", "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE)")
    with pytest.raises(group.rt.exceptions.InvalidInputException, match=r"\$GENRE"):
        _items(group, campaign, "u01", filterArn=flt)
    with pytest.raises(group.rt.exceptions.InvalidInputException, match="quoted"):
        _items(group, campaign, "u01", filterArn=flt, filterValues={"GENRE": "short"})


@pytest.mark.parametrize("num", [0, 501], ids=["zero", "over-500"])
def test_num_results_out_of_range(served: tuple[Group, str], num: int) -> None:
    group, campaign = served
    with pytest.raises(InvalidInput, match="numResults must be from 1 to 500"):
        group.engine.call(
            "personalize-runtime",
            "GetRecommendations",
            {"campaignArn": campaign, "userId": "u01", "numResults": num},
        )


def test_unknown_campaign_is_not_found(dsg: Group) -> None:
    with pytest.raises(dsg.rt.exceptions.ResourceNotFoundException):
        dsg.rt.get_recommendations(
            campaignArn="arn:aws:personalize:us-east-1:000000000000:campaign/none",
            userId="u01",
        )


@pytest.mark.parametrize(
    "event,message",
    [
        ({"properties": '{"sessionId": "x"}'}, "must not contain the key 'sessionId'"),
        ({"properties": '{"colour": "red"}'}, "matches no field"),
        ({"properties": "{not json"}, "not valid JSON"),
        ({"properties": '{"cabinType": "' + "x" * 1100 + '"}'}, "at most 1024"),
        ({"eventValue": "high"}, "eventValue"),
        ({"eventType": None}, "eventType"),
        ({"sentAt": None}, "sentAt"),
    ],
    ids=["forbidden", "unknown", "json", "long", "value", "no-type", "no-time"],
)
def test_put_events_rules(dsg: Group, event: dict[str, Any], message: str) -> None:
    tracking = dsg.pz.create_event_tracker(name="t", datasetGroupArn=dsg.group)[
        "trackingId"
    ]
    dsg.wait()
    sent = {"eventType": "click", "itemId": "i01", "sentAt": 1800000000.0, **event}
    sent = {k: v for k, v in sent.items() if v is not None}
    with pytest.raises(InvalidInput, match=message):
        dsg.engine.call(
            "personalize-events",
            "PutEvents",
            {
                "trackingId": tracking,
                "userId": "u01",
                "sessionId": "s",
                "eventList": [sent],
            },
        )


def test_put_events_with_an_unknown_tracking_id_is_not_found(dsg: Group) -> None:
    with pytest.raises(dsg.ev.exceptions.ResourceNotFoundException, match="nothing"):
        dsg.ev.put_events(
            trackingId="nothing",
            sessionId="s",
            eventList=[{"eventType": "click", "sentAt": 1800000000}],
        )
