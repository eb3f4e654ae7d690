"""What a mutation does, apart from how its payload is written. The resolvers (mutations.py)
and the compiled mutations (compiled_mutations.py) both call these, so each decision is made
in one place: how the order id is read, which service call is made, which refusals become
payload errors (counted in the metrics), and who sees the payload's order."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass

from order_graph.api import ids
from order_graph.api.context import Context
from order_graph.api.errors import counted
from order_graph.api.gate import shown
from order_graph.domain.errors import ErrorCode, OrderError, Rejected
from order_graph.domain.model import CreateOrder, DiscountInput, OrderRecord
from order_graph.domain.status import MainStatus
from order_graph.storage.writes import Stored


@dataclass(frozen=True, slots=True)
class Outcome:
    """A payload's content: its order as the caller may see it (None: none, or not theirs to
    read), its errors, and for a create whether it created, with what it wrote."""

    order: OrderRecord | None
    errors: tuple[OrderError, ...] = ()
    created: bool = False
    stored: Stored | None = None
    changed: int | None = None  # the id of the order that changed (its cached reads are stale)


def order_id(value: str) -> int:
    try:
        return ids.decode_as("Order", value)
    except ids.BadId:
        raise Rejected.one(
            ErrorCode.VALIDATION, f"Not an order id: {value!r}.", ("input", "orderId")
        ) from None


async def _changed(ctx: Context, change: Awaitable[OrderRecord]) -> Outcome:
    try:
        record = await change
    except Rejected as rejected:
        return Outcome(shown(ctx.principal, rejected.current), counted(rejected))
    return Outcome(shown(ctx.principal, record), changed=record.id)


async def create(ctx: Context, command: CreateOrder, idempotency_key: str | None) -> Outcome:
    try:
        found = await ctx.service.create(ctx.principal, command, idempotency_key)
    except Rejected as rejected:
        return Outcome(None, counted(rejected))
    order = shown(ctx.principal, found.order)
    return Outcome(order, created=found.created, stored=found.stored)


async def transition(
    ctx: Context,
    order: str,
    to: MainStatus,
    sub_status: str | None,
    reason: str | None,
    expected_version: int | None,
    idempotency_key: str | None,
) -> Outcome:
    async def change() -> OrderRecord:
        return await ctx.service.transition(
            ctx.principal, order_id(order), to, sub_status, reason, expected_version,
            idempotency_key,
        )  # fmt: skip

    return await _changed(ctx, change())


async def set_sub_status(
    ctx: Context,
    order: str,
    sub_status: str | None,
    reason: str | None,
    expected_version: int | None,
) -> Outcome:
    async def change() -> OrderRecord:
        return await ctx.service.set_sub_status(
            ctx.principal, order_id(order), sub_status, reason, expected_version
        )

    return await _changed(ctx, change())


async def update_order(
    ctx: Context,
    order: str,
    remark: str | object | None,
    attributes: object,
    expected_version: int | None,
) -> Outcome:
    """`remark` is KEEP (domain/lifecycle.py) when the caller left it out."""

    async def change() -> OrderRecord:
        return await ctx.service.update_order(
            ctx.principal, order_id(order), remark, attributes, expected_version
        )

    return await _changed(ctx, change())


async def replace_discounts(
    ctx: Context, order: str, discounts: tuple[DiscountInput, ...], expected_version: int | None
) -> Outcome:
    async def change() -> OrderRecord:
        return await ctx.service.replace_discounts(
            ctx.principal, order_id(order), discounts, expected_version
        )

    return await _changed(ctx, change())
