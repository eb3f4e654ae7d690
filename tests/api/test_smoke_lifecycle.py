from __future__ import annotations

from tests.api.conftest import CreateOrder, Transition


async def test_created_order_can_be_paid_and_accepted(
    create_order: CreateOrder, transition: Transition
) -> None:
    created = await create_order()
    order = created["order"]
    assert created["created"] is True
    assert order["mainStatus"] == "CREATED"
    assert order["payableTotal"] == {"amount": "74.50", "currency": "CNY"}

    paid = await transition(order["id"], "PAID", expectedVersion=1)
    assert paid["errors"] == []
    assert paid["order"]["version"] == 2
    accepted = await transition(order["id"], "ACCEPTED", expectedVersion=2)
    assert [c["toMainStatus"] for c in accepted["order"]["statusHistory"]] == [
        "CREATED",
        "PAID",
        "ACCEPTED",
    ]
