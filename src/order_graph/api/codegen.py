"""Compiling a selection over orders into Python source: GraphQL's field collection, then one
generated function per selection set that builds its response dict in a single expression.

A field so costs a dict slot, not a resolver call. Only GraphQL names (checked by validation)
and the fixed expressions below reach the generated source; response keys go in with repr().
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionNode,
)

from order_graph.domain.changes import ChangeKind
from order_graph.domain.model import Channel, DiscountKind, FulfillmentType
from order_graph.domain.money import format_minor
from order_graph.domain.status import MainStatus, allowed_transitions
from order_graph.storage import fast_reads

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

# The generated code reads rows by position (storage/fast_reads.py gives the layout): the
# expressions below name columns, `_at` turns them into indexes.
_ORDER = {name: n for n, name in enumerate(fast_reads.ORDER_COLUMNS)}
_LIST_AT = {name: len(_ORDER) + n for n, name in enumerate(fast_reads.LISTS)}
_LAYOUTS = {
    "o": fast_reads.ORDER_COLUMNS,
    "i": fast_reads.ITEM_COLUMNS,
    "d": fast_reads.DISCOUNT_COLUMNS,
    "h": fast_reads.HISTORY_COLUMNS,
    "x": fast_reads.CHANGE_COLUMNS,
}


def _at(expression: str) -> str:
    """`o.store_id` -> `o[2]`, for each row variable of _LAYOUTS; change lines and their
    discounts are JSON objects: `ln.sku_id` -> `ln['sku_id']`."""

    def column(match: re.Match[str]) -> str:
        variable, name = match.group(1), match.group(2)
        if variable in ("ln", "g"):
            return f"{variable}[{name!r}]"
        return f"{variable}[{_LAYOUTS[variable].index(name)}]"

    return re.sub(r"\b(o|i|d|h|x|ln|g)\.([a-z_]+)\b", column, expression)


# Per type: field name -> expression over the row variable (see SIGNATURES).
_SCALARS: dict[str, dict[str, str]] = {
    "Order": {
        "id": "enc('Order', o.id)",
        "orderNo": "order_no(o.created_at, o.id)",
        "version": "o.version",
        "storeId": "o.store_id",
        "channel": "CHANNEL[o.channel]",
        "customerId": "o.customer_id",
        "fulfillmentType": "FULFILLMENT[o.fulfillment_type]",
        "mainStatus": "STATUS[o.main_status]",
        "subStatus": "o.sub_status",
        "allowedTransitions": "allowed[o.main_status]",
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
        "kind": "DISCOUNT[d.kind]",
        "code": "d.code",
        "description": "d.description",
        "itemId": "(None if d.item_id is None else enc('OrderItem', d.item_id))",
        "fundedBy": "d.funded_by",
    },
    "StatusChange": {
        "fromMainStatus": "STATUS_OR_NONE[h.from_main_status]",
        "toMainStatus": "STATUS[h.to_main_status]",
        "fromSubStatus": "h.from_sub_status",
        "toSubStatus": "h.to_sub_status",
        "reason": "h.reason",
        "actor": "h.actor",
        "occurredAt": "h.occurred_at.isoformat()",
        "version": "h.version",
    },
    "OrderChange": {
        "kind": "CHANGE[x.kind]",
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
        "kind": "DISCOUNT[g.kind]",
        "code": "g.code",
        "description": "g.description",
        "itemId": "(None if g.item_id is None else enc('OrderItem', g.item_id))",
        "fundedBy": "g.funded_by",
    },
    "ExternalRef": {"platform": "o.external_platform", "orderId": "o.external_order_id"},
    "OrderEdge": {"cursor": "enc('OrderCursor', r[0])"},
    "PageInfo": {
        "hasNextPage": "p[1]",
        "endCursor": "(enc('OrderCursor', p[0][-1][0]) if p[0] else None)",
    },
}
SCALARS = {
    type_name: {name: _at(expression) for name, expression in fields.items()}
    for type_name, fields in _SCALARS.items()
}
# Money fields: field name -> (minor units, currency) expressions.
MONEY: dict[str, dict[str, tuple[str, str]]] = {
    "Order": {
        name: (_at(f"o.{column}"), _at("o.currency"))
        for name, column in (
            ("itemsTotal", "items_total"),
            ("discountTotal", "discount_total"),
            ("deliveryFee", "delivery_fee"),
            ("packagingFee", "packaging_fee"),
            ("payableTotal", "payable_total"),
            ("refundedTotal", "refunded_total"),
        )
    },
    "OrderItem": {
        "unitPrice": (_at("i.unit_price"), "cur"),
        "lineTotal": (_at("i.line_total"), "cur"),
    },
    "OrderDiscount": {"amount": (_at("d.amount"), "cur")},
    "OrderChangeLine": {"unitPrice": (_at("ln.unit_price"), "cur")},
    "OrderChangeDiscount": {"amount": (_at("g.amount"), "cur")},
}
# Function signatures per type: the row variable, and the currency where lines need it.
SIGNATURES = {
    "Order": "o",
    "OrderItem": "i, cur",
    "OrderDiscount": "d, cur",
    "StatusChange": "h",
    "OrderChange": "x, cur",
    "OrderChangeLine": "ln, cur",
    "OrderChangeDiscount": "g, cur",
    "OrderEdge": "r",
    "OrderConnection": "p",
}
_CURRENCY = _at("o.currency")
_VERSION = _at("o.version")


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
            platform, order_id = _at("o.external_platform"), _at("o.external_order_id")
            return f"(None if {platform} is None or {order_id} is None else {ref})"
        if composite == ("Order", "items"):
            self.needs.add("items")
            item = self.function("OrderItem", nodes)
            return f"[{item}(i, {_CURRENCY}) for i in o[{_LIST_AT['items']}]]"
        if composite == ("Order", "discounts"):
            self.needs.add("discounts")
            discount = self.function("OrderDiscount", nodes)
            return f"[{discount}(d, {_CURRENCY}) for d in o[{_LIST_AT['discounts']}]]"
        if composite == ("Order", "statusHistory"):
            # As the resolver does: an order replayed for a retry shows history to its version.
            self.needs.add("history")
            change = self.function("StatusChange", nodes)
            version = _at("h.version")
            history = f"o[{_LIST_AT['history']}]"
            return f"[{change}(h) for h in {history} if {version} <= {_VERSION}]"
        if composite == ("Order", "changes"):
            self.needs.add("changes")
            change = self.function("OrderChange", nodes)
            version = _at("x.version")
            changes = f"o[{_LIST_AT['changes']}]"
            return f"[{change}(x, {_CURRENCY}) for x in {changes} if {version} <= {_VERSION}]"
        if composite == ("OrderChange", "lines"):
            line = self.function("OrderChangeLine", nodes)
            return f"[{line}(ln, cur) for ln in {_at('x.lines')}]"
        if composite == ("OrderChange", "discounts"):
            discount = self.function("OrderChangeDiscount", nodes)
            given = _at("x.discounts")
            return f"(None if {given} is None else [{discount}(g, cur) for g in {given}])"
        if composite == ("OrderChange", "refundAmount"):
            amount = _at("x.refund_amount")
            refund = self._money(nodes, amount, "cur")
            return f"(None if {amount} is None else {refund})"
        if composite == ("OrderEdge", "node"):
            return f"{self.function('Order', nodes)}(r)"
        if composite == ("OrderConnection", "edges"):
            return f"[{self.function('OrderEdge', nodes)}(r) for r in p[0]]"
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
            "enc": encode_id,
            "fmt": formatted,
            "allowed": ALLOWED,
            **ENUMS,
            "order_no": order_no,
        }
        exec(compile("\n".join(self.sources), "<compiled query>", "exec"), namespace)
        return {name: namespace[name] for name in namespace if name.startswith("build_")}


# Stored codes, each to itself: an unknown one (a row no code path could write) raises, and
# the standard executor answers (and reports the crash), as it would for any other read.
ENUMS: dict[str, dict[str | None, str | None]] = {
    "CHANNEL": {m.value: m.value for m in Channel},
    "FULFILLMENT": {m.value: m.value for m in FulfillmentType},
    "STATUS": {m.value: m.value for m in MainStatus},
    "STATUS_OR_NONE": {None: None, **{m.value: m.value for m in MainStatus}},
    "DISCOUNT": {m.value: m.value for m in DiscountKind},
    "CHANGE": {m.value: m.value for m in ChangeKind},
}
# By stored status: tuples, shared by every response (orjson writes them as lists).
ALLOWED = {
    status.value: tuple(target.value for target in allowed_transitions(status))
    for status in MainStatus
}


# Amounts repeat (prices, fees, common totals): a cached one costs a dict look-up, a formatted
# one a microsecond, which on a page of 50 full orders was a sixth of the request.
formatted = functools.lru_cache(maxsize=16_384)(format_minor)
_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def encode_id(kind: str, number: int) -> str:
    """`ids.encode`, in fewer steps."""
    raw = binascii.b2a_base64(f"{kind}:{number}".encode(), newline=False)
    return raw.translate(_URL_SAFE, b"=").decode()


def order_no(created_at: datetime, number: int) -> str:
    """`OrderRecord.order_no`, without strftime."""
    return f"{created_at.year:04d}{created_at.month:02d}{created_at.day:02d}{number:08d}"
