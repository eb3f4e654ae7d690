"""Compiled mutations: `createOrder`, `transitionOrder`, `setSubStatus` and `updateOrder`
documents, compiled once per document into a plan that coerces the arguments, calls the
service through the resolvers' own calls (mutation_calls.py: the same validation, refusals
and visibility) and builds the payload with the compiled query builders (codegen.py) from
what the write returned. A created order's lists are what its transaction wrote; a changed
order's lists are read after the commit in one statement, as the resolvers' loaders would.

A plan covers a mutation operation with one root field of those, any selection over its
payload, `Order` included, and no directives; anything else is not compiled, and the
standard executor answers. A plan never gives a request back once the service is called
(a mutation must not run twice): before that it may (invalid variables)."""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLField,
    GraphQLObjectType,
    OperationDefinitionNode,
    OperationType,
)
from graphql.execution.values import VariableValues, get_argument_values

from order_graph.api import mutation_calls as calls
from order_graph.api.codegen import (
    Build,
    Emitter,
    Unsupported,
    chosen_operation,
    collect,
    subfields,
)
from order_graph.api.context import Context
from order_graph.domain import model
from order_graph.domain.errors import OrderError
from order_graph.domain.lifecycle import KEEP
from order_graph.storage import fast_reads

Call = Callable[[Context, Mapping[str, Any]], Awaitable[calls.Outcome]]


async def _create(ctx: Context, a: Mapping[str, Any]) -> calls.Outcome:
    return await calls.create(ctx, create_command(a["input"]), a.get("idempotencyKey"))


async def _transition(ctx: Context, a: Mapping[str, Any]) -> calls.Outcome:
    i = a["input"]
    return await calls.transition(
        ctx, i["orderId"], i["to"], i.get("subStatus"), i.get("reason"),
        i.get("expectedVersion"), a.get("idempotencyKey"),
    )  # fmt: skip


async def _sub_status(ctx: Context, a: Mapping[str, Any]) -> calls.Outcome:
    i = a["input"]
    return await calls.set_sub_status(
        ctx, i["orderId"], i.get("subStatus"), i.get("reason"), i.get("expectedVersion")
    )


async def _update(ctx: Context, a: Mapping[str, Any]) -> calls.Outcome:
    i = a["input"]
    # graphql-core leaves out a remark the caller did not give (it has no default).
    remark = i.get("remark", KEEP)
    return await calls.update_order(
        ctx, i["orderId"], remark, i.get("attributes"), i.get("expectedVersion")
    )


# Root field -> (its payload type, the call).
ROOTS: dict[str, tuple[str, Call]] = {
    "createOrder": ("CreateOrderPayload", _create),
    "transitionOrder": ("OrderPayload", _transition),
    "setSubStatus": ("OrderPayload", _sub_status),
    "updateOrder": ("OrderPayload", _update),
}


def create_command(i: Mapping[str, Any]) -> model.CreateOrder:
    """`CreateOrderInput.command()`, from graphql-core's coerced input (keyed by GraphQL
    names, enums and decimals already parsed), without strawberry's conversion."""
    external = i.get("externalRef")
    customer = i.get("customerId")
    return model.CreateOrder(
        store_id=str(i["storeId"]),
        channel=i["channel"],
        fulfillment_type=i["fulfillmentType"],
        currency=i["currency"],
        items=tuple(
            model.ItemInput(
                str(x["skuId"]), x["name"], x["quantity"], x["unitPrice"], x.get("attributes")
            )
            for x in i["items"]
        ),
        external_platform=external["platform"] if external else None,
        external_order_id=external["orderId"] if external else None,
        customer_id=None if customer is None else str(customer),
        discounts=tuple(_discount(d) for d in i.get("discounts") or ()),
        delivery_fee=i.get("deliveryFee"),
        packaging_fee=i.get("packagingFee"),
        initial_status=i.get("initialStatus"),
        sub_status=i.get("subStatus"),
        remark=i.get("remark"),
        attributes=i.get("attributes"),
        expected_payable_total=i.get("expectedPayableTotal"),
    )


def _discount(d: Mapping[str, Any]) -> model.DiscountInput:
    return model.DiscountInput(
        d["kind"], d["amount"], d.get("code"), d.get("description"), d.get("itemIndex"),
        d.get("fundedBy"),
    )  # fmt: skip


# --- Payloads -----------------------------------------------------------------------------

_ERROR_FIELDS: dict[str, Callable[[OrderError], Any]] = {
    "__typename": lambda e: "OrderError",
    "code": lambda e: e.code.value,
    "message": lambda e: e.message,
    "field": lambda e: list(e.field) if e.field else None,
    "currentVersion": lambda e: e.current_version,
    "allowedTransitions": lambda e: (
        None if e.allowed_transitions is None else [s.value for s in e.allowed_transitions]
    ),
}


def _error_builder(fields: dict[str, list[FieldNode]]) -> Callable[[OrderError], Any]:
    getters = []
    for key, nodes in fields.items():
        name = nodes[0].name.value
        if name not in _ERROR_FIELDS:
            raise Unsupported(f"OrderError.{name}")
        getters.append((key, _ERROR_FIELDS[name]))
    return lambda error: {key: get(error) for key, get in getters}


_order_columns = operator.attrgetter(*fast_reads.ORDER_COLUMNS)
_LIST_COLUMNS = {
    name: operator.attrgetter(*fast_reads.LIST_COLUMNS[name]) for name in ("items", "discounts")
}
_history_columns = operator.attrgetter(*fast_reads.HISTORY_COLUMNS)
_LISTED_AT = len(fast_reads.ORDER_COLUMNS)


@dataclass
class MutationPlan:
    key: str
    node: FieldNode
    definition: GraphQLField
    call: Call
    payload_type: str
    # (response key, what it is: order | errors | created | typename, its builder's name)
    entries: list[tuple[str, str, str]] = field(default_factory=list)
    errors: dict[str, Callable[[OrderError], Any]] = field(default_factory=dict)
    builds: dict[str, Build] = field(default_factory=dict)
    wanted: fast_reads.Wanted = frozenset()

    async def run(self, ctx: Context, variables: VariableValues) -> dict[str, Any]:
        arguments = get_argument_values(self.definition, self.node, variables)
        outcome = await self.call(ctx, arguments)
        row = None if outcome.order is None else await self._row(ctx, outcome)
        shaped: dict[str, Any] = {}
        for key, kind, builder in self.entries:
            if kind == "order":
                shaped[key] = None if row is None else self.builds[builder](row)
            elif kind == "errors":
                shaped[key] = [self.errors[key](error) for error in outcome.errors]
            elif kind == "created":
                shaped[key] = outcome.created
            else:
                shaped[key] = self.payload_type
        return {self.key: shaped}

    async def _row(self, ctx: Context, outcome: calls.Outcome) -> tuple[Any, ...]:
        """The order in the builders' layout: its columns as the write returned them, its
        lists as written (a create), else read after the commit."""
        order = outcome.order
        assert order is not None
        stored = outcome.stored
        lists: list[Any] = [None, None, None, None]
        if stored is not None and stored.order.id == order.id:
            lists = [
                [_LIST_COLUMNS["items"](item) for item in stored.items],
                [_LIST_COLUMNS["discounts"](d) for d in stored.discounts],
                [_history_columns(h) for h in stored.history],
                [],
            ]
        elif self.wanted:
            async with ctx.db.snapshot(1) as found:
                read = (await found.by_ids((order.id,), self.wanted)).get(order.id)
            if read is not None:
                lists = list(read[_LISTED_AT:])
        return (*_order_columns(order), *lists)


def compile_mutation(
    document: DocumentNode, operation_name: str | None, mutation_type: GraphQLObjectType
) -> tuple[MutationPlan, OperationDefinitionNode] | None:
    found = chosen_operation(document, operation_name, OperationType.MUTATION)
    if found is None:
        return None
    operation, fragments = found
    try:
        if operation.directives:
            raise Unsupported("directives")
        plan = _plan(operation, fragments, mutation_type)
    except Unsupported:
        return None
    return plan, operation


def _plan(
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    mutation_type: GraphQLObjectType,
) -> MutationPlan:
    roots = collect(operation.selection_set.selections, fragments, ("Mutation",), {}, set())
    if len(roots) != 1:
        raise Unsupported("one root field")
    [(key, nodes)] = roots.items()
    name = nodes[0].name.value
    if name not in ROOTS or len(nodes) > 1:
        raise Unsupported(f"Mutation.{name}")
    payload_type, call = ROOTS[name]
    plan = MutationPlan(key, nodes[0], mutation_type.fields[name], call, payload_type)
    emit = Emitter(fragments)
    for entry, entry_nodes in subfields(nodes, fragments, payload_type).items():
        field_name = entry_nodes[0].name.value
        if field_name == "order":
            plan.entries.append((entry, "order", emit.function("Order", entry_nodes)))
        elif field_name == "errors":
            error_fields = subfields(entry_nodes, fragments, "OrderError")
            plan.errors[entry] = _error_builder(error_fields)
            plan.entries.append((entry, "errors", ""))
        elif field_name == "created" and payload_type == "CreateOrderPayload":
            plan.entries.append((entry, "created", ""))
        elif field_name == "__typename":
            plan.entries.append((entry, "typename", ""))
        else:
            raise Unsupported(f"{payload_type}.{field_name}")
    plan.wanted = frozenset(emit.needs)
    plan.builds = emit.compile()
    return plan
