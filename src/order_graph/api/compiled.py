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
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
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
from order_graph.domain.money import from_minor
from order_graph.domain.status import allowed_transitions
from order_graph.storage import orders as store

logger = logging.getLogger(__name__)

Fields = dict[str, list[FieldNode]]
Build = Callable[[Any, "Children"], Any]


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


# --- Builders: a selection over one type becomes a function of a record ------------------


def _object(steps: list[tuple[str, Build]]) -> Build:
    def build(value: Any, children: Children) -> dict[str, Any]:
        return {key: step(value, children) for key, step in steps}

    return build


def _steps(
    fields: Fields,
    type_name: str,
    scalars: Mapping[str, Callable[[Any], Any]],
    composites: Mapping[str, Callable[[list[FieldNode]], Build]],
) -> list[tuple[str, Build]]:
    steps: list[tuple[str, Build]] = []
    for key, nodes in fields.items():
        name = nodes[0].name.value
        if name == "__typename":
            steps.append((key, _constant(type_name)))
        elif name in scalars:
            steps.append((key, _scalar(scalars[name])))
        elif name in composites:
            steps.append((key, composites[name](nodes)))
        else:
            raise Unsupported(f"{type_name}.{name}")
    return steps


def _constant(value: str) -> Build:
    return lambda _value, _children: value


def _scalar(getter: Callable[[Any], Any]) -> Build:
    return lambda value, _children: getter(value)


def _iso(value: Any) -> str:
    return str(value.isoformat())


def _enum(value: Any) -> Any:
    return None if value is None else value.value


def _money(nodes: list[FieldNode], fragments: Mapping[str, FragmentDefinitionNode]) -> Any:
    """A builder over (minor units, currency) pairs."""
    scalars: dict[str, Callable[[Any], Any]] = {
        "amount": lambda pair: str(from_minor(pair[0], pair[1])),
        "currency": lambda pair: pair[1],
    }
    return _object(_steps(subfields(nodes, fragments, "Money"), "Money", scalars, {}))


class OrderCompiler:
    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.needs: set[str] = set()

    def order(self, nodes: list[FieldNode]) -> Build:
        fragments = self.fragments

        def money_of(attribute: str) -> Callable[[list[FieldNode]], Build]:
            def make(money_nodes: list[FieldNode]) -> Build:
                build = _money(money_nodes, fragments)
                return lambda o, c: build((getattr(o, attribute), o.currency), c)

            return make

        scalars: dict[str, Callable[[Any], Any]] = {
            "id": lambda o: ids.encode("Order", o.id),
            "orderNo": lambda o: o.order_no,
            "version": lambda o: o.version,
            "storeId": lambda o: o.store_id,
            "channel": lambda o: o.channel.value,
            "customerId": lambda o: o.customer_id,
            "fulfillmentType": lambda o: o.fulfillment_type.value,
            "mainStatus": lambda o: o.main_status.value,
            "subStatus": lambda o: o.sub_status,
            "allowedTransitions": lambda o: [s.value for s in allowed_transitions(o.main_status)],
            "currency": lambda o: o.currency,
            "remark": lambda o: o.remark,
            "attributes": lambda o: o.attributes,
            "createdAt": lambda o: _iso(o.created_at),
            "updatedAt": lambda o: _iso(o.updated_at),
        }
        composites: dict[str, Callable[[list[FieldNode]], Build]] = {
            "itemsTotal": money_of("items_total"),
            "discountTotal": money_of("discount_total"),
            "deliveryFee": money_of("delivery_fee"),
            "packagingFee": money_of("packaging_fee"),
            "payableTotal": money_of("payable_total"),
            "externalRef": self._external_ref,
            "items": self._items,
            "discounts": self._discounts,
            "statusHistory": self._history,
        }
        return _object(_steps(subfields(nodes, fragments, "Order"), "Order", scalars, composites))

    def _external_ref(self, nodes: list[FieldNode]) -> Build:
        scalars = {
            "platform": lambda o: o.external_platform,
            "orderId": lambda o: o.external_order_id,
        }
        fields = subfields(nodes, self.fragments, "ExternalRef")
        build = _object(_steps(fields, "ExternalRef", scalars, {}))

        def external_ref(o: OrderRecord, c: Children) -> Any:
            if o.external_platform is None or o.external_order_id is None:
                return None
            return build(o, c)

        return external_ref

    def _line_money(self, attribute: str) -> Callable[[list[FieldNode]], Build]:
        """Money of a line (an item or a discount), built from (record, currency)."""

        def make(nodes: list[FieldNode]) -> Build:
            build = _money(nodes, self.fragments)

            def line_money(pair: tuple[Any, str], c: Children) -> Any:
                return build((getattr(pair[0], attribute), pair[1]), c)

            return line_money

        return make

    def _items(self, nodes: list[FieldNode]) -> Build:
        self.needs.add("items")
        scalars: dict[str, Callable[[Any], Any]] = {
            "id": lambda p: ids.encode("OrderItem", p[0].id),
            "skuId": lambda p: p[0].sku_id,
            "name": lambda p: p[0].name,
            "quantity": lambda p: p[0].quantity,
            "attributes": lambda p: p[0].attributes,
        }
        composites = {
            "unitPrice": self._line_money("unit_price"),
            "lineTotal": self._line_money("line_total"),
        }
        fields = subfields(nodes, self.fragments, "OrderItem")
        build = _object(_steps(fields, "OrderItem", scalars, composites))
        return lambda o, c: [build((item, o.currency), c) for item in c.items.get(o.id, ())]

    def _discounts(self, nodes: list[FieldNode]) -> Build:
        self.needs.add("discounts")
        scalars: dict[str, Callable[[Any], Any]] = {
            "id": lambda p: ids.encode("OrderDiscount", p[0].id),
            "kind": lambda p: p[0].kind.value,
            "code": lambda p: p[0].code,
            "description": lambda p: p[0].description,
            "itemId": lambda p: _item_id(p[0].item_id),
            "fundedBy": lambda p: p[0].funded_by,
        }
        composites = {"amount": self._line_money("amount")}
        fields = subfields(nodes, self.fragments, "OrderDiscount")
        build = _object(_steps(fields, "OrderDiscount", scalars, composites))
        return lambda o, c: [build((d, o.currency), c) for d in c.discounts.get(o.id, ())]

    def _history(self, nodes: list[FieldNode]) -> Build:
        self.needs.add("history")
        scalars: dict[str, Callable[[Any], Any]] = {
            "fromMainStatus": lambda h: _enum(h.from_main_status),
            "toMainStatus": lambda h: h.to_main_status.value,
            "fromSubStatus": lambda h: h.from_sub_status,
            "toSubStatus": lambda h: h.to_sub_status,
            "reason": lambda h: h.reason,
            "actor": lambda h: h.actor,
            "occurredAt": lambda h: _iso(h.occurred_at),
            "version": lambda h: h.version,
        }
        fields = subfields(nodes, self.fragments, "StatusChange")
        build = _object(_steps(fields, "StatusChange", scalars, {}))
        # As the resolver does: an order replayed for a retry shows history up to its version.
        return lambda o, c: [build(h, c) for h in c.history.get(o.id, ()) if h.version <= o.version]


def _item_id(number: int | None) -> str | None:
    return None if number is None else ids.encode("OrderItem", number)


# --- Roots -------------------------------------------------------------------------------

Fetch = Callable[[Context, dict[str, Any]], Any]


@dataclass
class Root:
    key: str
    node: FieldNode
    definition: Any
    fetch: Callable[[Context, dict[str, Any]], Any]  # awaitable of records
    shape: Callable[[Any, Children], Any]
    orders_of: Callable[[Any], list[OrderRecord]]


def _nullable(build: Build) -> Build:
    return lambda record, c: None if record is None else build(record, c)


class Plan:
    def __init__(self, roots: list[Root], needs: set[str], schema_query: GraphQLObjectType) -> None:
        self.roots = roots
        self.needs = needs
        self.schema_query = schema_query

    async def run(self, ctx: Context, variables: VariableValues) -> dict[str, Any] | None:
        fetched: list[Any] = []
        for root in self.roots:
            if root.fetch is _TYPENAME:
                fetched.append(None)
                continue
            arguments = get_argument_values(root.definition, root.node, variables)
            try:
                fetched.append(await root.fetch(ctx, arguments))
            except GraphQLError:
                return None
        orders = [
            o for root, got in zip(self.roots, fetched, strict=True) for o in root.orders_of(got)
        ]
        children = await self._children(ctx, orders)
        return {
            root.key: root.shape(got, children)
            for root, got in zip(self.roots, fetched, strict=True)
        }

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


async def _TYPENAME(ctx: Context, arguments: dict[str, Any]) -> None:
    return None


def _no_orders(_: Any) -> list[OrderRecord]:
    return []


def _root(key: str, nodes: list[FieldNode], definition: Any, compiler: OrderCompiler) -> Root:
    node = nodes[0]
    name = node.name.value
    fragments = compiler.fragments
    if name == "__typename":
        return Root(key, node, None, _TYPENAME, lambda _g, _c: "Query", _no_orders)
    if len(nodes) > 1:
        raise Unsupported("a root field selected twice under one key")
    if name == "order":
        build = _nullable(compiler.order(nodes))

        async def one(ctx: Context, a: dict[str, Any]) -> Any:
            return await reads.order_by_number(ctx, reads.order_number(a["id"]))

        return Root(key, node, definition, one, build, lambda got: [got] if got else [])
    if name == "orderByExternalRef":
        build = _nullable(compiler.order(nodes))

        async def by_ref(ctx: Context, a: dict[str, Any]) -> Any:
            return await reads.order_by_external_ref(ctx, a["platform"], a["orderId"])

        return Root(key, node, definition, by_ref, build, lambda got: [got] if got else [])
    if name == "ordersByIds":
        each = _nullable(compiler.order(nodes))

        async def many(ctx: Context, a: dict[str, Any]) -> Any:
            return await reads.orders_by_ids(ctx, a["ids"])

        def shape_many(got: list[Any], c: Children) -> Any:
            return [each(record, c) for record in got]

        return Root(key, node, definition, many, shape_many, lambda got: [g for g in got if g])
    if name == "orders":
        return _connection(key, nodes, definition, compiler, fragments)
    raise Unsupported(f"Query.{name}")


def _connection(
    key: str,
    nodes: list[FieldNode],
    definition: Any,
    compiler: OrderCompiler,
    fragments: Mapping[str, FragmentDefinitionNode],
) -> Root:
    edge_composites: dict[str, Callable[[list[FieldNode]], Build]] = {"node": compiler.order}

    def edges(n: list[FieldNode]) -> Build:
        fields = subfields(n, fragments, "OrderEdge")
        scalars: dict[str, Callable[[Any], Any]] = {"cursor": reads.page_cursor}
        build = _object(_steps(fields, "OrderEdge", scalars, edge_composites))
        return lambda page, c: [build(record, c) for record in page[0]]

    def page_info(n: list[FieldNode]) -> Build:
        fields = subfields(n, fragments, "PageInfo")
        scalars: dict[str, Callable[[Any], Any]] = {
            "hasNextPage": lambda page: page[1],
            "endCursor": lambda page: reads.page_cursor(page[0][-1]) if page[0] else None,
        }
        return _object(_steps(fields, "PageInfo", scalars, {}))

    fields = subfields(nodes, fragments, "OrderConnection")
    build = _object(_steps(fields, "OrderConnection", {}, {"edges": edges, "pageInfo": page_info}))

    async def page(ctx: Context, a: dict[str, Any]) -> Any:
        return await reads.order_page(ctx, _filter(a.get("filter")), a.get("first"), a.get("after"))

    return Root(key, nodes[0], definition, page, build, lambda got: list(got[0]))


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
    compiler = OrderCompiler(fragments)
    try:
        if operation.directives:
            raise Unsupported("directives")
        fields = collect(operation.selection_set.selections, fragments, ("Query",), {}, set())
        roots = [
            _root(key, nodes, query_type.fields.get(nodes[0].name.value), compiler)
            for key, nodes in fields.items()
        ]
    except Unsupported:
        return None
    return Plan(roots, compiler.needs, query_type), operation


class CompiledQueries(SchemaExtension):
    """Answers compilable queries from a cached plan; leaves everything else to the executor."""

    # Shared by every request: plans depend on the document only.
    _plans: ClassVar[OrderedDict[tuple[str, str | None], Any]] = OrderedDict()
    _MAX_PLANS = 1024

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.query is not None and not context.result:
            data = await self._run(context, document)
            if data is not None:
                context.result = GraphQLExecutionResult(data=data, errors=None)
        yield

    async def _run(self, context: Any, document: DocumentNode) -> dict[str, Any] | None:
        key = (context.query, context.operation_name)
        plans = CompiledQueries._plans
        if key in plans:
            plans.move_to_end(key)
            compiled = plans[key]
        else:
            schema = context.schema._schema
            compiled = compile_plan(document, context.operation_name, schema.query_type)
            plans[key] = compiled
            if len(plans) > self._MAX_PLANS:
                plans.popitem(last=False)
        if compiled is None:
            return None
        plan, operation = compiled
        variables = get_variable_values(
            context.schema._schema, operation.variable_definitions or (), context.variables or {}
        )
        if isinstance(variables, list):  # invalid variables: the executor reports them
            return None
        try:
            data: dict[str, Any] | None = await plan.run(context.context, variables)
        except Exception:
            # The executor runs the same reads inside resolvers, where a failure is masked and
            # logged under the request id as usual.
            logger.warning("the compiled plan failed; the executor answers", exc_info=True)
            return None
        return data
