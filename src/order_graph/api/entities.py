"""The federation entities: an order by its key, and the stores and customers that orders point at.

Order-graph owns orders. A store or a customer belongs to another service and is known here only
by its id: order-graph stores nothing about it and resolves only what it owns, the orders.
Their `orders` are `Query.orders` (the same connection, filter and checks) narrowed to that
store or customer. Every read goes through `reads.py`, so scopes and store binding apply exactly
as on `Query.order` and `Query.orders`.
"""

from __future__ import annotations

import dataclasses

import strawberry

from order_graph.api import reads
from order_graph.api.context import Info
from order_graph.api.inputs import OrderFilter
from order_graph.api.queries import order_connection
from order_graph.api.types import Order, OrderConnection

ORDERS = (
    "the same connection and filter as `Query.orders`, narrowed to this {}; a filter that "
    "names another {} finds nothing. Newest first. first: 1 to 100."
)


def of_store(filter: OrderFilter | None, store_id: str) -> OrderFilter:
    wanted = [strawberry.ID(store_id)]
    if filter is None:
        return OrderFilter(store_ids=wanted)
    if filter.store_ids is not None and store_id not in filter.store_ids:
        wanted = []  # no store matches both: an empty page, after the same checks
    return dataclasses.replace(filter, store_ids=wanted)


def of_customer(filter: OrderFilter | None, customer_id: str) -> OrderFilter:
    customer = strawberry.ID(customer_id)
    if filter is None:
        return OrderFilter(customer_id=customer)
    if filter.customer_id is not None and filter.customer_id != customer_id:
        return dataclasses.replace(filter, store_ids=[])  # no order matches both
    return dataclasses.replace(filter, customer_id=customer)


@strawberry.federation.type(
    keys=["id"], description="A store. Its other fields come from the service that owns stores."
)
class Store:
    id: strawberry.ID

    @strawberry.field(description="This store's orders: " + ORDERS.format("store", "store"))
    async def orders(
        self,
        info: Info,
        filter: OrderFilter | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> OrderConnection:
        return await order_connection(info.context, of_store(filter, self.id), first, after)

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID) -> Store:
        return cls(id=id)


@strawberry.federation.type(
    keys=["id"],
    description="A customer. Its other fields come from the service that owns customers.",
)
class Customer:
    id: strawberry.ID

    @strawberry.field(
        description="This customer's orders: " + ORDERS.format("customer", "customer")
    )
    async def orders(
        self,
        info: Info,
        filter: OrderFilter | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> OrderConnection:
        return await order_connection(info.context, of_customer(filter, self.id), first, after)

    @classmethod
    def resolve_reference(cls, info: Info, id: strawberry.ID) -> Customer:
        return cls(id=id)


@strawberry.federation.type(keys=["id"], name="Order")
class OrderEntity(Order):
    """The subgraph's `Order`: the public one, resolvable by its id, with references to its
    store and customer. The subgraph schema uses it wherever the public schema has `Order`."""

    @strawberry.field(description="The store, by reference: the router joins in its fields.")
    def store(self) -> Store:
        return Store(id=self.store_id)

    @strawberry.field(description="The customer, by reference; null for an anonymous order.")
    def customer(self) -> Customer | None:
        return None if self.customer_id is None else Customer(id=self.customer_id)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Order | None:
        """As `Query.order`: null for a missing order or another store's, batched by the
        per-request loader, so many representations cost one statement."""
        record = await reads.order_by_number(info.context, reads.order_number(id))
        return None if record is None else cls.of(record)
