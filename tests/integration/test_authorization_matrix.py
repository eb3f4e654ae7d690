"""The authorization matrix, as a client meets it: every scope set x store binding x operation,
against a real server with auth on, on PostgreSQL.

Each row is a fresh client on a fresh pair of orders: A in its store (with an externalRef) and
B in another store, A's events before B's. Reads report "ok", "hidden" (null, or left out) or
"forbidden"; mutations their first error code or "ok"/"created"/"existing", plus "+order"
when the payload carries the order's fields. The expectation is the README's rule, written
out: the scope first (FORBIDDEN), then the store (another store's order is invisible), and an
order's fields only for a caller that may read orders.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError

from order_graph.domain.access import Principal, Scope
from order_graph.service import utc_now
from order_graph.storage import clients
from order_graph.storage.database import Database
from tests.api.conftest import order_input
from tests.support.clients import ws_session
from tests.support.servers import Server, running_server

pytestmark = pytest.mark.postgres

R, C, T, U, E, A = (
    Scope.ORDERS_READ,
    Scope.ORDERS_CREATE,
    Scope.ORDERS_TRANSITION,
    Scope.ORDERS_UPDATE,
    Scope.EVENTS_READ,
    Scope.ADMIN,
)
SCOPE_SETS: dict[str, frozenset[Scope]] = {
    "none": frozenset(),
    **{scope.value: frozenset({scope}) for scope in Scope},
    "orders:read+events:read": frozenset({R, E}),
    "all but admin": frozenset({R, C, T, U, E}),
}
BINDINGS = ("all stores", "its store", "another store")
SUB_STATUS = "MATRIX_CHECK"

FIELDS = "order { customerId items { skuId } }"  # the fields that must not leak
PAYLOAD = f"{FIELDS} errors {{ code }}"
Q: dict[str, str] = {
    "order": "query($a: ID!) { order(id: $a) { customerId } }",
    "node": "query($a: ID!) { node(id: $a) { id } }",
    "ordersByIds": "query($a: ID!) { ordersByIds(ids: [$a]) { customerId } }",
    "orderByExternalRef": 'query($ref: String!) { orderByExternalRef(platform: "meituan", '
    "orderId: $ref) { customerId } }",
    "orders": "query($s: ID!) { orders(filter: {storeIds: [$s]}) { edges { node { id } } } }",
    "subStatusDefinitions": "{ subStatusDefinitions { code } }",
    "orderEvents": "query($a: ID!, $b: ID!) { orderEvents(first: 1, filter: {orderIds: [$a, $b]})"
    " { edges { node { orderId } } } }",
    "orderEvents (fat)": "query($a: ID!, $b: ID!) { orderEvents(first: 1, filter: "
    f"{{orderIds: [$a, $b]}}) {{ edges {{ node {{ orderId {FIELDS} }} }} }} }}",
    "createOrder": "mutation($input: CreateOrderInput!) { createOrder(input: $input) "
    f"{{ created {PAYLOAD} }} }}",
    "replaceDiscounts": "mutation($a: ID!) { replaceDiscounts(input: {orderId: $a, discounts: "
    f'[{{kind: COUPON, amount: "1.00"}}]}}) {{ {PAYLOAD} }} }}',
    "updateOrder": 'mutation($a: ID!) { updateOrder(input: {orderId: $a, remark: "matrix"}) '
    f"{{ {PAYLOAD} }} }}",
    "setSubStatus": "mutation($a: ID!) { setSubStatus(input: {orderId: $a, subStatus: "
    f'"{SUB_STATUS}"}}) {{ {PAYLOAD} }} }}',
    "changeItems": "mutation($a: ID!) { changeItems(input: {orderId: $a, discounts: [], add: "
    '[{skuId: "tea", name: "Tea", quantity: 1, unitPrice: "10.00"}]}) '
    f"{{ {PAYLOAD} change {{ kind }} }} }}",
    "cancelItems": "mutation($c: ID!, $line: ID!) { cancelItems(input: {orderId: $c, lines: "
    '[{itemId: $line, quantity: 1}], reason: "matrix", refundAmount: "0.00"}) '
    f"{{ {PAYLOAD} change {{ kind }} }} }}",
    "transitionOrder (stale version)": "mutation($a: ID!) { transitionOrder(input: {orderId: $a,"
    f" to: PAID, expectedVersion: 99}}) {{ {PAYLOAD} }} }}",
    "transitionOrder": "mutation($a: ID!) { transitionOrder(input: {orderId: $a, to: PAID}) "
    f"{{ {PAYLOAD} }} }}",
    "defineSubStatus": "mutation($code: String!) { defineSubStatus(input: {mainStatus: PAID, "
    "code: $code}) { definition { code } errors { code } } }",
    "deadlines": "{ deadlines { code } }",
    # A rule that would fire only after 30 days, removed at once.
    "defineDeadline": "mutation($code: String!) { defineDeadline(input: {code: $code, mainStatus: "
    'FULFILLING, afterSeconds: 2592000, moveTo: COMPLETED, reason: "MATRIX"}) { rule { code } '
    "errors { code } } }",
    "removeDeadline": "mutation($code: String!) { removeDeadline(input: {code: $code}) "
    "{ rule { code } errors { code } } }",
}
SUBSCRIPTIONS = {
    "Subscription.orderEvents": "subscription($a: ID!, $b: ID!) { orderEvents(fromStart: true, "
    "filter: {orderIds: [$a, $b]}) { orderId } }",
    "Subscription.orderEvents (fat)": "subscription($a: ID!, $b: ID!) { orderEvents(fromStart: "
    f"true, filter: {{orderIds: [$a, $b]}}) {{ orderId {FIELDS} }} }}",
}
ADMIN_CREATE = """mutation($input: CreateOrderInput!) {
  createOrder(input: $input) { order { id items { id } } errors { code } } }"""
OPERATIONS = [*Q, *SUBSCRIPTIONS, "createOrder (its externalRef)"]

NEEDS: dict[str, frozenset[Scope]] = {
    **{op: frozenset({R}) for op in Q if not op.startswith(("orderEvents", "create"))},
    "orderEvents": frozenset({E}),
    "orderEvents (fat)": frozenset({E, R}),
    "Subscription.orderEvents": frozenset({E}),
    "Subscription.orderEvents (fat)": frozenset({E, R}),
    "createOrder": frozenset({C}),
    "createOrder (its externalRef)": frozenset({C}),
    "replaceDiscounts": frozenset({U}),
    "changeItems": frozenset({U}),
    "cancelItems": frozenset({U}),
    "updateOrder": frozenset({U}),
    "setSubStatus": frozenset({T}),
    "transitionOrder (stale version)": frozenset({T}),
    "transitionOrder": frozenset({T}),
    "defineSubStatus": frozenset({A}),
    "defineDeadline": frozenset({A}),
    "removeDeadline": frozenset({A}),
}
ALLOWED = {
    "createOrder": "created",
    "createOrder (its externalRef)": "existing",
    "transitionOrder (stale version)": "version_conflict",
}
ANOTHER_STORE = {
    **dict.fromkeys(("subStatusDefinitions", "deadlines"), "ok"),  # not about any store
    **dict.fromkeys(("defineSubStatus", "defineDeadline", "removeDeadline"), "ok"),
    "createOrder": "forbidden",
    "createOrder (its externalRef)": "forbidden",
    **{op: "not_found" for op in ("replaceDiscounts", "updateOrder", "setSubStatus")},
    **{op: "not_found" for op in ("changeItems", "cancelItems")},
    **{op: "not_found" for op in ("transitionOrder (stale version)", "transitionOrder")},
}
WRITES = ("create", "replace", "update", "set", "change", "cancel", "transition")
CARRIES_ORDER = {op for op in OPERATIONS if op.startswith(WRITES)}


def expected(operation: str, scopes: frozenset[Scope], binding: str) -> str:
    def has(scope: Scope) -> bool:
        return A in scopes or scope in scopes

    if not all(has(scope) for scope in NEEDS[operation]):
        return "forbidden"
    if binding == "another store":
        return ANOTHER_STORE.get(operation, "hidden")
    outcome = ALLOWED.get(operation, "ok")
    if operation in CARRIES_ORDER and has(R):
        outcome += "+order"
    return outcome


@dataclass
class Row:
    """One client and the orders it is tried on."""

    http: httpx.AsyncClient
    server: Server
    key: str
    store: str
    own_store: str  # the store this client is bound to (A's, unless bound to another store)
    a: str
    b: str
    ref: str
    c: str = ""  # a PAID order in A's store, and its first item, for cancelItems
    line: str = ""

    async def create(self, order: dict[str, Any]) -> tuple[str, str]:
        """The new order's id, and its first item's."""
        body = await self.post(ADMIN_CREATE, {"input": order})
        assert body["data"]["createOrder"]["errors"] == [], body
        created = body["data"]["createOrder"]["order"]
        return str(created["id"]), str(created["items"][0]["id"])

    async def post(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(
            self.server.http_url,
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {self.key}"},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    @property
    def variables(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "s": self.store, "ref": self.ref}

    def variables_for(self, query: str) -> dict[str, Any]:
        """The variables the query declares."""
        every = {**self.variables, "c": self.c, "line": self.line}
        return {name: value for name, value in every.items() if f"${name}:" in query}


def _forbidden(errors: list[dict[str, Any]]) -> bool:
    return any(e.get("extensions", {}).get("code") == "FORBIDDEN" for e in errors)


def read_outcome(operation: str, body: dict[str, Any], row: Row) -> str:
    if _forbidden(body.get("errors", [])):
        return "forbidden"
    assert "errors" not in body, (operation, body)
    data = body["data"]
    match operation:
        case "order" | "node" | "orderByExternalRef":
            found = next(iter(data.values())) is not None
        case "ordersByIds":
            found = data["ordersByIds"] != [None]
        case "orders":
            found = bool(data["orders"]["edges"])
        case "subStatusDefinitions" | "deadlines":
            found = isinstance(data[operation], list)
        case _:  # the events: A's come first; a client that cannot see A gets B's
            (edge,) = data["orderEvents"]["edges"]
            found = edge["node"]["orderId"] == row.a
            if "order" in edge["node"]:
                assert edge["node"]["order"]["items"], edge
    return "ok" if found else "hidden"


def mutation_outcome(payload: dict[str, Any]) -> str:
    errors = payload["errors"]
    if errors:
        outcome = errors[0]["code"].lower()
    elif "created" in payload:
        outcome = "created" if payload["created"] else "existing"
    else:
        outcome = "ok"
    order = payload.get("order")
    if order is not None:
        assert order["items"], payload
        outcome += "+order"
    if "change" in payload and not errors:  # the change made goes with the order, or not at all
        assert (payload["change"] is None) == (order is None), payload
    return outcome


async def subscription_outcome(row: Row, query: str) -> str:
    variables = {"a": row.a, "b": row.b}
    async with ws_session(row.server.ws_url, row.key) as session:
        results = session.subscribe(GraphQLRequest(query, variable_values=variables))
        try:
            result = await asyncio.wait_for(anext(results), 10)
        except TransportQueryError as error:
            if _forbidden(error.errors or []):  # refused before anything is read
                return "forbidden"
            raise
        finally:
            await results.aclose()
    event = result["orderEvents"]
    if "order" in event:
        assert event["order"]["items"], event
    return "ok" if event["orderId"] == row.a else "hidden"


async def run_row(row: Row) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    for operation, query in Q.items():
        variables = row.variables_for(query)
        if operation == "createOrder":  # in A's store
            variables = {"input": order_input(row.store)}
        elif operation == "defineSubStatus":
            variables = {"code": "M_" + uuid.uuid4().hex[:8].upper()}
        elif operation == "defineDeadline":
            rule = {"code": "M_" + uuid.uuid4().hex[:8].upper()}
            variables = rule
        elif operation == "removeDeadline":
            variables = rule
        body = await row.post(query, variables)
        if query.startswith("mutation"):
            assert "errors" not in body, (operation, body)
            outcomes[operation] = mutation_outcome(next(iter(body["data"].values())))
        else:
            outcomes[operation] = read_outcome(operation, body, row)
    for operation, query in SUBSCRIPTIONS.items():
        outcomes[operation] = await subscription_outcome(row, query)
    existing = {"platform": "meituan", "orderId": row.ref}
    body = await row.post(
        Q["createOrder"], {"input": order_input(row.own_store, externalRef=existing)}
    )
    outcomes["createOrder (its externalRef)"] = mutation_outcome(body["data"]["createOrder"])
    return outcomes


@pytest.fixture(scope="module")
def secure_server(postgres_url: str) -> Iterator[Server]:
    with running_server(
        postgres_url, ORDER_GRAPH_AUTH="required", ORDER_GRAPH_DB_POOL_SIZE="4"
    ) as server:
        yield server


@pytest.fixture
async def keys(
    postgres_url: str,
) -> AsyncIterator[Callable[[frozenset[Scope], Any], Awaitable[str]]]:
    db = Database(postgres_url, pool_size=1)

    async def make(scopes: frozenset[Scope], stores: frozenset[str] | None) -> str:
        key = clients.new_key()
        principal = Principal(f"matrix-{uuid.uuid4().hex[:8]}", scopes, stores)
        async with db.write() as conn:
            await clients.create(conn, principal, key, utc_now())
        return key

    yield make
    await db.dispose()


async def test_every_scope_set_and_store_binding_gets_exactly_its_operations(
    secure_server: Server, keys: Callable[[frozenset[Scope], Any], Awaitable[str]]
) -> None:
    admin_key = await keys(frozenset({A}), None)
    async with httpx.AsyncClient(timeout=30) as http:
        admin = Row(http, secure_server, admin_key, "", "", "", "", "")
        define = Q["defineSubStatus"].replace("PAID", "CREATED")
        await admin.post(define, {"code": SUB_STATUS})

        async def row_for(scopes: frozenset[Scope], binding: str) -> Row:
            store = f"m-{uuid.uuid4().hex[:8]}"
            other = f"{store}-other"
            ref = f"ext-{uuid.uuid4().hex}"
            made = []
            for target, extra in ((store, {"platform": "meituan", "orderId": ref}), (other, None)):
                created = order_input(target, customerId="c-1", externalRef=extra)
                made.append((await admin.create(created))[0])
            paid, line = await admin.create(order_input(store, initialStatus="PAID"))
            stores = {"all stores": None, "its store": {store}, "another store": {other}}[binding]
            key = await keys(scopes, None if stores is None else frozenset(stores))
            own = other if binding == "another store" else store
            return Row(http, secure_server, key, store, own, made[0], made[1], ref, paid, line)

        actual: dict[tuple[str, str], dict[str, str]] = {}
        wanted: dict[tuple[str, str], dict[str, str]] = {}
        for name, scopes in SCOPE_SETS.items():
            for binding in BINDINGS:
                row = await row_for(scopes, binding)
                actual[name, binding] = await run_row(row)
                wanted[name, binding] = {op: expected(op, scopes, binding) for op in OPERATIONS}
    mismatches = {
        (*cell, op): (actual[cell][op], wanted[cell][op])
        for cell in wanted
        for op in OPERATIONS
        if actual[cell][op] != wanted[cell][op]
    }
    assert mismatches == {}, "\n".join(
        f"{k}: got {v[0]}, expected {v[1]}" for k, v in mismatches.items()
    )
