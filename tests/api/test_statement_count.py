"""Statements per request: a page of orders costs a constant number (its children through
DataLoaders); a write sends each of its statements once and reads nothing back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from order_graph.storage.database import Database
from tests.api.conftest import CreateOrder, StatementCounter, define_sub_status, order_input
from tests.conftest import FRAGMENTS, GraphQLClient

PAGE = (
    FRAGMENTS
    + """
query Page($store: ID!, $first: Int!) {
  orders(filter: {storeIds: [$store]}, first: $first) { edges { node { ...OrderFull } } }
}"""
)


async def test_a_full_page_of_100_orders_takes_at_most_5_statements(
    gql: GraphQLClient,
    create_order: CreateOrder,
    store_id: str,
    statements: StatementCounter,
) -> None:
    await define_sub_status(gql, "CREATED", "AWAITING_PAYMENT")
    discount = {"kind": "COUPON", "amount": "1.00", "itemIndex": 0}
    for _ in range(100):
        await create_order(discounts=[discount], subStatus="AWAITING_PAYMENT")

    async def count(first: int) -> int:
        statements.count = 0
        data = await gql.execute(PAGE, {"store": store_id, "first": first})
        assert len(data["orders"]["edges"]) == first
        assert all(len(e["node"]["discounts"]) == 1 for e in data["orders"]["edges"])
        return statements.count

    # The first run is the standard executor's (it compiles the plan), the others the plan's:
    # each costs the same whatever the page size. 0 would mean the counter missed the path.
    standard = await count(100)
    counts = {first: await count(first) for first in (1, 10, 100)}

    assert 1 <= standard <= 5
    assert 1 <= counts[100] <= 5
    assert counts[1] == counts[10] == counts[100], counts


class StatementLog:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.sent.append(" ".join(statement.split()))


CREATE_WITH_LISTS = """
mutation Create($input: CreateOrderInput!) {
  createOrder(input: $input) {
    created errors { code }
    order {
      id version items { id skuId lineTotal { amount } }
      discounts { id amount { amount } itemId }
      statusHistory { toMainStatus version }
      changes { kind }
    }
  }
}"""
PAY = """
mutation Pay($id: ID!) {
  transitionOrder(input: {orderId: $id, to: PAID}) { order { version mainStatus } errors { code } }
}"""


async def test_a_create_answers_from_its_own_writes_and_a_transition_takes_one_lock(
    gql: GraphQLClient, db: Database, store_id: str
) -> None:
    log = StatementLog()
    event.listen(db.engine.sync_engine, "before_cursor_execute", log)
    try:
        discount = {"kind": "COUPON", "amount": "1.00", "itemIndex": 1}
        new = order_input(store_id, discounts=[discount])
        created = await gql.execute(CREATE_WITH_LISTS, {"input": new})
        create_sent, log.sent = log.sent, []
        order = created["createOrder"]["order"]
        paid = await gql.execute(PAY, {"id": order["id"]})
        transition_sent = log.sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", log)

    assert [(i["skuId"], i["lineTotal"]["amount"]) for i in order["items"]] == [
        ("latte", "56.00"),
        ("bagel", "18.50"),
    ]
    assert [(d["amount"]["amount"], d["itemId"]) for d in order["discounts"]] == [
        ("1.00", order["items"][1]["id"])
    ]
    assert order["statusHistory"] == [{"toMainStatus": "CREATED", "version": 1}]
    assert order["changes"] == []
    assert paid["transitionOrder"]["order"] == {"version": 2, "mainStatus": "PAID"}
    # The answer's lists are the rows the transaction wrote: nothing is read back after it.
    lists = ("order_items", "order_discounts", "status_changes", "order_changes")
    assert not [s for s in create_sent if s.startswith("SELECT") and any(t in s for t in lists)]
    if not db.is_sqlite:  # SQLite's driver returns ids one row at a time
        assert sum("INSERT INTO order_items" in s for s in create_sent) == 1
    # The order is read once, locked, and written once; no statement is sent after commit.
    assert sum("FROM orders" in s for s in transition_sent) == 1
    assert sum("UPDATE orders" in s for s in transition_sent) == 1
    assert len(transition_sent) <= 9
