"""Issue 14: deadlines of orders, and how they fire, on a clock the test moves."""

from __future__ import annotations

from datetime import timedelta

from tests.api.deadlines.conftest import DEFINE_SUB, SET_SUB, UNPAID, World, at

ACCEPT_OVERDUE = {
    "code": "ACCEPT_OVERDUE",
    "mainStatus": "PAID",
    "afterSeconds": 300,
    "setSubStatus": "ACCEPT_OVERDUE",
    "reason": "NOT_ACCEPTED_IN_TIME",
}
PAID_TIMEOUT = {
    "code": "PAID_TIMEOUT",
    "mainStatus": "PAID",
    "afterSeconds": 900,
    "moveTo": "CANCELLED",
    "reason": "NOT_ACCEPTED",
}
LIST = """query($filter: OrderFilter) { orders(filter: $filter) { edges { node { id } } } }"""
LIST_WITH_DEADLINES = """query($filter: OrderFilter) {
  orders(filter: $filter) { edges { node { id deadline { at } } } } }"""


async def test_an_order_shows_its_next_deadline(world: World) -> None:
    await world.define(**UNPAID)

    order = await world.create()

    assert order["deadline"] == {
        "at": (at(order["createdAt"]) + timedelta(minutes=15)).isoformat(),
        "action": {"kind": "MOVE", "moveTo": "CANCELLED", "subStatus": None},
        "rule": {"code": "UNPAID_TIMEOUT", "reason": "PAYMENT_TIMEOUT"},
    }


async def test_an_order_no_rule_applies_to_has_no_deadline(world: World) -> None:
    await world.define(**UNPAID)

    assert (await world.create(channel="APP"))["deadline"] is None
    paid = await world.move(await world.create(), "PAID")
    assert paid["deadline"] is None


async def test_a_rule_fires_at_its_time_and_not_before(world: World) -> None:
    await world.define(**UNPAID)
    order = await world.create()

    world.clock.advance(seconds=899)
    await world.runner.sweep()
    assert (await world.order(order["id"]))["mainStatus"] == "CREATED"
    world.clock.advance(seconds=1)
    await world.runner.sweep()

    fired = await world.order(order["id"])
    assert (fired["mainStatus"], fired["version"], fired["deadline"]) == ("CANCELLED", 2, None)
    assert fired["statusHistory"][-1] == {
        "fromMainStatus": "CREATED",
        "toMainStatus": "CANCELLED",
        "toSubStatus": None,
        "reason": "PAYMENT_TIMEOUT",
        "actor": "system:deadline",
        "version": 2,
        "occurredAt": world.clock.now.isoformat(),
    }
    assert await world.deadline_events() == [
        {
            "type": "STATUS_CHANGED",
            "orderId": order["id"],
            "version": 2,
            "mainStatus": "CANCELLED",
            "subStatus": None,
            "previousMainStatus": "CREATED",
            "actor": "system:deadline",
        }
    ]


async def test_a_deadline_fires_only_once(world: World) -> None:
    await world.define(**UNPAID)
    order = await world.create()
    world.clock.advance(minutes=15)

    await world.runner.sweep()
    world.clock.advance(hours=1)
    await world.runner.sweep()

    assert len(await world.deadline_events()) == 1
    assert (await world.order(order["id"]))["version"] == 2


async def test_a_payment_one_second_before_the_deadline_wins(world: World) -> None:
    await world.define(**UNPAID)
    order = await world.create()

    world.clock.advance(seconds=899)
    paid = await world.move(order, "PAID")
    world.clock.advance(seconds=1)
    await world.runner.sweep()
    world.clock.advance(hours=1)
    await world.runner.sweep()

    now = await world.order(order["id"])
    assert (now["mainStatus"], now["version"]) == ("PAID", 2) == (paid["mainStatus"], 2)
    assert [h["actor"] for h in now["statusHistory"]] == ["store-ops", "store-ops"]
    assert await world.deadline_events() == []


async def test_a_sub_status_rule_fires_once_and_leaves_the_main_status(world: World) -> None:
    await world.gql.execute(DEFINE_SUB, {"main": "PAID", "code": "ACCEPT_OVERDUE"})
    await world.define(**ACCEPT_OVERDUE)
    paid = await world.move(await world.create(), "PAID")

    world.clock.advance(minutes=5)
    await world.runner.sweep()
    flagged = await world.order(paid["id"])
    assert (flagged["mainStatus"], flagged["subStatus"], flagged["version"]) == (
        "PAID",
        "ACCEPT_OVERDUE",
        3,
    )
    assert flagged["statusHistory"][-1]["reason"] == "NOT_ACCEPTED_IN_TIME"
    [event] = await world.deadline_events()
    assert (event["type"], event["subStatus"]) == ("SUB_STATUS_CHANGED", "ACCEPT_OVERDUE")

    cleared = await world.gql.execute(SET_SUB, {"id": paid["id"], "sub": None})
    assert cleared["setSubStatus"]["errors"] == []
    world.clock.advance(hours=1)
    await world.runner.sweep()
    assert (await world.order(paid["id"]))["subStatus"] is None
    assert len(await world.deadline_events()) == 1


async def test_rules_of_one_status_fire_in_turn_and_a_move_ends_them(world: World) -> None:
    await world.gql.execute(DEFINE_SUB, {"main": "PAID", "code": "ACCEPT_OVERDUE"})
    await world.define(**ACCEPT_OVERDUE)
    await world.define(**PAID_TIMEOUT)
    escalated = await world.move(await world.create(), "PAID")
    accepted = await world.move(await world.create(), "PAID")
    assert escalated["deadline"]["rule"]["code"] == "ACCEPT_OVERDUE"

    world.clock.advance(minutes=5)
    await world.runner.sweep()
    assert (await world.order(escalated["id"]))["deadline"]["rule"]["code"] == "PAID_TIMEOUT"
    accepted = await world.move(await world.order(accepted["id"]), "ACCEPTED")
    world.clock.advance(minutes=10)
    await world.runner.sweep()

    assert (await world.order(escalated["id"]))["mainStatus"] == "CANCELLED"
    assert (await world.order(accepted["id"]))["mainStatus"] == "ACCEPTED"
    fired = [(e["orderId"], e["type"]) for e in await world.deadline_events()]
    assert sorted(fired[:2]) == sorted(
        [(escalated["id"], "SUB_STATUS_CHANGED"), (accepted["id"], "SUB_STATUS_CHANGED")]
    )
    assert fired[2:] == [(escalated["id"], "STATUS_CHANGED")]


async def test_a_rule_for_one_channel_and_fulfilment_type_leaves_the_others(
    world: World,
) -> None:
    await world.define(**UNPAID, fulfillmentType="DELIVERY")
    matching = await world.create(fulfillmentType="DELIVERY")
    pickup = await world.create(fulfillmentType="PICKUP")
    other_channel = await world.create(channel="APP", fulfillmentType="DELIVERY")

    world.clock.advance(hours=1)
    await world.runner.sweep()

    statuses = [
        (await world.order(o["id"]))["mainStatus"] for o in (matching, pickup, other_channel)
    ]
    assert statuses == ["CANCELLED", "CREATED", "CREATED"]


async def test_a_rule_defined_later_counts_from_when_each_order_entered_its_status(
    world: World,
) -> None:
    long_unpaid = await world.create()
    world.clock.advance(minutes=10)
    paid = await world.move(await world.create(), "PAID")
    world.clock.advance(minutes=10)

    await world.define(**PAID_TIMEOUT)
    await world.define(**{**UNPAID, "afterSeconds": 300})

    entered_paid = at(paid["statusHistory"][-1]["occurredAt"])
    assert at((await world.order(paid["id"]))["deadline"]["at"]) == entered_paid + timedelta(
        minutes=15
    )
    overdue = await world.order(long_unpaid["id"])
    assert at(overdue["deadline"]["at"]) == at(long_unpaid["createdAt"]) + timedelta(minutes=5)
    await world.runner.sweep()
    assert (await world.order(long_unpaid["id"]))["mainStatus"] == "CANCELLED"
    assert (await world.order(paid["id"]))["mainStatus"] == "PAID"


async def test_a_removed_rule_leaves_no_deadline_and_never_fires(world: World) -> None:
    await world.define(**UNPAID)
    order = await world.create()

    await world.gql.execute(
        'mutation { removeDeadline(input: {code: "UNPAID_TIMEOUT"}) { errors { code } } }'
    )
    assert (await world.order(order["id"]))["deadline"] is None
    world.clock.advance(hours=1)
    await world.runner.sweep()

    assert (await world.order(order["id"]))["mainStatus"] == "CREATED"


async def test_overdue_deadlines_fire_in_due_time_order(world: World) -> None:
    await world.define(**{**UNPAID, "afterSeconds": 1800})
    await world.define(**{**UNPAID, "code": "APP_UNPAID", "channel": "APP", "afterSeconds": 300})
    first_created = await world.create()  # due at +30 min
    world.clock.advance(minutes=1)
    due_first = await world.create(channel="APP")  # due at +6 min
    world.clock.advance(minutes=1)
    due_last = await world.create()  # due at +32 min

    world.clock.advance(hours=2)
    world.runner.concurrency = 1  # strictly oldest first (with more, batch by batch)
    await world.runner.sweep()

    fired = [e["orderId"] for e in await world.deadline_events()]
    assert fired == [due_first["id"], first_created["id"], due_last["id"]]


async def test_orders_can_be_filtered_by_a_deadline_due_within_minutes(world: World) -> None:
    await world.define(**UNPAID)
    sooner = await world.create()
    world.clock.advance(minutes=10)
    later = await world.create()
    await world.create(channel="APP")  # no deadline

    async def due_within(minutes: int, query: str = LIST) -> list[str]:
        variables = {"filter": {"storeIds": [world.store], "dueWithinMinutes": minutes}}
        edges = (await world.gql.execute(query, variables))["orders"]["edges"]
        return [edge["node"]["id"] for edge in edges]

    assert await due_within(4) == []
    assert await due_within(5) == [sooner["id"]]
    assert await due_within(15) == [later["id"], sooner["id"]]
    assert await due_within(15, LIST_WITH_DEADLINES) == [later["id"], sooner["id"]]
    world.clock.advance(minutes=6)  # `sooner` is overdue until a runner fires it
    assert await due_within(0) == [sooner["id"]]


async def test_due_within_minutes_out_of_range_is_refused(world: World) -> None:
    for minutes in (-1, 43201):
        variables = {"filter": {"dueWithinMinutes": minutes}}
        body = await world.gql.raw(LIST, variables)
        assert body["errors"][0]["extensions"]["code"] == "VALIDATION", body
