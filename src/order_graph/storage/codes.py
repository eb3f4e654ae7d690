"""Stored text codes back to the domain's enums, by dictionary look-up.

Calling an Enum class per row costs more than the rest of the row; these maps do not.
"""

from __future__ import annotations

from order_graph.domain.changes import ChangeKind
from order_graph.domain.model import Channel, DiscountKind, EventType, FulfillmentType
from order_graph.domain.status import MainStatus

CHANNEL = {member.value: member for member in Channel}
FULFILLMENT_TYPE = {member.value: member for member in FulfillmentType}
CHANGE_KIND = {member.value: member for member in ChangeKind}
DISCOUNT_KIND = {member.value: member for member in DiscountKind}
EVENT_TYPE = {member.value: member for member in EventType}
MAIN_STATUS = {member.value: member for member in MainStatus}
# For nullable columns (a first status change has no `from`).
MAIN_STATUS_OR_NONE: dict[str | None, MainStatus | None] = {None: None}
MAIN_STATUS_OR_NONE.update(MAIN_STATUS)
