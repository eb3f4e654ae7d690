"""`changeItems` and `cancelItems`: their inputs, payload and resolvers."""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal
from typing import Annotated

import strawberry

from order_graph.api import ids
from order_graph.api.change_types import OrderChange
from order_graph.api.context import Info
from order_graph.api.errors import OrderErrorType, payload_errors
from order_graph.api.gate import shown
from order_graph.api.inputs import DiscountInput, OrderItemInput
from order_graph.api.loaders import Loaders
from order_graph.api.mutation_calls import order_id as _order_id
from order_graph.api.types import Order
from order_graph.domain.changes import CancelItems, ChangeItems, LineQuantity
from order_graph.domain.errors import Rejected
from order_graph.domain.model import OrderRecord
from order_graph.service import ItemsOutcome

DRY_RUN = (
    "true: check everything and answer with the order as it would be, storing nothing (no "
    "version, no event, no idempotency key); the ids of added lines are then not kept."
)
DISCOUNTS_AFTER = (
    " itemIndex counts the order's items as they read after the change: the remaining lines "
    "in their order, then the added ones."
)


@strawberry.input
class ItemQuantityInput:
    item_id: strawberry.ID
    quantity: int = strawberry.field(description="The new ordered quantity; 0 removes the line.")


@strawberry.input
class CancelLineInput:
    item_id: strawberry.ID
    quantity: int = strawberry.field(
        description="Units to cancel: from 1 to the line's activeQuantity."
    )


@strawberry.input
class ChangeItemsInput:
    order_id: strawberry.ID
    add: list[OrderItemInput] | None = strawberry.field(
        default=None, description="Lines to add, after the existing ones."
    )
    quantities: list[ItemQuantityInput] | None = strawberry.field(
        default=None, description="New quantities of existing lines."
    )
    discounts: list[DiscountInput] = strawberry.field(
        description="The discount results for the order as it will be (computed by the "
        "promotion service); they replace the stored ones, [] for none." + DISCOUNTS_AFTER
    )
    reason: str | None = None
    expected_payable_total: Decimal | None = strawberry.field(
        default=None,
        description="When given, must equal the payableTotal after the change, or VALIDATION.",
    )
    expected_version: int | None = None

    def command(self) -> ChangeItems:
        return ChangeItems(
            add=tuple(item.command() for item in self.add or ()),
            quantities=tuple(_line(q.item_id, q.quantity) for q in self.quantities or ()),
            discounts=tuple(d.command() for d in self.discounts),
            reason=self.reason,
            expected_payable_total=self.expected_payable_total,
        )


@strawberry.input
class CancelItemsInput:
    order_id: strawberry.ID
    lines: list[CancelLineInput]
    reason: str = strawberry.field(description='Why, e.g. "Out of stock".')
    refund_amount: Decimal = strawberry.field(
        description="What the caller refunds for this cancellation (computed by the finance "
        "service or the platform), at most the payableTotal; it adds to refundedTotal."
    )
    discounts: list[DiscountInput] | None = strawberry.field(
        default=None,
        description="Re-allocated discount results with the same total; null keeps the "
        "stored ones." + DISCOUNTS_AFTER,
    )
    expected_payable_total: Decimal | None = strawberry.field(
        default=None,
        description="When given, must equal the payableTotal after the change, or VALIDATION.",
    )
    expected_version: int | None = None

    def command(self) -> CancelItems:
        discounts = self.discounts
        return CancelItems(
            lines=tuple(_line(line.item_id, line.quantity) for line in self.lines),
            reason=self.reason,
            refund_amount=self.refund_amount,
            discounts=None if discounts is None else tuple(d.command() for d in discounts),
            expected_payable_total=self.expected_payable_total,
        )


def _line(item_id: strawberry.ID, quantity: int) -> LineQuantity:
    try:
        number: int | None = ids.decode_as("OrderItem", item_id)
    except ids.BadId:
        number = None  # reported with every other problem, as an unknown item
    return LineQuantity(number, quantity)


@strawberry.type
class ItemsChangePayload:
    order: Order | None = strawberry.field(
        description="The order after the change; with dryRun, as it would be. Null for a caller "
        "without orders:read, like `change`."
    )
    dry_run: bool
    errors: list[OrderErrorType]
    record: strawberry.Private[OrderRecord | None]
    loaders: strawberry.Private[Loaders | None]

    @strawberry.field(
        description="The change this call made (with dryRun: would make). Null for a caller "
        "without orders:read."
    )
    async def change(self, info: Info) -> OrderChange | None:
        if self.record is None or self.loaders is None:
            return None
        found = await self.loaders.changes.load(self.record.id)
        made = [change for change in found if change.version == self.record.version]
        return OrderChange.of(made[0], self.record.currency) if made else None


async def _answer(
    info: Info, outcome: Awaitable[ItemsOutcome], dry_run: bool
) -> ItemsChangePayload:
    try:
        record, preview = (result := await outcome).order, result.preview
    except Rejected as rejected:
        current = shown(info.context.principal, rejected.current)
        return ItemsChangePayload(
            order=None if current is None else Order.of(current),
            dry_run=dry_run,
            errors=payload_errors(rejected),
            record=None,
            loaders=None,
        )
    if preview is None:
        info.context.loaders.forget(record.id)
        loaders = info.context.loaders
    else:
        loaders = Loaders.of_preview(info.context.db, preview)
    if shown(info.context.principal, record) is None:
        # Done, but the order and its change go only to a caller that may read orders.
        return ItemsChangePayload(order=None, dry_run=dry_run, errors=[], record=None, loaders=None)
    return ItemsChangePayload(
        order=Order.of(record, loaders), dry_run=dry_run, errors=[], record=record, loaders=loaders
    )


@strawberry.type
class ItemMutations:
    @strawberry.mutation(
        description="Adds, removes or re-counts lines while the order is CREATED, with the "
        "caller's new discount results; every total is derived again. Needs orders:update."
    )
    async def change_items(
        self,
        info: Info,
        input: ChangeItemsInput,
        idempotency_key: str | None = None,
        dry_run: Annotated[bool, strawberry.argument(description=DRY_RUN)] = False,
    ) -> ItemsChangePayload:
        ctx = info.context

        async def change() -> ItemsOutcome:
            return await ctx.service.change_items(
                ctx.principal,
                _order_id(input.order_id),
                input.command(),
                input.expected_version,
                idempotency_key,
                dry_run,
            )

        return await _answer(info, change(), dry_run)

    @strawberry.mutation(
        description="Cancels units of lines while the order is PAID or ACCEPTED, with a reason "
        "and the caller's refund; cancelling every remaining unit cancels the order (main "
        "status CANCELLED) in the same change. Needs orders:update."
    )
    async def cancel_items(
        self,
        info: Info,
        input: CancelItemsInput,
        idempotency_key: str | None = None,
        dry_run: Annotated[bool, strawberry.argument(description=DRY_RUN)] = False,
    ) -> ItemsChangePayload:
        ctx = info.context

        async def cancel() -> ItemsOutcome:
            return await ctx.service.cancel_items(
                ctx.principal,
                _order_id(input.order_id),
                input.command(),
                input.expected_version,
                idempotency_key,
                dry_run,
            )

        return await _answer(info, cancel(), dry_run)
