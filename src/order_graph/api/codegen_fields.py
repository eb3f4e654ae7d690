"""The expressions the generated builders (codegen.py) are made of, and what they call: per
GraphQL field, how to read it from a row of storage/fast_reads.py's layout."""

from __future__ import annotations

import binascii
import functools
import re
from datetime import datetime
from typing import Any

from order_graph.domain.changes import ChangeKind
from order_graph.domain.model import Channel, DiscountKind, FulfillmentType
from order_graph.domain.money import format_minor
from order_graph.domain.status import MainStatus, allowed_transitions
from order_graph.storage import fast_reads

# The generated code reads rows by position (storage/fast_reads.py gives the layout): the
# expressions below name columns, `at` turns them into indexes.
_ORDER = {name: n for n, name in enumerate(fast_reads.ORDER_COLUMNS)}
LIST_AT = {name: len(_ORDER) + n for n, name in enumerate(fast_reads.LISTS)}
_LAYOUTS = {
    "o": fast_reads.ORDER_COLUMNS,
    "i": fast_reads.ITEM_COLUMNS,
    "d": fast_reads.DISCOUNT_COLUMNS,
    "h": fast_reads.HISTORY_COLUMNS,
    "x": fast_reads.CHANGE_COLUMNS,
}


def at(expression: str) -> str:
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
    type_name: {name: at(expression) for name, expression in fields.items()}
    for type_name, fields in _SCALARS.items()
}
# Money fields: field name -> (minor units, currency) expressions.
MONEY: dict[str, dict[str, tuple[str, str]]] = {
    "Order": {
        name: (at(f"o.{column}"), at("o.currency"))
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
        "unitPrice": (at("i.unit_price"), "cur"),
        "lineTotal": (at("i.line_total"), "cur"),
    },
    "OrderDiscount": {"amount": (at("d.amount"), "cur")},
    "OrderChangeLine": {"unitPrice": (at("ln.unit_price"), "cur")},
    "OrderChangeDiscount": {"amount": (at("g.amount"), "cur")},
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
CURRENCY = at("o.currency")
VERSION = at("o.version")


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


# What the generated code calls, by the names the expressions above use.
NAMESPACE: dict[str, Any] = {
    "enc": encode_id,
    "fmt": formatted,
    "allowed": ALLOWED,
    "order_no": order_no,
    **ENUMS,
}
