"""The fast path: queries over orders, compiled once per document into a plan that builds the
response straight from the loaded rows, without per-field resolver dispatch.

A plan covers query operations whose root fields are `order`, `orderByExternalRef`,
`ordersByIds`, `orders` or `__typename`, with any selection over `Order` (fragments, aliases,
nested lists), but no directives. Anything else is not compiled, and the standard executor
answers. At run time the plan calls the same reads as the resolvers (`reads.py`: scopes, store
binding, argument checks); if one of them would raise, the plan gives up and the standard
executor answers instead, so errors are always the standard executor's own. A differential
test runs generated selections through both paths and requires identical results.
"""

from __future__ import annotations

import logging
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension

from order_graph.api import ids, reads
from order_graph.api.context import Context
from order_graph.api.inputs import OrderFilter
from order_graph.domain.model import (
    DiscountRecord,
    ItemRecord,
    OrderRecord,
    StatusChangeRecord,
)
from order_graph.domain.money import format_minor
from order_graph.domain.status import MainStatus, allowed_transitions
from order_graph.storage import orders as store

logger = logging.getLogger(__name__)

Fields = dict[str, list[FieldNode]]
Build = Callable[..., Any]


class Unsupported(Exception):
    """The document uses something the compiler does not handle: the executor answers."""


@dataclass
class Children:
    """The lists under a set of orders, each loaded in one statement when selected."""

    items: Mapping[int, list[ItemRecord]] = field(default_factory=dict)
    discounts: Mapping[int, list[DiscountRecord]] = field(default_factory=dict)
    history: Mapping[int, list[StatusChangeRecord]] = field(default_factory=dict)


# --- Collecting fields the way GraphQL does ----------------------------------------------


def collect(
    selections: Iterable[SelectionNode],
    fragments: Mapping[str, FragmentDefinitionNode],
    type_names: tuple[str, ...],
    into: Fields,
    visited: set[str],
) -> Fields:
    """Response keys in first-seen order, each with every field node merged under it."""
    for selection in selections:
        if selection.directives:
            raise Unsupported("directives")
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            into.setdefault(key, []).append(selection)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is None or condition.name.value in type_names:
                collect(selection.selection_set.selections, fragments, type_names, into, visited)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in visited:
                continue
            visited.add(name)
            fragment = fragments[name]
            if fragment.type_condition.name.value in type_names:
                collect(fragment.selection_set.selections, fragments, type_names, into, visited)
    return into


def subfields(
    nodes: list[FieldNode], fragments: Mapping[str, FragmentDefinitionNode], type_name: str
) -> Fields:
    into: Fields = {}
    visited: set[str] = set()
    names = (type_name, "Node") if type_name == "Order" else (type_name,)
    for node in nodes:
        if node.selection_set is None:
            raise Unsupported("a composite field without a selection")
        collect(node.selection_set.selections, fragments, names, into, visited)
    return into


# --- Code generation: a selection over one type becomes one Python function --------------
#
# Each function builds its response dict in a single expression, so a field costs a dict slot,
# not a resolver call. Only GraphQL names (checked by validation) and fixed expressions below
# reach the generated source; response keys are embedded with repr().

# Per type: field name -> expression over the record variable (see VARIABLES).
SCALARS: dict[str, dict[str, str]] = {
    "Order": {
        "id": "enc('Order', o.id)",
        "orderNo": "o.order_no",
        "version": "o.version",
        "storeId": "o.store_id",
        "channel": "o.channel.value",
        "customerId": "o.customer_id",
        "fulfillmentType": "o.fulfillment_type.value",
        "mainStatus": "o.main_status.value",
        "subStatus": "o.sub_status",
        "allowedTransitions": "allowed(o.main_status)",
        "currency": "o.currency",
        "remark": "o.remark",
        "attributes": "o.attributes",
        "createdAt": "o.created_at.isoformat()",
        "updatedAt": "o.updated_at.isoformat()",
    },
    "OrderItem": {
        "id": "enc('OrderItem', i.id)",
        "skuId": "i.sku_id",
        "name": "i.name",
        "quantity": "i.quantity",
        "attributes": "i.attributes",
    },
    "OrderDiscount": {
        "id": "enc('OrderDiscount', d.id)",
        "kind": "d.kind.value",
        "code": "d.code",
        "description": "d.description",
        "itemId": "(None if d.item_id is None else enc('OrderItem', d.item_id))",
        "fundedBy": "d.funded_by",
    },
    "StatusChange": {
        "fromMainStatus": "(None if h.from_main_status is None else h.from_main_status.value)",
        "toMainStatus": "h.to_main_status.value",
        "fromSubStatus": "h.from_sub_status",
        "toSubStatus": "h.to_sub_status",
        "reason": "h.reason",
        "actor": "h.actor",
        "occurredAt": "h.occurred_at.isoformat()",
        "version": "h.version",
    },
    "ExternalRef": {"platform": "o.external_platform", "orderId": "o.external_order_id"},
    "OrderEdge": {"cursor": "cursor(r)"},
    "PageInfo": {
        "hasNextPage": "p[1]",
        "endCursor": "(cursor(p[0][-1]) if p[0] else None)",
    },
}
# Money fields: field name -> (minor units, currency) expressions.
MONEY: dict[str, dict[str, tuple[str, str]]] = {
    "Order": {
        name: (f"o.{column}", "o.currency")
        for name, column in (
            ("itemsTotal", "items_total"),
            ("discountTotal", "discount_total"),
            ("deliveryFee", "delivery_fee"),
            ("packagingFee", "packaging_fee"),
            ("payableTotal", "payable_total"),
        )
    },
    "OrderItem": {"unitPrice": ("i.unit_price", "cur"), "lineTotal": ("i.line_total", "cur")},
    "OrderDiscount": {"amount": ("d.amount", "cur")},
}
# Function signatures per type: the record variable, and the currency where lines need it.
SIGNATURES = {
    "Order": "o, c",
    "OrderItem": "i, cur, c",
    "OrderDiscount": "d, cur, c",
    "StatusChange": "h, c",
    "OrderEdge": "r, c",
    "OrderConnection": "p, c",
}


class Emitter:
    """Writes one function per selection set and compiles them together."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.needs: set[str] = set()
        self.sources: list[str] = []

    def function(self, type_name: str, nodes: list[FieldNode]) -> str:
        name = f"build_{len(self.sources)}"
        self.sources.append("")  # reserve the slot: nested functions are written first
        index = len(self.sources) - 1
        body = self._object(type_name, subfields(nodes, self.fragments, type_name))
        self.sources[index] = f"def {name}({SIGNATURES[type_name]}):\n    return {body}\n"
        return name

    def _object(self, type_name: str, fields: Fields) -> str:
        entries = [f"{key!r}: {self._field(type_name, nodes)}" for key, nodes in fields.items()]
        return "{" + ", ".join(entries) + "}"

    def _field(self, type_name: str, nodes: list[FieldNode]) -> str:
        name = nodes[0].name.value
        if name == "__typename":
            return repr(type_name)
        if name in SCALARS.get(type_name, {}):
            return SCALARS[type_name][name]
        if name in MONEY.get(type_name, {}):
            minor, currency = MONEY[type_name][name]
            return self._money(nodes, minor, currency)
        composite = (type_name, name)
        if composite == ("Order", "externalRef"):
            ref = self._object("ExternalRef", subfields(nodes, self.fragments, "ExternalRef"))
            return (
                f"(None if o.external_platform is None or o.external_order_id is None else {ref})"
            )
        if composite == ("Order", "items"):
            self.needs.add("items")
            item = self.function("OrderItem", nodes)
            return f"[{item}(i, o.currency, c) for i in c.items.get(o.id, ())]"
        if composite == ("Order", "discounts"):
            self.needs.add("discounts")
            discount = self.function("OrderDiscount", nodes)
            return f"[{discount}(d, o.currency, c) for d in c.discounts.get(o.id, ())]"
        if composite == ("Order", "statusHistory"):
            # As the resolver does: an order replayed for a retry shows history to its version.
            self.needs.add("history")
            change = self.function("StatusChange", nodes)
            return f"[{change}(h, c) for h in c.history.get(o.id, ()) if h.version <= o.version]"
        if composite == ("OrderEdge", "node"):
            return f"{self.function('Order', nodes)}(r, c)"
        if composite == ("OrderConnection", "edges"):
            return f"[{self.function('OrderEdge', nodes)}(r, c) for r in p[0]]"
        if composite == ("OrderConnection", "pageInfo"):
            return self._object("PageInfo", subfields(nodes, self.fragments, "PageInfo"))
        raise Unsupported(f"{type_name}.{name}")

    def _money(self, nodes: list[FieldNode], minor: str, currency: str) -> str:
        expressions = {"amount": f"fmt({minor}, {currency})", "currency": currency}
        entries = []
        for key, money_nodes in subfields(nodes, self.fragments, "Money").items():
            name = money_nodes[0].name.value
            if name == "__typename":
                entries.append(f"{key!r}: 'Money'")
            elif name in expressions:
                entries.append(f"{key!r}: {expressions[name]}")
            else:
                raise Unsupported(f"Money.{name}")
        return "{" + ", ".join(entries) + "}"

    def compile(self) -> dict[str, Build]:
        namespace: dict[str, Any] = {
            "enc": ids.encode,
            "fmt": format_minor,
            "allowed": _allowed,
            "cursor": reads.page_cursor,
        }
        exec(compile("\n".join(self.sources), "<compiled query>", "exec"), namespace)
        return {name: namespace[name] for name in namespace if name.startswith("build_")}


def _allowed(status: MainStatus) -> list[str]:
    return [target.value for target in allowed_transitions(status)]


# --- Roots ------------------------------------------------------------------------------

Fetch = Callable[[Context, dict[str, Any]], Awaitable[Any]]


@dataclass
class Root:
    """One root field: how to fetch its records, and the generated function that shapes them."""

    key: str
    node: FieldNode
    definition: GraphQLField | None
    fetch: Fetch | None  # None: __typename
    kind: str  # "one", "many" or "page"
    builder: str = ""
    build: Build | None = None

    def orders(self, got: Any) -> list[OrderRecord]:
        if self.kind == "one":
            return [got] if got is not None else []
        if self.kind == "many":
            return [record for record in got if record is not None]
        return list(got[0])

    def shape(self, got: Any, children: Children) -> Any:
        build = self.build
        if build is None:
            return "Query"
        if self.kind == "one":
            return None if got is None else build(got, children)
        if self.kind == "many":
            return [None if record is None else build(record, children) for record in got]
        return build(got, children)


class Plan:
    def __init__(self, roots: list[Root], needs: set[str]) -> None:
        self.roots = roots
        self.needs = needs

    async def run(self, ctx: Context, variables: VariableValues) -> dict[str, Any] | None:
        """The response data, or None when the standard executor should answer instead."""
        fetched: list[Any] = []
        for root in self.roots:
            if root.fetch is None or root.definition is None:
                fetched.append(None)
                continue
            arguments = get_argument_values(root.definition, root.node, variables)
            try:
                fetched.append(await root.fetch(ctx, arguments))
            except GraphQLError:
                return None
        pairs = list(zip(self.roots, fetched, strict=True))
        children = await self._children(ctx, [o for root, got in pairs for o in root.orders(got)])
        return {root.key: root.shape(got, children) for root, got in pairs}

    async def _children(self, ctx: Context, orders: Sequence[OrderRecord]) -> Children:
        numbers = list(dict.fromkeys(order.id for order in orders))
        children = Children()
        if not numbers or not self.needs:
            return children
        async with ctx.db.read() as conn:
            if "items" in self.needs:
                children.items = await store.items_by_order(conn, numbers)
            if "discounts" in self.needs:
                children.discounts = await store.discounts_by_order(conn, numbers)
            if "history" in self.needs:
                children.history = await store.history_by_order(conn, numbers)
        return children


async def _one(ctx: Context, a: dict[str, Any]) -> Any:
    return await reads.order_by_number(ctx, reads.order_number(a["id"]))


async def _by_ref(ctx: Context, a: dict[str, Any]) -> Any:
    return await reads.order_by_external_ref(ctx, a["platform"], a["orderId"])


async def _many(ctx: Context, a: dict[str, Any]) -> Any:
    return await reads.orders_by_ids(ctx, a["ids"])


async def _page(ctx: Context, a: dict[str, Any]) -> Any:
    return await reads.order_page(ctx, _filter(a.get("filter")), a.get("first"), a.get("after"))


ROOTS: dict[str, tuple[Fetch, str, str]] = {
    "order": (_one, "one", "Order"),
    "orderByExternalRef": (_by_ref, "one", "Order"),
    "ordersByIds": (_many, "many", "Order"),
    "orders": (_page, "page", "OrderConnection"),
}


def _root(key: str, nodes: list[FieldNode], query_type: GraphQLObjectType, emit: Emitter) -> Root:
    name = nodes[0].name.value
    if name == "__typename":
        return Root(key, nodes[0], None, None, "typename")
    if name not in ROOTS or len(nodes) > 1:
        raise Unsupported(f"Query.{name}")
    fetch, kind, type_name = ROOTS[name]
    builder = emit.function(type_name, nodes)
    return Root(key, nodes[0], query_type.fields[name], fetch, kind, builder)


def _filter(value: dict[str, Any] | None) -> OrderFilter | None:
    """graphql-core coerces the input object to a dict keyed by GraphQL names."""
    if value is None:
        return None
    return OrderFilter(
        store_ids=value.get("storeIds"),
        main_statuses=value.get("mainStatuses"),
        sub_statuses=value.get("subStatuses"),
        channels=value.get("channels"),
        customer_id=value.get("customerId"),
        created_after=value.get("createdAfter"),
        created_before=value.get("createdBefore"),
    )


def compile_plan(
    document: DocumentNode, operation_name: str | None, query_type: GraphQLObjectType
) -> tuple[Plan, OperationDefinitionNode] | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [
        o
        for o in operations
        if operation_name is None or (o.name and o.name.value == operation_name)
    ]
    if len(chosen) != 1 or chosen[0].operation is not OperationType.QUERY:
        return None
    operation = chosen[0]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
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
    return Plan(roots, emit.needs), operation


@dataclass(frozen=True)
class Compiled:
    plan: Plan
    operation: OperationDefinitionNode
    document: DocumentNode


class PlanCache:
    """Plans by (query text, operation name), for one schema. A document is entered only once
    the executor has parsed and validated it, so a hit is a document that passed validation
    and the schema's limits on it."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str | None], Compiled | None] = OrderedDict()

    def get(self, query: str, operation_name: str | None) -> Compiled | None:
        key = (query, operation_name)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def enter(
        self,
        query: str,
        operation_name: str | None,
        document: DocumentNode,
        query_type: GraphQLObjectType,
    ) -> Compiled | None:
        key = (query, operation_name)
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        made = compile_plan(document, operation_name, query_type)
        compiled = None if made is None else Compiled(made[0], made[1], document)
        self._entries[key] = compiled
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return compiled


_caches: weakref.WeakKeyDictionary[object, PlanCache] = weakref.WeakKeyDictionary()


def plan_cache(schema: object) -> PlanCache:
    cache = _caches.get(schema)
    if cache is None:
        cache = _caches[schema] = PlanCache()
    return cache


async def run_compiled(
    compiled: Compiled, schema: GraphQLSchema, context: Context, raw_variables: dict[str, Any]
) -> dict[str, Any] | None:
    """The response data, or None when the standard executor should answer."""
    variables = get_variable_values(
        schema, compiled.operation.variable_definitions or (), raw_variables
    )
    if isinstance(variables, list):  # invalid variables: the executor reports them
        return None
    try:
        return await compiled.plan.run(context, variables)
    except Exception:
        # The executor runs the same reads inside resolvers, where a failure is masked and
        # logged under the request id as usual.
        logger.warning("the compiled plan failed; the executor answers", exc_info=True)
        return None


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
            compiled = cache.enter(context.query, provided, document, schema.query_type)
            if compiled is not None:
                data = await run_compiled(
                    compiled, schema, context.context, context.variables or {}
                )
                if data is not None:
                    context.result = GraphQLExecutionResult(data=data, errors=None)
        yield
