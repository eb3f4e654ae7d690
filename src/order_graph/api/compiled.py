"""The fast path: queries over orders, compiled once per document into a plan that builds the
response straight from the loaded rows, without per-field resolver dispatch.

A plan covers query operations whose root fields are `order`, `orderByExternalRef`,
`ordersByIds`, `orders` or `__typename`, with any selection over `Order` (fragments, aliases,
nested lists), but no directives. Anything else is not compiled, and the standard executor
answers. At run time each root first makes the resolvers' checks (`compiled_roots.py`: scopes,
store binding, argument checks); if one of them would raise, the plan gives up and the standard
executor answers instead, so errors are always the standard executor's own. Its rows come from
one statement per root, in one snapshot (storage/fast_reads.py). A differential test runs
generated selections through both paths and requires identical results.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, assert_never

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension

from order_graph.api import compiled_roots as roots
from order_graph.api import error_policy, plan_inputs
from order_graph.api.codegen import Build, Emitter, Unsupported, chosen_operation, collect
from order_graph.api.compiled_mutations import MutationPlan, compile_mutation
from order_graph.api.context import Context
from order_graph.api.documents import BoundedCache, document_key, weight_of
from order_graph.ops.metrics import COMPILED_OUTCOMES
from order_graph.storage import fast_reads

logger = logging.getLogger(__name__)


# --- Roots ------------------------------------------------------------------------------


@dataclass
class Root:
    """One root field: how to load its rows, and the generated function that shapes them."""

    key: str
    node: FieldNode
    definition: GraphQLField | None  # None: __typename
    prepare: roots.Prepare | None  # None: __typename
    kind: roots.Kind
    wanted: fast_reads.Wanted = frozenset()
    builder: str = ""
    build: Build | None = None

    def shape(self, got: Any) -> Any:
        build = self.build
        match self.kind:
            case "typename":
                return "Query"
            case "one":
                assert build is not None
                return None if got is None else build(got)
            case "many":
                assert build is not None
                return [None if row is None else build(row) for row in got]
            case "page":
                assert build is not None
                return build(got)
            case _:
                assert_never(self.kind)


class Plan:
    def __init__(self, roots: list[Root]) -> None:
        self.roots = roots

    async def run(self, ctx: Context, variables: VariableValues) -> dict[str, Any] | None:
        """The response data, or None when the standard executor should answer instead."""
        loads: list[roots.Load | None] = []
        for root in self.roots:
            if root.prepare is None or root.definition is None:
                loads.append(None)
                continue
            arguments = get_argument_values(root.definition, root.node, variables)
            try:
                loads.append(root.prepare(ctx, arguments, root.wanted))
            except GraphQLError:
                return None
        statements = sum(load is not None for load in loads)
        fetched: list[Any] = [None] * len(loads)
        if statements:
            async with ctx.db.snapshot(statements) as found:
                for n, load in enumerate(loads):
                    if load is not None:
                        fetched[n] = await load(found)
        return {root.key: root.shape(got) for root, got in zip(self.roots, fetched, strict=True)}


def _root(key: str, nodes: list[FieldNode], query_type: GraphQLObjectType, emit: Emitter) -> Root:
    name = nodes[0].name.value
    if name == "__typename":
        return Root(key, nodes[0], None, None, "typename")
    if name not in roots.ROOTS or len(nodes) > 1:
        raise Unsupported(f"Query.{name}")
    prepare, kind, type_name = roots.ROOTS[name]
    emit.needs = set()  # the lists under this root only
    builder = emit.function(type_name, nodes)
    wanted = frozenset(emit.needs)
    return Root(key, nodes[0], query_type.fields[name], prepare, kind, wanted, builder)


def compile_plan(
    document: DocumentNode, operation_name: str | None, query_type: GraphQLObjectType
) -> tuple[Plan, OperationDefinitionNode] | None:
    found = chosen_operation(document, operation_name, OperationType.QUERY)
    if found is None:
        return None
    operation, fragments = found
    emit = Emitter(fragments)
    try:
        if operation.directives:
            raise Unsupported("directives")
        fields = collect(operation.selection_set.selections, fragments, ("Query",), {}, set())
        roots = [_root(key, nodes, query_type, emit) for key, nodes in fields.items()]
    except Unsupported:
        return None
    functions = emit.compile()
    for root in roots:
        root.build = functions.get(root.builder)
    return Plan(roots), operation


@dataclass(frozen=True)
class Compiled:
    plan: Plan | MutationPlan
    operation: OperationDefinitionNode
    document: DocumentNode
    # The query's cost when no variable can change it (else None: computed per request).
    cost: int | None = None
    # The variables, when plain enough to coerce without graphql-core.
    plain: plan_inputs.Plain | None = None


class PlanCache:
    """Plans by (hash of the query text, operation name), for one schema, bounded like the
    document cache. A document is entered only once the executor has parsed and validated it,
    so a hit is a document that passed validation and the schema's limits on it. Only
    documents that compile take a place (queries, and the mutations of compiled_mutations.py):
    the keys of the others are remembered apart (a hash each), so no uncompilable document can
    evict a plan."""

    def __init__(self, size: int = 1024) -> None:
        self._plans: BoundedCache[Compiled] = BoundedCache(max_entries=size)
        self._uncompilable: BoundedCache[bool] = BoundedCache(max_entries=4 * size)

    def get(self, query: str, operation_name: str | None) -> Compiled | None:
        return self._plans.get((document_key(query), operation_name))

    def enter(
        self,
        query: str,
        operation_name: str | None,
        document: DocumentNode,
        query_type: GraphQLObjectType,
        mutation_type: GraphQLObjectType | None = None,
    ) -> Compiled | None:
        key = (document_key(query), operation_name)
        found = self._plans.get(key)
        if found is not None or self._uncompilable.get(key):
            return found
        made: tuple[Plan | MutationPlan, OperationDefinitionNode] | None = compile_plan(
            document, operation_name, query_type
        )
        if made is None and mutation_type is not None:
            made = compile_mutation(document, operation_name, mutation_type)
        if made is None:
            self._uncompilable.put(key, True, 1)
            return None
        plan, operation = made
        cost = plan_inputs.static_cost(document, operation)
        plain = plan_inputs.plain_variables(operation)
        compiled = Compiled(plan, operation, document, cost, plain)
        return self._plans.put(key, compiled, weight_of(document))


_caches: weakref.WeakKeyDictionary[object, PlanCache] = weakref.WeakKeyDictionary()


def plan_cache(schema: object) -> PlanCache:
    cache = _caches.get(schema)
    if cache is None:
        cache = _caches[schema] = PlanCache()
    return cache


def _coerced(
    compiled: Compiled, schema: GraphQLSchema, raw_variables: dict[str, Any]
) -> VariableValues | None:
    definitions = compiled.operation.variable_definitions or ()
    variables = get_variable_values(schema, definitions, raw_variables)
    return None if isinstance(variables, list) else variables


async def run_compiled(
    compiled: Compiled, schema: GraphQLSchema, context: Context, raw_variables: dict[str, Any]
) -> dict[str, Any] | None:
    """The response data, or None when the standard executor should answer. An unavailable
    database raises: the executor would only wait for it again. So does any failure of a
    mutation: the executor would run it a second time."""
    plain = compiled.plain
    simple = None if plain is None else plan_inputs.coerced(plain, raw_variables)
    variables = (
        _coerced(compiled, schema, raw_variables)
        if simple is None
        # The arguments read only the coerced values (their sources serve literal defaults).
        else VariableValues({}, simple)
    )
    if variables is None:  # invalid variables: the executor reports them
        COMPILED_OUTCOMES["refused"].inc()
        return None
    try:
        data = await compiled.plan.run(context, variables)
    except Exception as exc:
        if error_policy.is_unavailable(exc):
            COMPILED_OUTCOMES["unavailable"].inc()
            raise
        if isinstance(compiled.plan, MutationPlan):
            COMPILED_OUTCOMES["failed"].inc()
            raise
        # The executor runs the same reads inside resolvers, where a failure is masked and
        # logged under the request id as usual; here it is a bug of the compiled path.
        COMPILED_OUTCOMES["failed"].inc()
        logger.warning("the compiled plan failed; the executor answers", exc_info=True)
        return None
    COMPILED_OUTCOMES["refused" if data is None else "answered"].inc()
    return data


class CompiledQueries(SchemaExtension):
    """Answers compilable queries from a cached plan; leaves everything else to the executor."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.query is not None and not context.result:
            schema = context.schema._schema
            assert schema.query_type is not None
            cache = plan_cache(context.schema)
            # Keyed by the operation name as the caller sent it (or not): the fast lane has
            # only that to look it up by.
            provided = context._provided_operation_name
            # A mutation's plan is entered for the fast lane, but the executor runs it here.
            kind = context.operation_type.value
            mutations = schema.mutation_type if kind == "mutation" else None
            compiled = cache.enter(context.query, provided, document, schema.query_type, mutations)
            if compiled is not None and kind == "query":
                data = await run_compiled(
                    compiled, schema, context.context, context.variables or {}
                )
                if data is not None:
                    context.result = GraphQLExecutionResult(data=data, errors=None)
        yield
