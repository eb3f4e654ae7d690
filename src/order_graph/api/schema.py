"""The strawberry schema and its printed SDL."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, ParserCache, SchemaExtension, ValidationCache

from order_graph.api.mutations import Mutation
from order_graph.api.queries import Query
from order_graph.api.subscriptions import Subscription
from order_graph.api.types import Order


def is_unexpected(error: GraphQLError) -> bool:
    """A resolver's own crash, as opposed to a GraphQL or domain error meant for the caller."""
    original = error.original_error
    return (
        error.path is not None and original is not None and not isinstance(original, GraphQLError)
    )


def build_schema() -> strawberry.Schema:
    # Factories: strawberry builds fresh extensions per request; the caches behind ParserCache
    # and ValidationCache live at module level, shared by every request.
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
        lambda: MaskErrors(should_mask_error=is_unexpected),
    ]
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Order],
        extensions=extensions,
    )


schema = build_schema()


def sdl() -> str:
    return schema.as_str() + "\n"
