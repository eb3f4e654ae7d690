"""Compiling a selection over orders into Python source: GraphQL's field collection, then one
generated function per selection set that builds its response dict in a single expression.

A field so costs a dict slot, not a resolver call. Only GraphQL names (checked by validation)
and the fixed expressions below reach the generated source; response keys go in with repr().
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionNode,
)

from order_graph.api import ids, reads
from order_graph.domain.money import format_minor
from order_graph.domain.status import MainStatus, allowed_transitions

Fields = dict[str, list[FieldNode]]
Build = Callable[..., Any]


class Unsupported(Exception):
    """The document uses something the compiler does not handle: the executor answers."""


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


# --- Code generation ----------------------------------------------------------------------

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
        "cancelledQuantity": "i.cancelled_quantity",
        "activeQuantity": "(i.quantity - i.cancelled_quantity)",
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
    "OrderChange": {
        "kind": "x.kind.value",
        "version": "x.version",
        "reason": "x.reason",
        "actor": "x.actor",
        "occurredAt": "x.occurred_at.isoformat()",
    },
    "OrderChangeLine": {
        "itemId": "enc('OrderItem', ln.item_id)",
        "skuId": "ln.sku_id",
        "name": "ln.name",
        "quantityBefore": "ln.quantity_before",
        "quantityAfter": "ln.quantity_after",
        "cancelledQuantity": "ln.cancelled_quantity",
    },
    "OrderChangeDiscount": {
        "kind": "g.kind.value",
        "code": "g.code",
        "description": "g.description",
        "itemId": "(None if g.item_id is None else enc('OrderItem', g.item_id))",
        "fundedBy": "g.funded_by",
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
            ("refundedTotal", "refunded_total"),
        )
    },
    "OrderItem": {"unitPrice": ("i.unit_price", "cur"), "lineTotal": ("i.line_total", "cur")},
    "OrderDiscount": {"amount": ("d.amount", "cur")},
    "OrderChangeLine": {"unitPrice": ("ln.unit_price", "cur")},
    "OrderChangeDiscount": {"amount": ("g.amount", "cur")},
}
# Function signatures per type: the record variable, and the currency where lines need it.
SIGNATURES = {
    "Order": "o, c",
    "OrderItem": "i, cur, c",
    "OrderDiscount": "d, cur, c",
    "StatusChange": "h, c",
    "OrderChange": "x, cur, c",
    "OrderChangeLine": "ln, cur, c",
    "OrderChangeDiscount": "g, cur, c",
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
        if composite == ("Order", "changes"):
            self.needs.add("changes")
            change = self.function("OrderChange", nodes)
            return (
                f"[{change}(x, o.currency, c) for x in c.changes.get(o.id, ()) "
                "if x.version <= o.version]"
            )
        if composite == ("OrderChange", "lines"):
            return f"[{self.function('OrderChangeLine', nodes)}(ln, cur, c) for ln in x.lines]"
        if composite == ("OrderChange", "discounts"):
            discount = self.function("OrderChangeDiscount", nodes)
            given = f"[{discount}(g, cur, c) for g in x.discounts]"
            return f"(None if x.discounts is None else {given})"
        if composite == ("OrderChange", "refundAmount"):
            refund = self._money(nodes, "x.refund_amount", "cur")
            return f"(None if x.refund_amount is None else {refund})"
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
