"""The strawberry schema: types, the limits that guard it, and the error policy applied."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from order_graph.api import error_policy
from order_graph.api.compiled import CompiledQueries
from order_graph.api.deadlines import DeadlineMutations, DeadlineQueries
from order_graph.api.documents import CachedDocuments
from order_graph.api.item_changes import ItemMutations
from order_graph.api.limits import BoundInputs, Limits, QueryCost
from order_graph.api.loaders import FreshLoaders
from order_graph.api.multiplex import SharedEventExecutor
from order_graph.api.mutations import Mutation
from order_graph.api.observability import ObserveOperations
from order_graph.api.queries import Query
from order_graph.api.subscriptions import Subscription
from order_graph.api.types import Order

# The root types of both schemas (the public one and the subgraph): the orders' own fields,
# the item changes' and the deadline rules'.
RootQuery = merge_types("Query", (Query, DeadlineQueries))
RootMutation = merge_types("Mutation", (Mutation, ItemMutations, DeadlineMutations))


def request_id_of(context: object) -> str | None:
    return getattr(context, "request_id", None)


class OrderSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Called once per result with the errors as raised, before the policy masks them."""
        request_id = request_id_of(execution_context.context) if execution_context else None
        for error in errors:
            error_policy.record(error, request_id, error.path)


def schema_extensions(
    limits: Limits,
    production: bool,
    introspection: bool,
    extra_extensions: Sequence[Callable[[], SchemaExtension]],
    compiled: bool,
) -> list[Callable[[], SchemaExtension]]:
    """What every request to a schema of this service goes through (the subgraph's too)."""
    # The limiters' rule classes are made once: every request validates with the same rules,
    # so the document cache can keep each document's validation result.
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
    ]
    # Factories: strawberry builds fresh extensions per request; the document and plan caches
    # live per schema, shared by every request.
    extensions: list[Callable[[], SchemaExtension]] = [
        *extra_extensions,  # tracing: its operation span covers parsing, validation and limits
        ObserveOperations,  # first, so it times everything and sees errors as callers do
        # Next, so that it sees every result last, after every other extension.
        lambda: error_policy.ApplyErrorPolicy(production, request_id_of),
        FreshLoaders,
        lambda: AddValidationRules(rules),
        lambda: CachedDocuments(limits.max_document_bytes, limits.max_tokens, production),
        BoundInputs,  # before anything walks the variables
        lambda: QueryCost(limits.max_cost),
    ]
    if compiled:  # last: every limit and check above applies to compiled queries too
        extensions.append(CompiledQueries)
    if not introspection:
        extensions.append(DisableIntrospection)
    return extensions


def build_schema(
    limits: Limits | None = None,
    production: bool = False,
    introspection: bool = True,
    extra_extensions: Sequence[Callable[[], SchemaExtension]] = (),
    compiled: bool = True,
) -> strawberry.Schema:
    extensions = schema_extensions(
        limits or Limits(), production, introspection, extra_extensions, compiled
    )
    return OrderSchema(
        query=RootQuery,
        mutation=RootMutation,
        subscription=Subscription,
        types=[Order],
        extensions=extensions,
        execution_context_class=SharedEventExecutor,  # subscriptions share their executions
    )


def sdl() -> str:
    return build_schema().as_str() + "\n"
