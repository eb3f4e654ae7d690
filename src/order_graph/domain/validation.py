"""Turns raw commands into validated drafts, collecting every problem with its field path."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from order_graph.domain import limits
from order_graph.domain.errors import ErrorCode, OrderError, Path, Rejected, validation
from order_graph.domain.model import (
    CreateOrder,
    DiscountDraft,
    DiscountInput,
    ItemDraft,
    ItemInput,
    OrderDraft,
    Totals,
)
from order_graph.domain.money import EXPONENTS, MAX_MINOR_UNITS, MoneyError, to_minor
from order_graph.domain.status import INITIAL_STATUSES, MainStatus

INPUT: Path = ("input",)


class Checker:
    """Collects problems so a caller learns about all of them in one round trip."""

    def __init__(self) -> None:
        self.errors: list[OrderError] = []

    def fail(self, message: str, path: Path) -> None:
        self.errors.append(validation(message, path))

    def raise_if_any(self) -> None:
        if self.errors:
            raise Rejected(self.errors)

    def money(self, amount: Decimal | None, currency: str, path: Path) -> int:
        """Minor units of `amount`; an unknown currency is reported once, by the caller."""
        if amount is None or currency not in EXPONENTS:
            return 0
        try:
            return to_minor(amount, currency)
        except MoneyError as exc:
            self.fail(str(exc), path)
            return 0

    def text(self, value: str | None, path: Path, max_length: int, required: bool = False) -> None:
        if value is None:
            return
        if required and not value.strip():
            self.fail("Must not be empty.", path)
        elif len(value) > max_length:
            self.fail(f"At most {max_length} characters.", path)

    def json_object(self, value: Any, path: Path) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail("Must be a JSON object.", path)
            return {}
        if json_depth(value) > limits.MAX_ATTRIBUTES_DEPTH:
            self.fail(f"At most {limits.MAX_ATTRIBUTES_DEPTH} levels of nesting.", path)
            return {}
        if len(json.dumps(value, separators=(",", ":"))) > limits.MAX_ATTRIBUTES_BYTES:
            self.fail(f"At most {limits.MAX_ATTRIBUTES_BYTES} bytes of JSON.", path)
        return value


def json_depth(value: object) -> int:
    """How deeply objects and arrays nest in a JSON value (a flat object is 1); iterative."""
    deepest = 0
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return deepest


def validate_create(command: CreateOrder, sub_status_known: bool) -> OrderDraft:
    check = Checker()
    currency = command.currency
    if currency not in EXPONENTS:
        check.fail(f"Unknown currency {currency!r}: use an ISO 4217 code.", (*INPUT, "currency"))

    check.text(command.store_id, (*INPUT, "storeId"), limits.MAX_ID_LENGTH, required=True)
    check.text(command.customer_id, (*INPUT, "customerId"), limits.MAX_ID_LENGTH)
    check.text(command.remark, (*INPUT, "remark"), limits.MAX_TEXT_LENGTH)
    if command.external_platform is not None:
        path = (*INPUT, "externalRef")
        check.text(command.external_platform, (*path, "platform"), limits.MAX_ID_LENGTH, True)
        check.text(command.external_order_id, (*path, "orderId"), limits.MAX_ID_LENGTH, True)
    attributes = check.json_object(command.attributes, (*INPUT, "attributes"))

    items = _items(check, command, currency)
    delivery_fee = check.money(command.delivery_fee, currency, (*INPUT, "deliveryFee"))
    packaging_fee = check.money(command.packaging_fee, currency, (*INPUT, "packagingFee"))
    discounts = validate_discounts(
        check, command.discounts, items, currency, delivery_fee + packaging_fee, INPUT
    )

    status = command.initial_status or MainStatus.CREATED
    if status not in INITIAL_STATUSES:
        check.fail("An order starts as CREATED or PAID.", (*INPUT, "initialStatus"))
    if command.sub_status is not None and not sub_status_known:
        check.errors.append(unknown_sub_status(command.sub_status, status, (*INPUT, "subStatus")))

    totals = Totals(
        items_total=sum(item.line_total for item in items),
        discount_total=sum(d.amount for d in discounts),
        delivery_fee=delivery_fee,
        packaging_fee=packaging_fee,
    )
    if command.expected_payable_total is not None and not check.errors:
        expected = check.money(
            command.expected_payable_total, currency, (*INPUT, "expectedPayableTotal")
        )
        if expected != totals.payable_total and not check.errors:
            check.fail(
                "Does not match the computed payableTotal.", (*INPUT, "expectedPayableTotal")
            )
    check.raise_if_any()
    return OrderDraft(
        store_id=command.store_id,
        channel=command.channel,
        fulfillment_type=command.fulfillment_type,
        currency=currency,
        items=tuple(items),
        discounts=tuple(discounts),
        totals=totals,
        main_status=status,
        sub_status=command.sub_status,
        external_platform=command.external_platform,
        external_order_id=command.external_order_id,
        customer_id=command.customer_id,
        remark=command.remark,
        attributes=attributes,
    )


def _items(check: Checker, command: CreateOrder, currency: str) -> list[ItemDraft]:
    path = (*INPUT, "items")
    if not command.items:
        check.fail("An order needs at least one item.", path)
    return validate_items(check, command.items, currency, path)


def validate_items(
    check: Checker, items: Sequence[ItemInput], currency: str, path: Path
) -> list[ItemDraft]:
    if len(items) > limits.MAX_ITEMS:
        check.fail(f"At most {limits.MAX_ITEMS} items.", path)
        return []
    drafts = []
    for index, item in enumerate(items):
        at = (*path, str(index))
        check.text(item.sku_id, (*at, "skuId"), limits.MAX_ID_LENGTH, required=True)
        check.text(item.name, (*at, "name"), limits.MAX_NAME_LENGTH, required=True)
        if not 1 <= item.quantity <= limits.MAX_QUANTITY:
            check.fail(f"Quantity must be from 1 to {limits.MAX_QUANTITY}.", (*at, "quantity"))
        price = check.money(item.unit_price, currency, (*at, "unitPrice"))
        attributes = check.json_object(item.attributes, (*at, "attributes"))
        draft = ItemDraft(item.sku_id, item.name, item.quantity, price, attributes)
        if draft.line_total > MAX_MINOR_UNITS:
            check.fail("The line total is too large.", (*at, "quantity"))
        drafts.append(draft)
    if sum(draft.line_total for draft in drafts) > MAX_MINOR_UNITS:
        check.fail("The items total is too large.", path)
    return drafts


def validate_discounts(
    check: Checker,
    discounts: Sequence[DiscountInput],
    items: Sequence[ItemDraft],
    currency: str,
    fees: int,
    prefix: Path,
) -> list[DiscountDraft]:
    path = (*prefix, "discounts")
    if len(discounts) > limits.MAX_DISCOUNTS:
        check.fail(f"At most {limits.MAX_DISCOUNTS} discounts.", path)
        return []
    drafts = []
    per_item: dict[int, int] = {}
    for index, discount in enumerate(discounts):
        at = (*path, str(index))
        amount = check.money(discount.amount, currency, (*at, "amount"))
        check.text(discount.code, (*at, "code"), limits.MAX_ID_LENGTH)
        check.text(discount.description, (*at, "description"), limits.MAX_TEXT_LENGTH)
        check.text(discount.funded_by, (*at, "fundedBy"), limits.MAX_ID_LENGTH)
        target = discount.item_index
        if target is not None:
            if not 0 <= target < len(items):
                check.fail(f"No item at index {target}.", (*at, "itemIndex"))
            else:
                per_item[target] = per_item.get(target, 0) + amount
                if per_item[target] > items[target].line_total:
                    check.fail("Item discounts exceed the item's line total.", (*at, "amount"))
        drafts.append(
            DiscountDraft(
                discount.kind,
                amount,
                discount.code,
                discount.description,
                target,
                discount.funded_by,
            )
        )
    total = sum(d.amount for d in drafts)
    if total > sum(item.line_total for item in items) + fees:
        check.fail("Discounts exceed the payable amount.", path)
    return drafts


def unknown_sub_status(code: str, status: MainStatus, path: Path) -> OrderError:
    return OrderError(
        ErrorCode.UNKNOWN_SUB_STATUS, f"Sub-status {code!r} is not registered for {status}.", path
    )
