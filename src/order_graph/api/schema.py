"""The strawberry schema: types, the limits that guard it, and error masking."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import strawberry
from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from order_graph.api.compiled import CompiledQueries
from order_graph.api.deadlines import DeadlineMutations, DeadlineQueries
from order_graph.api.item_changes import ItemMutations
from order_graph.api.limits import HideSuggestions, Limits, QueryCost, RefuseNul
from order_graph.api.loaders import FreshLoaders
from order_graph.api.mutations import Mutation
from order_graph.api.observability import ObserveOperations
from order_graph.api.queries import Query
from order_graph.api.subscriptions import Subscription
from order_graph.api.types import Order

logger = logging.getLogger("order_graph.errors")

# The root types of both schemas (the public one and the subgraph): the orders' own fields,
# the item changes' and the deadline rules'.
RootQuery = merge_types("Query", (Query, DeadlineQueries))
RootMutation = merge_types("Mutation", (Mutation, ItemMutations, DeadlineMutations))


def is_unexpected(error: GraphQLError) -> bool:
    """A resolver's own crash, as opposed to a GraphQL or domain error meant for the caller."""
    original = error.original_error
    return (
        error.path is not None and original is not None and not isinstance(original, GraphQLError)
    )


def request_id_of(execution_context: ExecutionContext) -> str | None:
    return getattr(execution_context.context, "request_id", None)


def is_unavailable(error: GraphQLError) -> bool:
    """The database could not be reached or dropped the connection: worth retrying."""
    original = error.original_error
    if isinstance(original, DBAPIError):
        return original.connection_invalidated or isinstance(
            original, OperationalError | InterfaceError
        )
    return isinstance(original, OSError | TimeoutError | PoolTimeout)


class MaskUnexpected(MaskErrors):
    """`Unexpected error.` with the request id, the traceback in the log under that id; or, when
    the database is away, a retryable `UNAVAILABLE`."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        request_id = request_id_of(self.execution_context)
        if is_unavailable(error):
            masked.message = "The database is unavailable; retry shortly."
            masked.extensions = {"code": "UNAVAILABLE", "requestId": request_id}
        else:
            masked.extensions = {"code": "INTERNAL", "requestId": request_id}
        return masked


class OrderSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        request_id = request_id_of(execution_context) if execution_context else None
        for error in errors:
            if is_unexpected(error) and is_unavailable(error):
                logger.warning(
                    "database unavailable in request %s: %s", request_id, error.original_error
                )
            elif is_unexpected(error):
                logger.error(
                    "unexpected error in request %s at %s",
                    request_id,
                    error.path,
                    exc_info=error.original_error,
                )


def schema_extensions(
    limits: Limits,
    production: bool,
    introspection: bool,
    extra_extensions: Sequence[Callable[[], SchemaExtension]],
    compiled: bool,
) -> list[Callable[[], SchemaExtension]]:
    """What every request to a schema of this service goes through (the subgraph's too)."""
    # The limiters' rule classes are made once: ValidationCache keys on them, so rules made
    # afresh per request would make every validation a miss.
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
    ]
    # Factories: strawberry builds fresh extensions per request; the caches behind ParserCache
    # and ValidationCache live at module level, shared by every request.
    extensions: list[Callable[[], SchemaExtension]] = [
        *extra_extensions,  # tracing: its operation span covers parsing, validation and limits
        ObserveOperations,  # first, so it times everything and sees errors as callers do
        FreshLoaders,
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: ParserCache(maxsize=1024),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=1024),
        lambda: QueryCost(limits.max_cost),
        RefuseNul,
        MaskUnexpected,
    ]
    if compiled:  # last: every limit and check above applies to compiled queries too
        extensions.append(CompiledQueries)
    if not introspection:
        extensions.append(DisableIntrospection)
    if production:
        extensions.append(HideSuggestions)
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
    )


def sdl() -> str:
    return build_schema().as_str() + "\n"
