"""Mutation resolvers: decode ids, call the service, turn refusals into payload errors."""

from __future__ import annotations

import strawberry

from order_graph.api import mutation_calls as calls
from order_graph.api.context import Info
from order_graph.api.errors import OrderErrorType, payload_errors
from order_graph.api.inputs import (
    CreateOrderInput,
    DefineSubStatusInput,
    ReplaceDiscountsInput,
    SetSubStatusInput,
    TransitionOrderInput,
    UpdateOrderInput,
)
from order_graph.api.types import Order, SubStatusDefinition
from order_graph.domain.errors import Rejected
from order_graph.domain.lifecycle import KEEP

PAYLOAD_ORDER = (
    "The order as it now stands (with VERSION_CONFLICT: as it stands). Null for a caller without "
    "orders:read: an order's fields go only to callers that may read orders."
)


@strawberry.type
class OrderPayload:
    order: Order | None = strawberry.field(description=PAYLOAD_ORDER)
    errors: list[OrderErrorType]


@strawberry.type
class CreateOrderPayload:
    order: Order | None = strawberry.field(description=PAYLOAD_ORDER)
    created: bool = strawberry.field(
        description="False when an existing order was returned (same idempotency key or same "
        "externalRef)."
    )
    errors: list[OrderErrorType]


@strawberry.type
class SubStatusDefinitionPayload:
    definition: SubStatusDefinition | None
    errors: list[OrderErrorType]


def _payload(info: Info, outcome: calls.Outcome) -> OrderPayload:
    if outcome.changed is not None:
        info.context.loaders.forget(outcome.changed)
    order = None if outcome.order is None else Order.of(outcome.order)
    return OrderPayload(order=order, errors=[OrderErrorType.of(e) for e in outcome.errors])


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_order(
        self, info: Info, input: CreateOrderInput, idempotency_key: str | None = None
    ) -> CreateOrderPayload:
        ctx = info.context
        found = await calls.create(ctx, input.command(), idempotency_key)
        stored = found.stored
        if stored is not None:
            # What the transaction wrote: the answer's lists need no read after the commit.
            loaders, order_id = ctx.loaders, stored.order.id
            loaders.items.prime(order_id, stored.items)
            loaders.discounts.prime(order_id, stored.discounts)
            loaders.history.prime(order_id, stored.history)
            loaders.changes.prime(order_id, [])
        order = None if found.order is None else Order.of(found.order)
        errors = [OrderErrorType.of(e) for e in found.errors]
        return CreateOrderPayload(order=order, created=found.created, errors=errors)

    @strawberry.mutation
    async def transition_order(
        self, info: Info, input: TransitionOrderInput, idempotency_key: str | None = None
    ) -> OrderPayload:
        outcome = await calls.transition(
            info.context, input.order_id, input.to, input.sub_status, input.reason,
            input.expected_version, idempotency_key,
        )  # fmt: skip
        return _payload(info, outcome)

    @strawberry.mutation
    async def set_sub_status(self, info: Info, input: SetSubStatusInput) -> OrderPayload:
        outcome = await calls.set_sub_status(
            info.context, input.order_id, input.sub_status, input.reason, input.expected_version
        )
        return _payload(info, outcome)

    @strawberry.mutation
    async def replace_discounts(self, info: Info, input: ReplaceDiscountsInput) -> OrderPayload:
        discounts = tuple(d.command() for d in input.discounts)
        outcome = await calls.replace_discounts(
            info.context, input.order_id, discounts, input.expected_version
        )
        return _payload(info, outcome)

    @strawberry.mutation
    async def update_order(self, info: Info, input: UpdateOrderInput) -> OrderPayload:
        remark = KEEP if input.remark is strawberry.UNSET else input.remark
        outcome = await calls.update_order(
            info.context, input.order_id, remark, input.attributes, input.expected_version
        )
        return _payload(info, outcome)

    @strawberry.mutation
    async def define_sub_status(
        self, info: Info, input: DefineSubStatusInput
    ) -> SubStatusDefinitionPayload:
        ctx = info.context
        try:
            found = await ctx.service.define_sub_status(
                ctx.principal, input.main_status, input.code, input.description
            )
        except Rejected as rejected:
            return SubStatusDefinitionPayload(definition=None, errors=payload_errors(rejected))
        definition = SubStatusDefinition(
            code=found.code,
            main_status=found.main_status,
            description=found.description,
            defined_by=found.defined_by,
        )
        return SubStatusDefinitionPayload(definition=definition, errors=[])
