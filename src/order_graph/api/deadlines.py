"""Deadline rules in GraphQL: their types, `Query.deadlines`, `defineDeadline`, `removeDeadline`."""

from __future__ import annotations

from datetime import datetime

import strawberry

from order_graph.api.context import Info
from order_graph.api.enums import Channel, FulfillmentType, MainStatus
from order_graph.api.errors import OrderErrorType, payload_errors
from order_graph.api.gate import require_scope
from order_graph.deadlines.rules import DeadlineRules
from order_graph.domain import deadlines
from order_graph.domain.access import Scope
from order_graph.domain.deadlines import DeadlineActionKind
from order_graph.domain.errors import Rejected
from order_graph.storage import deadlines as store

strawberry.enum(DeadlineActionKind, description="What a deadline does when it fires.")


@strawberry.type
class DeadlineAction:
    kind: DeadlineActionKind
    move_to: MainStatus | None = strawberry.field(description="Set with MOVE.")
    sub_status: str | None = strawberry.field(
        description="Set with SET_SUB_STATUS: a sub-status of the rule's main status."
    )


@strawberry.type
class DeadlineRule:
    code: str
    main_status: MainStatus
    channel: Channel | None = strawberry.field(description="Null: every channel.")
    fulfillment_type: FulfillmentType | None = strawberry.field(
        description="Null: every fulfilment type."
    )
    after_seconds: int = strawberry.field(
        description="How long an order stays in mainStatus before the action happens."
    )
    action: DeadlineAction
    reason: str = strawberry.field(description="Recorded as the reason in the status history.")
    defined_by: str
    defined_at: datetime

    @classmethod
    def of(cls, rule: deadlines.DeadlineRule) -> DeadlineRule:
        draft = rule.draft
        moving = draft.action is DeadlineActionKind.MOVE
        return cls(
            code=draft.code,
            main_status=draft.main_status,
            channel=draft.channel,
            fulfillment_type=draft.fulfillment_type,
            after_seconds=draft.after_seconds,
            action=DeadlineAction(
                kind=draft.action,
                move_to=MainStatus(draft.target) if moving else None,
                sub_status=None if moving else draft.target,
            ),
            reason=draft.reason,
            defined_by=rule.defined_by,
            defined_at=rule.defined_at,
        )


@strawberry.type
class OrderDeadline:
    at: datetime = strawberry.field(
        description="When the action happens (it may be overdue by "
        "a moment, until a runner fires it)."
    )
    action: DeadlineAction
    rule: DeadlineRule

    @classmethod
    def of(cls, deadline: deadlines.Deadline) -> OrderDeadline:
        rule = DeadlineRule.of(deadline.rule)
        return cls(at=deadline.at, action=rule.action, rule=rule)


@strawberry.input
class DefineDeadlineInput:
    code: str = strawberry.field(description="Upper snake case, unique, e.g. UNPAID_TIMEOUT.")
    main_status: MainStatus = strawberry.field(description="The status the timer runs in.")
    channel: Channel | None = strawberry.field(default=None, description="Only this channel.")
    fulfillment_type: FulfillmentType | None = strawberry.field(
        default=None, description="Only this fulfilment type."
    )
    after_seconds: int = strawberry.field(
        description=f"Time in mainStatus: 1 to {deadlines.MAX_AFTER_SECONDS} (30 days)."
    )
    move_to: MainStatus | None = strawberry.field(
        default=None,
        description="The action, either: move to this main status (the table must allow it).",
    )
    set_sub_status: str | None = strawberry.field(
        default=None, description="The action, or: set this sub-status of mainStatus."
    )
    reason: str = strawberry.field(
        description="Upper snake case, recorded in the status history, e.g. PAYMENT_TIMEOUT."
    )

    def command(self) -> deadlines.DefineDeadline:
        return deadlines.DefineDeadline(
            code=self.code,
            main_status=self.main_status,
            after_seconds=self.after_seconds,
            reason=self.reason,
            channel=self.channel,
            fulfillment_type=self.fulfillment_type,
            move_to=self.move_to,
            set_sub_status=self.set_sub_status,
        )


@strawberry.input
class RemoveDeadlineInput:
    code: str


@strawberry.type
class DeadlineRulePayload:
    rule: DeadlineRule | None
    errors: list[OrderErrorType]


@strawberry.type
class DeadlineQueries:
    @strawberry.field(description="The deadline rules, by main status and code.")
    async def deadlines(
        self, info: Info, main_status: MainStatus | None = None
    ) -> list[DeadlineRule]:
        require_scope(info.context.principal, Scope.ORDERS_READ)
        async with info.context.db.read() as conn:
            found = await store.list_rules(conn, main_status)
        return [DeadlineRule.of(rule) for rule in found]


@strawberry.type
class DeadlineMutations:
    @strawberry.mutation(
        description="Registers a deadline rule (admin). It applies at once to the orders "
        "already in its status, counting from when each entered it."
    )
    async def define_deadline(self, info: Info, input: DefineDeadlineInput) -> DeadlineRulePayload:
        ctx = info.context
        try:
            rule = await DeadlineRules(ctx.service).define(ctx.principal, input.command())
        except Rejected as rejected:
            return DeadlineRulePayload(rule=None, errors=payload_errors(rejected))
        return DeadlineRulePayload(rule=DeadlineRule.of(rule), errors=[])

    @strawberry.mutation(
        description="Removes a deadline rule (admin) and every deadline of it not yet fired."
    )
    async def remove_deadline(self, info: Info, input: RemoveDeadlineInput) -> DeadlineRulePayload:
        ctx = info.context
        try:
            rule = await DeadlineRules(ctx.service).remove(ctx.principal, input.code)
        except Rejected as rejected:
            return DeadlineRulePayload(rule=None, errors=payload_errors(rejected))
        return DeadlineRulePayload(rule=DeadlineRule.of(rule), errors=[])
