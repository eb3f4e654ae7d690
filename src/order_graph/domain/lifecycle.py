"""The rules for changing an existing order. Each function either returns the change or raises."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Final

from order_graph.domain import limits
from order_graph.domain.errors import ErrorCode, OrderError, Rejected
from order_graph.domain.model import (
    Change,
    DiscountDraft,
    DiscountInput,
    EventType,
    ItemDraft,
    ItemRecord,
    OrderRecord,
)
from order_graph.domain.status import MainStatus, allowed_transitions, can_move
from order_graph.domain.validation import INPUT, Checker, unknown_sub_status, validate_discounts


class _Keep:
    """Marks an optional field the caller did not send (as opposed to sending null)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


def version_conflict(order: OrderRecord, expected: int | None) -> OrderError | None:
    if expected is None or expected == order.version:
        return None
    return OrderError(
        ErrorCode.VERSION_CONFLICT,
        f"The order is at version {order.version}, not {expected}.",
        (*INPUT, "expectedVersion"),
        current_version=order.version,
    )


def transition(
    order: OrderRecord, to: MainStatus, sub_status: str | None, known: Collection[str]
) -> Change:
    if not can_move(order.main_status, to):
        allowed = allowed_transitions(order.main_status)
        raise Rejected(
            [
                OrderError(
                    ErrorCode.INVALID_TRANSITION,
                    f"An order in {order.main_status} cannot move to {to}.",
                    (*INPUT, "to"),
                    allowed_transitions=allowed,
                )
            ]
        )
    if sub_status is not None and sub_status not in known:
        raise Rejected([unknown_sub_status(sub_status, to, (*INPUT, "subStatus"))])
    return Change(
        EventType.STATUS_CHANGED,
        {"main_status": to, "sub_status": sub_status},
        status_change=True,
    )


def set_sub_status(order: OrderRecord, sub_status: str | None, known: Collection[str]) -> Change:
    if sub_status is not None and sub_status not in known:
        raise Rejected([unknown_sub_status(sub_status, order.main_status, (*INPUT, "subStatus"))])
    values = {} if sub_status == order.sub_status else {"sub_status": sub_status}
    return Change(EventType.SUB_STATUS_CHANGED, values, status_change=True)


def replace_discounts(
    order: OrderRecord, items: Sequence[ItemRecord], discounts: Sequence[DiscountInput]
) -> tuple[list[DiscountDraft], Change]:
    if order.main_status is not MainStatus.CREATED:
        raise Rejected.one(
            ErrorCode.VALIDATION,
            f"Discounts can change only while the order is CREATED; it is {order.main_status}, "
            "and a paid amount is fixed.",
            (*INPUT, "discounts"),
        )
    check = Checker()
    drafts = [ItemDraft(i.sku_id, i.name, i.quantity, i.unit_price, {}) for i in items]
    fees = order.delivery_fee + order.packaging_fee
    result = validate_discounts(check, discounts, drafts, order.currency, fees, INPUT)
    check.raise_if_any()
    discount_total = sum(d.amount for d in result)
    values = {
        "discount_total": discount_total,
        "payable_total": order.items_total + fees - discount_total,
    }
    return result, Change(EventType.DISCOUNTS_CHANGED, values, always=True)


def update(order: OrderRecord, remark: str | _Keep | None, patch: Any) -> Change:
    check = Checker()
    values: dict[str, Any] = {}
    if not isinstance(remark, _Keep):
        check.text(remark, (*INPUT, "remark"), limits.MAX_TEXT_LENGTH)
        if remark != order.remark:
            values["remark"] = remark
    if patch is not None:
        patch = check.json_object(patch, (*INPUT, "attributes"))
        merged = {**order.attributes, **patch}
        merged = {key: value for key, value in merged.items() if value is not None}
        check.json_object(merged, (*INPUT, "attributes"))
        if merged != order.attributes:
            values["attributes"] = merged
    check.raise_if_any()
    return Change(EventType.UPDATED, values)
