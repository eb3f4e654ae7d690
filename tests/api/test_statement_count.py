"""Lists load their children through DataLoaders: a page costs a constant number of statements."""

from __future__ import annotations

from tests.api.conftest import CreateOrder, StatementCounter, define_sub_status
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
