"""Shared helpers for the issue-2 behaviour suite (the test_spec_* modules); holds no tests.

Everything here talks to the service through its public GraphQL API only.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

import pytest

from tests.api.conftest import ERRORS
from tests.conftest import FRAGMENTS, GraphQLClient

# The main-status table exactly as issue 2 states it.
TABLE: dict[str, list[str]] = {
    "CREATED": ["PAID", "CANCELLED"],
    "PAID": ["ACCEPTED", "CANCELLED"],
    "ACCEPTED": ["FULFILLING", "CANCELLED"],
    "FULFILLING": ["COMPLETED", "CANCELLED"],
    "COMPLETED": [],
    "CANCELLED": [],
}
STATUSES = list(TABLE)

# The moves that bring a new (CREATED) order to each main status.
PATH_TO: dict[str, list[str]] = {
    "CREATED": [],
    "PAID": ["PAID"],
    "ACCEPTED": ["PAID", "ACCEPTED"],
    "FULFILLING": ["PAID", "ACCEPTED", "FULFILLING"],
    "COMPLETED": ["PAID", "ACCEPTED", "FULFILLING", "COMPLETED"],
    "CANCELLED": ["CANCELLED"],
}

LIST_ORDERS = (
    FRAGMENTS
    + """
query List($filter: OrderFilter, $first: Int, $after: String) {
  orders(filter: $filter, first: $first, after: $after) {
    edges { cursor node { ...OrderFull } }
    pageInfo { hasNextPage endCursor }
  }
}"""
)

UPDATE = (
    FRAGMENTS
    + """
mutation Update($input: UpdateOrderInput!) {
  updateOrder(input: $input) { order { ...OrderFull } """
    + ERRORS
    + " }\n}"
)

REPLACE_DISCOUNTS = (
    FRAGMENTS
    + """
mutation Replace($input: ReplaceDiscountsInput!) {
  replaceDiscounts(input: $input) { order { ...OrderFull } """
    + ERRORS
    + " }\n}"
)


def unique_code(prefix: str) -> str:
    """A sub-status code no other test uses (definitions are global, not per store)."""
    return f"{prefix}_{uuid.uuid4().hex[:10].upper()}"


async def list_orders(
    gql: GraphQLClient,
    filter: dict[str, Any] | None = None,
    first: int | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    variables: dict[str, Any] = {"filter": filter, "after": after}
    if first is not None:
        variables["first"] = first
    connection: dict[str, Any] = (await gql.execute(LIST_ORDERS, variables))["orders"]
    return connection


async def store_order_ids(gql: GraphQLClient, store_id: str) -> list[str]:
    """Ids of every order of the store, newest first, as the `orders` list reports them."""
    connection = await list_orders(gql, {"storeIds": [store_id]}, first=100)
    return [edge["node"]["id"] for edge in connection["edges"]]


def find_error(
    payload: dict[str, Any], code: str, field: list[str] | None = None
) -> dict[str, Any]:
    """The payload error with this code (and this field path, when given); fails otherwise."""
    for error in payload["errors"]:
        if error["code"] == code and (field is None or error["field"] == field):
            return dict(error)
    pytest.fail(f"expected a {code} error at {field}, got {payload['errors']}")


def missing_order_id(existing_id: str) -> str:
    """An id shaped like a real order id but naming no order.

    Ids are opaque; this follows the Relay convention ("Order:<number>" in URL-safe base64) that
    the existing id is checked to use, so a different encoding fails here, loudly.
    """
    try:
        padded = existing_id + "=" * (-len(existing_id) % 4)
        kind, _, number = base64.urlsafe_b64decode(padded).decode().partition(":")
    except (binascii.Error, UnicodeError, ValueError):
        pytest.fail(f"cannot derive a missing id from {existing_id!r}")
    if not number.isdigit():
        pytest.fail(f"cannot derive a missing id from {existing_id!r}")
    fake = f"{kind}:{int(number) + 10_000_000}".encode()
    return base64.urlsafe_b64encode(fake).decode().rstrip("=")
