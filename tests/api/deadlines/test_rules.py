"""Issue 14: deadline rules as an admin client registers, lists and removes them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from order_graph.app import create_app
from order_graph.config import Settings
from order_graph.domain.access import Principal, Scope
from order_graph.service import utc_now
from order_graph.storage import clients
from tests.api.deadlines.conftest import DEFINE, DEFINE_SUB, REMOVE, RULES, UNPAID, World, at
from tests.conftest import GraphQLClient


async def test_a_defined_rule_is_listed_under_its_main_status(world: World) -> None:
    payload = await world.define(**UNPAID)

    assert payload["errors"] == []
    rule = payload["rule"]
    assert rule == {
        "code": "UNPAID_TIMEOUT",
        "mainStatus": "CREATED",
        "channel": "MINI_PROGRAM",
        "fulfillmentType": None,
        "afterSeconds": 900,
        "action": {"kind": "MOVE", "moveTo": "CANCELLED", "subStatus": None},
        "reason": "PAYMENT_TIMEOUT",
        "definedBy": "store-ops",
        "definedAt": rule["definedAt"],
    }
    assert at(rule["definedAt"]) == world.clock.now
    assert await world.rules() == [rule]
    assert await world.rules("CREATED") == [rule]
    assert await world.rules("PAID") == []


async def test_defining_the_same_rule_again_returns_it_unchanged(world: World) -> None:
    first = await world.define(**UNPAID)
    world.clock.advance(minutes=1)
    again = await world.gql.as_client("another-admin").execute(DEFINE, {"input": UNPAID})

    assert again["defineDeadline"] == first
    assert len(await world.rules()) == 1


async def test_other_settings_under_an_existing_code_are_refused(world: World) -> None:
    await world.define(**UNPAID)
    payload = await world.define(**{**UNPAID, "afterSeconds": 1200})

    assert payload["rule"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("VALIDATION", ["input", "code"])
    ]
    assert [r["afterSeconds"] for r in await world.rules()] == [900]


INVALID: dict[str, tuple[dict[str, Any], str, str]] = {
    "move_the_table_forbids": ({"moveTo": "COMPLETED"}, "INVALID_TRANSITION", "moveTo"),
    "move_to_itself": ({"moveTo": "CREATED"}, "INVALID_TRANSITION", "moveTo"),
    "unknown_sub_status": (
        {"moveTo": None, "setSubStatus": "NEVER_REGISTERED"},
        "UNKNOWN_SUB_STATUS",
        "setSubStatus",
    ),
    "no_action": ({"moveTo": None}, "VALIDATION", "moveTo"),
    "two_actions": ({"setSubStatus": "AWAITING_PAYMENT"}, "VALIDATION", "moveTo"),
    "zero_duration": ({"afterSeconds": 0}, "VALIDATION", "afterSeconds"),
    "negative_duration": ({"afterSeconds": -60}, "VALIDATION", "afterSeconds"),
    "over_30_days": ({"afterSeconds": 30 * 86400 + 1}, "VALIDATION", "afterSeconds"),
    "final_status": ({"mainStatus": "COMPLETED"}, "VALIDATION", "mainStatus"),
    "lower_case_code": ({"code": "unpaid"}, "VALIDATION", "code"),
    "long_code": ({"code": "U" * 65}, "VALIDATION", "code"),
    "free_text_reason": ({"reason": "not paid in time"}, "VALIDATION", "reason"),
}


@pytest.mark.parametrize("case", INVALID.values(), ids=INVALID.keys())
async def test_an_invalid_rule_is_refused_at_its_field_and_stores_nothing(
    world: World, case: tuple[dict[str, Any], str, str]
) -> None:
    change, code, field = case
    await world.gql.execute(DEFINE_SUB, {"main": "CREATED", "code": "AWAITING_PAYMENT"})

    payload = await world.define(**{**UNPAID, **change})

    assert payload["rule"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, ["input", field])]
    assert await world.rules() == []


async def test_a_forbidden_move_is_refused_with_the_moves_allowed(world: World) -> None:
    payload = await world.define(**{**UNPAID, "mainStatus": "PAID", "moveTo": "COMPLETED"})

    assert payload["errors"][0]["allowedTransitions"] == ["ACCEPTED", "CANCELLED"]


async def test_every_problem_of_a_rule_is_reported_at_once(world: World) -> None:
    payload = await world.define(
        **{**UNPAID, "code": "x", "afterSeconds": 0, "moveTo": "FULFILLING", "reason": ""}
    )

    fields = sorted(e["field"][-1] for e in payload["errors"])
    assert fields == ["afterSeconds", "code", "moveTo", "reason"]


async def test_a_removed_rule_is_returned_and_no_longer_listed(world: World) -> None:
    defined = (await world.define(**UNPAID))["rule"]

    removed = (await world.gql.execute(REMOVE, {"code": "UNPAID_TIMEOUT"}))["removeDeadline"]

    assert removed == {"rule": defined, "errors": []}
    assert await world.rules() == []


async def test_removing_an_unknown_rule_is_not_found(world: World) -> None:
    payload = (await world.gql.execute(REMOVE, {"code": "NO_SUCH_RULE"}))["removeDeadline"]

    assert payload["rule"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("NOT_FOUND", ["input", "code"])
    ]


async def test_only_admin_clients_define_and_remove_rules(
    world: World, deadline_database: str
) -> None:
    app = create_app(Settings(database_url=deadline_database, auth_cache_seconds=0))
    keys = {}
    async with app.state.db.write() as conn:
        for scopes in ({Scope.ORDERS_READ, Scope.ORDERS_TRANSITION}, {Scope.ADMIN}):
            key = clients.new_key()
            name = f"app-{uuid.uuid4().hex[:8]}"
            await clients.create(conn, Principal(name, frozenset(scopes)), key, utc_now())
            keys[Scope.ADMIN in scopes] = key
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://order-graph") as http:

            async def call(admin: bool, query: str, variables: dict[str, Any]) -> Any:
                headers = {"authorization": f"Bearer {keys[admin]}"}
                client = GraphQLClient(http)
                return await client.raw(query, variables, **headers)

            refused = await call(False, DEFINE, {"input": UNPAID})
            assert refused["data"]["defineDeadline"]["errors"][0]["code"] == "FORBIDDEN"
            assert (await call(False, RULES, {}))["data"]["deadlines"] == []

            assert (await call(True, DEFINE, {"input": UNPAID}))["data"]["defineDeadline"]["rule"]
            refused = await call(False, REMOVE, {"code": "UNPAID_TIMEOUT"})
            assert refused["data"]["removeDeadline"]["errors"][0]["code"] == "FORBIDDEN"
            listed = (await call(False, RULES, {}))["data"]["deadlines"]
            assert [rule["code"] for rule in listed] == ["UNPAID_TIMEOUT"]
    finally:
        await app.state.db.dispose()
