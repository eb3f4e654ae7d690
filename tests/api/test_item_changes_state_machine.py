"""Issue 15's state machine: random create / changeItems / pay / cancelItems / transitions,
valid and not, real and dry runs, through the API. After every step the money identities
hold exactly, no active quantity is below zero, the changes replayed from the first version
give the current order, and every version is in the history once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule, run_state_machine_as_test
from starlette.testclient import TestClient

from order_graph.api import ids
from order_graph.app import create_app
from order_graph.config import Settings
from tests.api.conftest import CREATE, GET_ORDER, TRANSITION
from tests.api.items_support import CANCEL_ITEMS, CHANGE_ITEMS, amount, check_identities

Order = dict[str, Any]
CENTS = st.integers(min_value=0, max_value=5_000)


def price(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2))


def cents(money: dict[str, str]) -> int:
    return int(amount(money).scaleb(2))


Faults = frozenset[str]
# What to get wrong in a command: mostly nothing, now and then one thing or a few at once.
FAULTS = st.one_of(
    st.just(frozenset[str]()),
    st.just(frozenset[str]()),
    st.frozensets(
        st.sampled_from(["amount", "quantity", "item", "precision", "reason", "version"]),
        min_size=1,
        max_size=3,
    ),
)


def spoil(input: dict[str, Any], faults: Faults, order: Order, money_field: str) -> None:
    """The faults that both mutations share: a stale version, an amount with 3 decimals."""
    if "version" in faults:
        input["expectedVersion"] = order["version"] - 1
    if "precision" in faults:
        if money_field == "discounts":
            input["discounts"][0]["amount"] += "1"
        else:
            input[money_field] += "1"


@pytest.fixture
def http(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=database_url, auth="off"))) as client:
        yield client


class Api:
    def __init__(self, client: TestClient) -> None:
        self.client = client

    def __call__(self, query: str, variables: dict[str, Any]) -> Any:
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers={"X-Client-Id": "sm"}
        )
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body
        return body["data"]

    def order(self, order_id: str) -> Order:
        found: Order = self(GET_ORDER, {"id": order_id})["order"]
        return found


def replay(first: Order, order: Order) -> None:
    """Applies every change record to the order as it was at version 1, checking each record
    against the state before it, and requires the result to be the current order."""
    lines = {
        i["id"]: [i["unitPrice"]["amount"], i["quantity"], i["cancelledQuantity"]]
        for i in first["items"]
    }
    discounts = [(d["amount"]["amount"], d["itemId"]) for d in first["discounts"]]
    refunded = amount(first["refundedTotal"])
    for change in order["changes"]:
        for line in change["lines"]:
            before = lines.get(line["itemId"], [line["unitPrice"]["amount"], 0, 0])
            assert before[1] == line["quantityBefore"], change
            if change["kind"] == "ITEMS_CHANGED":
                assert line["cancelledQuantity"] == 0
                if line["quantityAfter"] == 0:
                    del lines[line["itemId"]]
                else:
                    lines[line["itemId"]] = [before[0], line["quantityAfter"], 0]
            else:
                assert line["quantityAfter"] == line["quantityBefore"]
                assert 1 <= line["cancelledQuantity"] <= before[1] - before[2]
                before[2] += line["cancelledQuantity"]
        if change["discounts"] is not None:
            discounts = [(d["amount"]["amount"], d["itemId"]) for d in change["discounts"]]
        if change["refundAmount"] is not None:
            refunded += amount(change["refundAmount"])
    assert lines == {
        i["id"]: [i["unitPrice"]["amount"], i["quantity"], i["cancelledQuantity"]]
        for i in order["items"]
    }
    assert discounts == [(d["amount"]["amount"], d["itemId"]) for d in order["discounts"]]
    assert refunded == amount(order["refundedTotal"])
    items_total = sum(Decimal(p) * q for p, q, _ in lines.values())
    assert amount(order["itemsTotal"]) == items_total
    assert amount(order["payableTotal"]) == (
        items_total
        + amount(order["deliveryFee"])
        + amount(order["packagingFee"])
        - sum(Decimal(a) for a, _ in discounts)
        - refunded
    )


def check_versions(order: Order) -> None:
    """Every version from 1 to the current one is in the history once: a status move or an
    item change; only a cancellation of every unit is both, under one version. (This machine
    makes no replaceDiscounts or updateOrder, whose versions only the event log records.)"""
    moves = [h["version"] for h in order["statusHistory"]]
    changes = [c["version"] for c in order["changes"]]
    assert len(set(moves)) == len(moves)
    assert len(set(changes)) == len(changes)
    assert sorted(set(moves) | set(changes)) == list(range(1, order["version"] + 1))
    for version in set(moves) & set(changes):
        move = next(h for h in order["statusHistory"] if h["version"] == version)
        change = next(c for c in order["changes"] if c["version"] == version)
        assert (move["toMainStatus"], change["kind"]) == ("CANCELLED", "ITEMS_CANCELLED")
    assert order["statusHistory"][-1]["toMainStatus"] == order["mainStatus"]


def reported(errors: list[dict[str, Any]], fields: list[list[str]]) -> None:
    """Every fault is reported, each at its field, all in one answer."""
    found = [error["field"] for error in errors]
    assert all(field in found for field in fields), (fields, errors)


def refused_for_status(errors: list[dict[str, Any]], input: dict[str, Any], before: Order) -> bool:
    """INVALID_TRANSITION; with a stale version, the conflict alone (the caller has yet to see
    the order's status)."""
    codes = [e["code"] for e in errors]
    if input.get("expectedVersion", before["version"]) != before["version"]:
        return codes == ["VERSION_CONFLICT"]
    return codes == ["INVALID_TRANSITION"]


def essentials(order: Order) -> dict[str, Any]:
    """An order without what differs between a dry run and the real change: times, and the
    ids of added lines."""
    return {
        "state": (order["version"], order["mainStatus"], order["subStatus"]),
        "items": [
            (i["skuId"], i["quantity"], i["cancelledQuantity"], i["unitPrice"])
            for i in order["items"]
        ],
        "totals": [
            order[name] for name in ("itemsTotal", "discountTotal", "refundedTotal", "payableTotal")
        ],
        "discounts": [(d["kind"], d["amount"]) for d in order["discounts"]],
        "changes": [
            (
                c["kind"],
                c["version"],
                c["refundAmount"],
                c["reason"],
                [(ln["skuId"], ln["quantityBefore"], ln["quantityAfter"]) for ln in c["lines"]],
                [ln["cancelledQuantity"] for ln in c["lines"]],
            )
            for c in order["changes"]
        ],
        "history": [(h["toMainStatus"], h["reason"], h["version"]) for h in order["statusHistory"]],
    }


class ItemChanges(RuleBasedStateMachine):
    api: Api
    store: str

    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.first: dict[str, Order] = {}
        self.current: dict[str, Order] = {}  # as the last check read it

    def check(self, order_id: str, before: Order, changed: bool) -> None:
        order = self.api.order(order_id)
        check_identities(order)
        replay(self.first[order_id], order)
        check_versions(order)
        if changed:
            assert order["version"] == before["version"] + 1
        else:
            assert order == before
        self.current[order_id] = order

    def attempt(
        self, document: str, input: dict[str, Any], before: Order, dry: bool, data: st.DataObject
    ) -> list[dict[str, Any]]:
        """Sends the change (or a dry run of it, then maybe the change itself) and checks."""
        name = "changeItems" if document == CHANGE_ITEMS else "cancelItems"
        payload = self.api(document, {"input": input, "dry": dry})[name]
        errors: list[dict[str, Any]] = payload["errors"]
        event(f"{name}: {'refused' if errors else 'dry run' if dry else 'made'}")
        self.check(input["orderId"], before, changed=not errors and not dry)
        if dry and not errors:
            would = payload["order"]
            check_identities(would)
            if data.draw(st.booleans()):  # confirmed: the change is what the dry run showed
                real = self.api(document, {"input": input})[name]
                assert real["errors"] == []
                assert essentials(real["order"]) == essentials(would)
                self.check(input["orderId"], before, changed=True)
        return errors

    @rule(
        target=orders,
        lines=st.lists(st.tuples(st.integers(1, 3), CENTS), min_size=1, max_size=3),
        discount=CENTS,
        fee=CENTS,
        paid=st.booleans(),
    )
    def create(self, lines: list[tuple[int, int]], discount: int, fee: int, paid: bool) -> str:
        total = sum(q * p for q, p in lines) + fee
        items = [
            {"skuId": f"sku-{n}", "name": f"Item {n}", "quantity": q, "unitPrice": price(p)}
            for n, (q, p) in enumerate(lines)
        ]
        discounts = [{"kind": "COUPON", "amount": price(min(discount, total))}]
        input = {
            "storeId": self.store,
            "channel": "APP",
            "fulfillmentType": "PICKUP",
            "currency": "CNY",
            "items": items,
            "discounts": discounts,
            "deliveryFee": price(fee),
            "initialStatus": "PAID" if paid else "CREATED",
        }
        created = self.api(CREATE, {"input": input})["createOrder"]
        assert created["errors"] == []
        order: Order = created["order"]
        self.first[order["id"]] = order
        self.check(order["id"], order, changed=False)
        return str(order["id"])

    @rule(order_id=orders, data=st.data(), dry=st.booleans(), faults=FAULTS)
    def change_items(self, order_id: str, data: st.DataObject, dry: bool, faults: Faults) -> None:
        before = self.current[order_id]
        items = before["items"]
        chosen = data.draw(st.lists(st.sampled_from(items), unique_by=lambda i: i["id"]))
        quantities = [{"itemId": i["id"], "quantity": data.draw(st.integers(0, 4))} for i in chosen]
        added = data.draw(st.lists(st.tuples(st.integers(1, 2), CENTS), max_size=2))
        add = [
            {"skuId": "extra", "name": "Extra", "quantity": q, "unitPrice": price(p)}
            for q, p in added
        ]
        new = {q["itemId"]: q["quantity"] for q in quantities}
        total = cents(before["deliveryFee"]) + sum(q * p for q, p in added)
        total += sum(new.get(i["id"], i["quantity"]) * cents(i["unitPrice"]) for i in items)
        discount = total + 1 if "amount" in faults else data.draw(st.integers(0, total))
        input: dict[str, Any] = {
            "orderId": order_id,
            "quantities": quantities,
            "add": add,
            "discounts": [{"kind": "PROMOTION", "amount": price(discount)}],
        }
        if "quantity" in faults:
            quantities.append({"itemId": items[0]["id"], "quantity": -1})
        if "item" in faults:
            quantities.append({"itemId": ids.encode("OrderItem", 10**12), "quantity": 1})
        spoil(input, faults, before, "discounts")
        errors = self.attempt(CHANGE_ITEMS, input, before, dry, data)
        if before["mainStatus"] != "CREATED":
            assert refused_for_status(errors, input, before)
            return
        fields = {
            "item": ["input", "quantities", str(len(quantities) - 1), "itemId"],
            "precision": ["input", "discounts", "0", "amount"],
            "version": ["input", "expectedVersion"],
        }
        reported(errors, [path for fault, path in fields.items() if fault in faults])
        if faults - {"reason"}:
            assert errors

    @rule(order_id=orders, data=st.data(), dry=st.booleans(), faults=FAULTS)
    def cancel_items(self, order_id: str, data: st.DataObject, dry: bool, faults: Faults) -> None:
        before = self.current[order_id]
        items = [item for item in before["items"] if item["activeQuantity"]] or before["items"]
        chosen = data.draw(
            st.lists(st.sampled_from(items), min_size=1, unique_by=lambda i: i["id"])
        )
        lines = [
            {"itemId": i["id"], "quantity": data.draw(st.integers(1, max(1, i["activeQuantity"])))}
            for i in chosen
        ]
        if "quantity" in faults:
            lines[0]["quantity"] = chosen[0]["activeQuantity"] + 1
        if "item" in faults:
            lines.append({"itemId": "not-an-id", "quantity": 1})
        payable = cents(before["payableTotal"])
        refund = payable + 1 if "amount" in faults else data.draw(st.integers(0, payable))
        input: dict[str, Any] = {
            "orderId": order_id,
            "lines": lines,
            "reason": " " if "reason" in faults else "Out of stock",
            "refundAmount": price(refund),
        }
        if data.draw(st.booleans()):  # re-allocated discount results, order level
            input["discounts"] = [{"kind": "COUPON", "amount": before["discountTotal"]["amount"]}]
        spoil(input, faults, before, "refundAmount")
        errors = self.attempt(CANCEL_ITEMS, input, before, dry, data)
        if before["mainStatus"] not in ("PAID", "ACCEPTED"):
            assert refused_for_status(errors, input, before)
            return
        fields = {
            "amount": ["input", "refundAmount"],
            "quantity": ["input", "lines", "0", "quantity"],
            "item": ["input", "lines", str(len(lines) - 1), "itemId"],
            "precision": ["input", "refundAmount"],
            "reason": ["input", "reason"],
            "version": ["input", "expectedVersion"],
        }
        reported(errors, [path for fault, path in fields.items() if fault in faults])
        assert bool(errors) == bool(faults)

    @rule(
        order_id=orders,
        to=st.sampled_from(
            ["PAID"] * 3 + ["ACCEPTED"] * 2 + ["FULFILLING", "COMPLETED", "CANCELLED"]
        ),
    )
    def transition(self, order_id: str, to: str) -> None:
        before = self.current[order_id]
        payload = self.api(TRANSITION, {"input": {"orderId": order_id, "to": to}})
        self.check(order_id, before, changed=not payload["transitionOrder"]["errors"])


def test_item_changes_keep_the_money_and_the_history_consistent(http: TestClient) -> None:
    ItemChanges.api = Api(http)
    ItemChanges.store = f"store-{uuid.uuid4().hex[:10]}"
    run_state_machine_as_test(
        ItemChanges,
        settings=settings(
            max_examples=12,
            stateful_step_count=15,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
