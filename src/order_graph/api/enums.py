"""Registers the domain's enums with GraphQL under the contract's names.

The classes stay the domain's own, so resolvers return domain values unchanged.
"""

from __future__ import annotations

import strawberry

from order_graph.domain.errors import ErrorCode as OrderErrorCode
from order_graph.domain.model import Channel, DiscountKind, FulfillmentType
from order_graph.domain.model import EventType as OrderEventType
from order_graph.domain.status import MainStatus

strawberry.enum(
    MainStatus,
    description="The service-owned lifecycle. Transitions between main statuses are enforced "
    "by the service.",
)
strawberry.enum(Channel, description="Where the order was placed.")
strawberry.enum(FulfillmentType)
strawberry.enum(
    DiscountKind,
    description="What produced a stored discount result. The service stores results; it never "
    "computes discounts.",
)
strawberry.enum(
    OrderEventType,
    name="OrderEventType",
    description="What a change did. Consumers must ignore values they do not know: the list "
    "grows. ITEMS_CHANGED: items edited or cancelled (see Order.changes); when it cancelled "
    "every remaining unit, its mainStatus is CANCELLED.",
)
strawberry.enum(OrderErrorCode, name="OrderErrorCode")

__all__ = [
    "Channel",
    "DiscountKind",
    "FulfillmentType",
    "MainStatus",
    "OrderErrorCode",
    "OrderEventType",
]
