"""Order-building fixtures for the API tests: every call goes through GraphQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from order_graph.storage.database import Database
from tests.conftest import FRAGMENTS, GraphQLClient

ERRORS = "errors { code message field currentVersion allowedTransitions }"

CREATE = (
    FRAGMENTS
    + f"""
mutation Create($input: CreateOrderInput!, $key: String) {{
  createOrder(input: $input, idempotencyKey: $key) {{ created order {{ ...OrderFull }} {ERRORS} }}
}}"""
)

TRANSITION = (
    FRAGMENTS
    + f"""
mutation Move($input: TransitionOrderInput!, $key: String) {{
  transitionOrder(input: $input, idempotencyKey: $key) {{ order {{ ...OrderFull }} {ERRORS} }}
}}"""
)

SET_SUB_STATUS = (
    FRAGMENTS
    + f"""
mutation Sub($input: SetSubStatusInput!) {{
  setSubStatus(input: $input) {{ order {{ ...OrderFull }} {ERRORS} }}
}}"""
)

DEFINE_SUB_STATUS = """
mutation Define($input: DefineSubStatusInput!) {
  defineSubStatus(input: $input) {
    definition { code mainStatus description definedBy }
    errors { code message field }
  }
}"""

GET_ORDER = FRAGMENTS + "query Get($id: ID!) { order(id: $id) { ...OrderFull } }"


def order_input(store_id: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "storeId": store_id,
        "channel": "MINI_PROGRAM",
        "fulfillmentType": "PICKUP",
        "currency": "CNY",
        "items": [
            {"skuId": "latte", "name": "Latte", "quantity": 2, "unitPrice": "28.00"},
            {"skuId": "bagel", "name": "Bagel", "quantity": 1, "unitPrice": "18.50"},
        ],
    }
    base.update(overrides)
    return base


CreateOrder = Callable[..., Awaitable[dict[str, Any]]]
Transition = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def create_order(gql: GraphQLClient, store_id: str) -> CreateOrder:
    """Creates an order and returns the createOrder payload."""

    async def create(key: str | None = None, **overrides: Any) -> dict[str, Any]:
        data = await gql.execute(CREATE, {"input": order_input(store_id, **overrides), "key": key})
        payload: dict[str, Any] = data["createOrder"]
        return payload

    return create


@pytest.fixture
def transition(gql: GraphQLClient) -> Transition:
    """Moves an order and returns the transitionOrder payload."""

    async def move(order_id: str, to: str, key: str | None = None, **fields: Any) -> dict[str, Any]:
        variables = {"input": {"orderId": order_id, "to": to, **fields}, "key": key}
        payload: dict[str, Any] = (await gql.execute(TRANSITION, variables))["transitionOrder"]
        return payload

    return move


async def define_sub_status(gql: GraphQLClient, main_status: str, code: str) -> None:
    variables = {"input": {"mainStatus": main_status, "code": code}}
    payload = (await gql.execute(DEFINE_SUB_STATUS, variables))["defineSubStatus"]
    assert payload["errors"] == []


class StatementCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *args: Any) -> None:
        self.count += 1


@pytest.fixture
def statements(db: Database) -> Iterator[StatementCounter]:
    """Counts the SQL statements the app sends from here on, on every path (the compiled
    reads' driver connections included)."""
    counter = StatementCounter()
    stop = db.observe_statements(counter)
    yield counter
    stop()
