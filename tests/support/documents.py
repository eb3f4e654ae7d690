"""Operations the real-client tests send, written as a client team would write them."""

from __future__ import annotations

from tests.conftest import FRAGMENTS

SKINNY = """
subscription Follow($filter: OrderEventFilter, $after: String, $fromStart: Boolean) {
  orderEvents(filter: $filter, after: $after, fromStart: $fromStart) {
    cursor type orderId storeId version mainStatus subStatus previousMainStatus actor occurredAt
  }
}"""

FAT = (
    FRAGMENTS
    + """
subscription Follow($filter: OrderEventFilter, $after: String, $fromStart: Boolean) {
  orderEvents(filter: $filter, after: $after, fromStart: $fromStart) {
    cursor type version order { ...OrderFull }
  }
}"""
)

TIERS = (
    FRAGMENTS
    + """
query Tiers($id: ID!) {
  summary: order(id: $id) { ...OrderSummary }
  standard: order(id: $id) { ...OrderStandard }
  full: order(id: $id) { ...OrderFull }
}"""
)
