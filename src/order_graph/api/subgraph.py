"""The Apollo Federation v2 subgraph: the public schema, plus the entities (`Order`, `Store`,
`Customer`), `_entities` and `_service`, minus subscriptions (they stay on `/graphql`).

It is served on its own path (`/subgraph`) so that the public schema, and `schema.graphql`,
carry no federation plumbing. Every request goes through the same extensions as the public
schema: limits, cost, error masking, metrics and the compiled path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.types.base import get_object_definition
from strawberry.types.info import Info

from order_graph.api.entities import Customer, OrderEntity, Store
from order_graph.api.errors import bad_input
from order_graph.api.limits import Limits
from order_graph.api.schema import OrderSchema, RootMutation, RootQuery, schema_extensions

# @key is all the subgraph uses; a lower version also composes with older routers.
FEDERATION_VERSION: Final = "2.3"

Reference = Callable[[Any, strawberry.ID], object]
REFERENCES: dict[str, Reference] = {
    "Order": OrderEntity.resolve_reference,
    "Store": Store.resolve_reference,
    "Customer": Customer.resolve_reference,
}


def resolve_entity(info: Info, representation: object) -> object:
    """The entity, its awaitable, or the error for this one representation: a list entry that
    is an error is reported at its own path (`_entities.3`) and leaves the others be."""
    if not isinstance(representation, dict):
        return bad_input("A representation is an object with __typename and id.")
    typename = representation.get("__typename")
    reference = REFERENCES.get(typename) if isinstance(typename, str) else None
    if reference is None:
        known = ", ".join(REFERENCES)
        return bad_input(f"Not an entity of this subgraph: {typename!r} (it has {known}).")
    key = representation.get("id")
    if not isinstance(key, str):
        return bad_input(f"A representation of {typename} needs its key: id, a string.")
    return reference(info, strawberry.ID(key))


class SubgraphSchema(OrderSchema, strawberry.federation.Schema):
    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        # Strawberry's own resolver turns a malformed representation into a masked crash;
        # here it is a VALIDATION error for that entry.
        return [FederationAny(resolve_entity(info, r)) for r in representations]


def build_subgraph_schema(
    limits: Limits | None = None,
    production: bool = False,
    introspection: bool = True,
    extra_extensions: Sequence[Callable[[], SchemaExtension]] = (),
    compiled: bool = True,
) -> strawberry.Schema:
    extensions = schema_extensions(
        limits or Limits(), production, introspection, extra_extensions, compiled
    )
    schema = SubgraphSchema(
        query=RootQuery,
        mutation=RootMutation,
        # Converted first, so that `Order` is the entity wherever the shared types name it;
        # the public `Order` then resolves to the entity's GraphQL type (same fields, plus
        # the references). That is why the same-name check is off for this schema; the public
        # schema, built from the same types with the check on, still catches real duplicates.
        types=[OrderEntity, Store, Customer],
        extensions=extensions,
        federation_version=FEDERATION_VERSION,
        config=StrawberryConfig(_unsafe_disable_same_type_validation=True),
    )
    order = schema.schema_converter.type_map["Order"].definition
    if order is not get_object_definition(OrderEntity, strict=True):
        raise RuntimeError("the subgraph's Order is not the entity: check the strawberry version")
    return schema


def subgraph_sdl() -> str:
    return build_subgraph_schema().as_str() + "\n"
