"""Plain domain objects for unit tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from order_graph.domain.model import Channel, FulfillmentType, OrderRecord
from order_graph.domain.status import MainStatus

_BASE = OrderRecord(
    id=1,
    version=1,
    store_id="store-1",
    channel=Channel.APP,
    fulfillment_type=FulfillmentType.PICKUP,
    currency="CNY",
    main_status=MainStatus.CREATED,
    sub_status=None,
    items_total=10_000,
    discount_total=0,
    delivery_fee=500,
    packaging_fee=200,
    payable_total=10_700,
    external_platform=None,
    external_order_id=None,
    customer_id=None,
    remark=None,
    attributes={"table": "7"},
    created_at=datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
    updated_at=datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
    created_by="tests",
)


def an_order(**changes: Any) -> OrderRecord:
    return replace(_BASE, **changes)
