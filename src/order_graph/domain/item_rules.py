"""The rules for changing an order's items: `changeItems` before payment, `cancelItems` after.

Each rule checks every problem of a command at once and either returns the plan of the change
or raises `Rejected` with all of them. The arithmetic is in domain/changes.py's docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from order_graph.domain import limits
from order_graph.domain.changes import (
    CancelItems,
    ChangeDiscount,
    ChangeDraft,
    ChangeItems,
    ChangeKind,
    ChangeLine,
    ItemsPlan,
    LineQuantity,
    LineUpdate,
    PendingLine,
)
from order_graph.domain.errors import ErrorCode, OrderError, Rejected
from order_graph.domain.model import (
    Change,
    DiscountDraft,
    EventType,
    ItemDraft,
    ItemRecord,
    OrderRecord,
)
from order_graph.domain.money import MAX_MINOR_UNITS, format_minor
from order_graph.domain.status import MainStatus, allowed_transitions
from order_graph.domain.validation import INPUT, Checker, validate_discounts, validate_items

CANCELLABLE = (MainStatus.PAID, MainStatus.ACCEPTED)


def payable_total(order: OrderRecord, items_total: int, discount_total: int, refunded: int) -> int:
    return items_total + order.delivery_fee + order.packaging_fee - discount_total - refunded


def change_items(
    order: OrderRecord, items: Sequence[ItemRecord], command: ChangeItems, made: int
) -> ItemsPlan:
    """`made`: how many item changes the order has had."""
    if order.main_status is not MainStatus.CREATED:
        raise _refused(
            order,
            f"Items can change only while the order is CREATED; it is {order.main_status}. "
            "After payment, cancel items with cancelItems.",
        )
    check = Checker()
    _room(check, made)
    wanted = _lines(check, items, command.quantities, "quantities", minimum=0)
    added = validate_items(check, command.add, order.currency, (*INPUT, "add"))
    kept = [item for item in items if wanted.get(item.id, item.quantity) > 0]
    after = [_draft(item, wanted.get(item.id, item.quantity)) for item in kept] + added
    path = (*INPUT, "quantities")
    if not after:
        check.fail("An order keeps at least one item; cancel the order instead.", path)
    if len(after) > limits.MAX_ITEMS:
        check.fail(f"At most {limits.MAX_ITEMS} items.", (*INPUT, "add"))
    items_total = sum(draft.line_total for draft in after)
    if items_total > MAX_MINOR_UNITS:
        check.fail("The items total is too large.", (*INPUT, "add"))
    fees = order.delivery_fee + order.packaging_fee
    discounts = validate_discounts(check, command.discounts, after, order.currency, fees, INPUT)
    before = _by_id(items)
    changed = {item_id: q for item_id, q in wanted.items() if q != before[item_id].quantity}
    if not changed and not added:
        check.fail("Nothing to change: give lines to add or new quantities.", path)
    discount_total = sum(d.amount for d in discounts)
    payable = payable_total(order, items_total, discount_total, order.refunded_total)
    _expected(check, command.expected_payable_total, payable, order.currency)
    check.raise_if_any()
    lines: list[ChangeLine | PendingLine] = []
    updates = []
    for item in items:
        if item.id in changed:
            quantity = changed[item.id]
            lines.append(_line(item, quantity, 0))
            if quantity:
                updates.append(LineUpdate(item.id, quantity, item.unit_price * quantity, 0))
    lines += [PendingLine(draft) for draft in added]
    return ItemsPlan(
        kind=ChangeKind.ITEMS_CHANGED,
        updates=tuple(updates),
        removed=tuple(item_id for item_id, quantity in changed.items() if quantity == 0),
        added=tuple(added),
        first_position=max((item.position for item in items), default=-1) + 1,
        kept=tuple(item.id for item in kept),
        discounts=tuple(discounts),
        values={
            "items_total": items_total,
            "discount_total": discount_total,
            "payable_total": payable,
        },
        lines=tuple(lines),
        refund_amount=None,
        reason=command.reason,
        cancels_order=False,
    )


def cancel_items(
    order: OrderRecord, items: Sequence[ItemRecord], command: CancelItems, made: int
) -> ItemsPlan:
    """`made`: how many item changes the order has had."""
    if order.main_status not in CANCELLABLE:
        hint = (
            "Nothing is paid yet: change the items with changeItems."
            if order.main_status is MainStatus.CREATED
            else "Cancel the whole order with transitionOrder instead, where it still may."
        )
        raise _refused(
            order,
            f"Items can be cancelled only while the order is PAID or ACCEPTED; it is "
            f"{order.main_status}. {hint}",
        )
    check = Checker()
    _room(check, made)
    check.text(command.reason, (*INPUT, "reason"), limits.MAX_TEXT_LENGTH, required=True)
    cancelled = _lines(check, items, command.lines, "lines", minimum=1)
    if not command.lines:
        check.fail("Cancel at least one line.", (*INPUT, "lines"))
    currency = order.currency
    refund = check.money(command.refund_amount, currency, (*INPUT, "refundAmount"))
    if refund > order.payable_total:
        check.fail(
            "The refund is more than what was paid and not yet refunded "
            f"({format_minor(order.payable_total, currency)}).",
            (*INPUT, "refundAmount"),
        )
    discounts: tuple[DiscountDraft, ...] | None = None
    if command.discounts is not None:
        drafts = [_draft(item, item.quantity) for item in items]
        fees = order.delivery_fee + order.packaging_fee
        given = validate_discounts(check, command.discounts, drafts, currency, fees, INPUT)
        discounts = tuple(given)
        if sum(d.amount for d in given) != order.discount_total:
            check.fail(
                "Re-allocated discount results keep the order's discount total "
                f"({format_minor(order.discount_total, currency)}): the refund carries the money.",
                (*INPUT, "discounts"),
            )
    refunded = order.refunded_total + refund
    payable = payable_total(order, order.items_total, order.discount_total, refunded)
    _expected(check, command.expected_payable_total, payable, currency)
    check.raise_if_any()
    active = sum(item.active_quantity for item in items) - sum(cancelled.values())
    values: dict[str, object] = {"refunded_total": refunded, "payable_total": payable}
    if active == 0:
        values.update(main_status=MainStatus.CANCELLED, sub_status=None)
    touched = [item for item in items if item.id in cancelled]
    return ItemsPlan(
        kind=ChangeKind.ITEMS_CANCELLED,
        updates=tuple(
            LineUpdate(
                item.id,
                item.quantity,
                item.line_total,
                item.cancelled_quantity + cancelled[item.id],
            )
            for item in touched
        ),
        removed=(),
        added=(),
        first_position=0,
        kept=tuple(item.id for item in items),
        discounts=discounts,
        values=values,
        lines=tuple(_line(item, item.quantity, cancelled[item.id]) for item in touched),
        refund_amount=refund,
        reason=command.reason,
        cancels_order=active == 0,
    )


def change_of(plan: ItemsPlan, added_ids: Sequence[int]) -> Change:
    """The change to apply, once the added lines have their ids."""
    ids = [*plan.kept, *added_ids]
    pending = iter(added_ids)
    lines = tuple(
        _line_of(line.draft, next(pending)) if isinstance(line, PendingLine) else line
        for line in plan.lines
    )
    discounts = None
    if plan.discounts is not None:
        discounts = tuple(
            ChangeDiscount(
                d.kind,
                d.amount,
                d.code,
                d.description,
                None if d.item_index is None else ids[d.item_index],
                d.funded_by,
            )
            for d in plan.discounts
        )
    record = ChangeDraft(plan.kind, lines, discounts, plan.refund_amount, plan.reason)
    return Change(
        EventType.ITEMS_CHANGED,
        dict(plan.values),
        status_change=plan.cancels_order,
        always=True,
        record=record,
    )


def _lines(
    check: Checker,
    items: Sequence[ItemRecord],
    lines: Sequence[LineQuantity],
    name: str,
    minimum: int,
) -> dict[int, int]:
    """Quantity per known line. For cancellations (minimum 1) a quantity is what to cancel, up
    to what is active; for edits (minimum 0) it is the new ordered quantity."""
    by_id = _by_id(items)
    found: dict[int, int] = {}
    for index, line in enumerate(lines):
        at = (*INPUT, name, str(index))
        item = None if line.item_id is None else by_id.get(line.item_id)
        if item is None:
            check.fail("No item with this id in the order.", (*at, "itemId"))
            continue
        if item.id in found:
            check.fail("This item is listed twice.", (*at, "itemId"))
            continue
        if minimum == 0 and not 0 <= line.quantity <= limits.MAX_QUANTITY:
            check.fail(
                f"Quantity must be from 0 (removes the line) to {limits.MAX_QUANTITY}.",
                (*at, "quantity"),
            )
            continue
        active = item.active_quantity
        if minimum == 1 and not 1 <= line.quantity <= active:
            check.fail(
                f"{active} of this line {'is' if active == 1 else 'are'} active: cancel from 1 "
                f"to {active}."
                if active
                else "No unit of this line is active any more.",
                (*at, "quantity"),
            )
            continue
        if minimum == 0 and item.unit_price * line.quantity > MAX_MINOR_UNITS:
            check.fail("The line total is too large.", (*at, "quantity"))
            continue
        found[item.id] = line.quantity
    return found


def _room(check: Checker, made: int) -> None:
    if made >= limits.MAX_ITEM_CHANGES:
        check.fail(f"An order keeps at most {limits.MAX_ITEM_CHANGES} item changes.", INPUT)


def _expected(check: Checker, expected: Decimal | None, payable: int, currency: str) -> None:
    if expected is None or check.errors:
        return
    path = (*INPUT, "expectedPayableTotal")
    minor = check.money(expected, currency, path)
    if not check.errors and minor != payable:
        total = format_minor(payable, currency)
        check.fail(f"Does not match the payableTotal after the change ({total}).", path)


def _refused(order: OrderRecord, message: str) -> Rejected:
    allowed = allowed_transitions(order.main_status)
    return Rejected(
        [OrderError(ErrorCode.INVALID_TRANSITION, message, None, allowed_transitions=allowed)]
    )


def _by_id(items: Sequence[ItemRecord]) -> dict[int, ItemRecord]:
    return {item.id: item for item in items}


def _draft(item: ItemRecord, quantity: int) -> ItemDraft:
    return ItemDraft(item.sku_id, item.name, quantity, item.unit_price, item.attributes)


def _line(item: ItemRecord, quantity_after: int, cancelled: int) -> ChangeLine:
    return ChangeLine(
        item.id, item.sku_id, item.name, item.unit_price, item.quantity, quantity_after, cancelled
    )


def _line_of(draft: ItemDraft, item_id: int) -> ChangeLine:
    return ChangeLine(item_id, draft.sku_id, draft.name, draft.unit_price, 0, draft.quantity, 0)
