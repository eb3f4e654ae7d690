"""Bounds on what one order may hold, so no caller can store an unbounded document."""

from __future__ import annotations

MAX_ITEMS = 500
MAX_DISCOUNTS = 100
MAX_QUANTITY = 100_000
MAX_ID_LENGTH = 128
MAX_NAME_LENGTH = 500
MAX_TEXT_LENGTH = 2_000
MAX_ATTRIBUTES_BYTES = 64 * 1024
# JSON nested deeper than this would be stored fine but break readers: JSON encoders stop at a
# recursion limit (orjson's is 254), so one deep document would fail every page it is on.
MAX_ATTRIBUTES_DEPTH = 32
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_ITEM_CHANGES = 100  # changeItems and cancelItems records per order
