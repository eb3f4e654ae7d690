"""The use cases: each command runs the domain rules and stores the result in one transaction.

Every change locks the order row, checks `expectedVersion`, writes the new state, its status
history entry and its event, and commits them together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.deadlines import firing
from order_graph.domain import access, item_rules, lifecycle, limits
from order_graph.domain.access import Principal, Scope
from order_graph.domain.changes import CancelItems, ChangeItems, ItemsPlan, OrderChangeRecord
from order_graph.domain.deadlines import Deadline
from order_graph.domain.errors import ErrorCode, Rejected, not_found
from order_graph.domain.model import (
    Change,
    CreateOrder,
    DiscountInput,
    EventType,
    ItemRecord,
    OrderRecord,
    StatusChangeRecord,
    SubStatusDefinition,
)
from order_graph.domain.status import MainStatus, is_valid_sub_status_code
from order_graph.domain.validation import validate_create
from order_graph.events import log
from order_graph.events.sequencer import Sequencer
from order_graph.preview import DryRun, Preview, RolledBack, preview_of
from order_graph.storage import changes as item_store
from order_graph.storage import deadlines as deadline_store
from order_graph.storage import idempotency, races, sub_statuses, writes
from order_graph.storage import orders as store
from order_graph.storage.database import Database

T = TypeVar("T")
Command = TypeVar("Command", ChangeItems, CancelItems)
Clock = Callable[[], datetime]

# A unique-key race (two requests with one idempotency key or one externalRef) rolls the loser
# back; its retry then finds the winner's row (`races.py`: only that violation is retried). More
# than a few rounds would mean a bug.
_ATTEMPTS = 3


Decide = Callable[[AsyncConnection, OrderRecord], Awaitable[Change]]


@dataclasses.dataclass(frozen=True, slots=True)
class Replay:
    """An idempotency key of a change: a retry gets the first call's result, even after later
    changes; the same key with another request is refused."""

    operation: str
    key: str
    request_hash: str

    async def recall(self, conn: AsyncConnection, actor: str) -> OrderRecord | None:
        remembered = await idempotency.recall(conn, actor, self.operation, self.key)
        if remembered is None:
            return None
        _same_request(remembered.request_hash, self.request_hash)
        return remembered.result or await _existing(conn, remembered.order_id)

    async def remember(self, conn: AsyncConnection, actor: str, result: OrderRecord) -> None:
        await idempotency.remember(
            conn,
            actor,
            self.operation,
            self.key,
            self.request_hash,
            result.id,
            result.updated_at,
            result=result,
            store_id=result.store_id,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ItemsOutcome:
    """An item change's result: the order it left (a dry run: would leave), and for a dry run
    everything under that order as it would be, since nothing of it was kept."""

    order: OrderRecord
    preview: Preview | None


@dataclasses.dataclass(frozen=True, slots=True)
class Created:
    """A create's result; `stored` is the new order and everything under it as written (None:
    an existing order was returned), so the answer needs no read after the commit."""

    order: OrderRecord
    created: bool
    stored: writes.Stored | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


class Observer:
    """Told what committed, after the commit: wakes event subscribers, counts transitions."""

    def committed(self) -> None:
        pass

    def transitioned(self, source: MainStatus, target: MainStatus) -> None:
        pass


class OrderService:
    def __init__(
        self,
        db: Database,
        clock: Clock = utc_now,
        observer: Observer | None = None,
        sequencer: Sequencer | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.observer = observer or Observer()
        self.sequencer = sequencer or Sequencer(db)
        self._recorded = 0  # events recorded by this service so far (a write without one
        # waits for no sequencer pass: an idempotent replay, an existing external reference)

    async def create_order(
        self, principal: Principal, command: CreateOrder, idempotency_key: str | None
    ) -> tuple[OrderRecord, bool]:
        found = await self.create(principal, command, idempotency_key)
        return found.order, found.created

    async def create(
        self, principal: Principal, command: CreateOrder, idempotency_key: str | None
    ) -> Created:
        """Creates the order, or finds the one this key or externalRef made before."""
        access.may_create_in(principal, command.store_id).enforce(("input", "storeId"))
        _check_key(idempotency_key)
        request_hash = (
            idempotency.fingerprint(dataclasses.asdict(command)) if idempotency_key else ""
        )
        actor = principal.name

        async def attempt(conn: AsyncConnection) -> Created:
            if idempotency_key is not None:
                remembered = await idempotency.recall(conn, actor, "createOrder", idempotency_key)
                if remembered is not None:
                    _same_request(remembered.request_hash, request_hash)
                    order = remembered.result or await _existing(conn, remembered.order_id)
                    return Created(order, False)
            if command.external_platform is not None and command.external_order_id is not None:
                existing = await store.find_by_external_ref(
                    conn, command.external_platform, command.external_order_id
                )
                if existing is not None:
                    access.may_reuse_external_ref(principal, existing.store_id).enforce(
                        ("input", "externalRef")
                    )
                    return Created(existing, False)
            status = command.initial_status or MainStatus.CREATED
            known = command.sub_status is None or await sub_statuses.is_defined(
                conn, status, command.sub_status
            )
            draft = validate_create(command, known)
            now = self.clock()
            stored = await writes.insert_order(conn, draft, actor, now)
            order = stored.order
            await deadline_store.enter(conn, order, None, now)
            if idempotency_key is not None:
                await idempotency.remember(
                    conn, actor, "createOrder", idempotency_key, request_hash, order.id, now,
                    store_id=order.store_id,
                )  # fmt: skip
            await self._record(conn, EventType.CREATED, None, order, actor)
            return Created(order, True, stored)

        return await self._write(attempt)

    async def transition(
        self,
        principal: Principal,
        order_id: int,
        to: MainStatus,
        sub_status: str | None,
        reason: str | None,
        expected_version: int | None,
        idempotency_key: str | None,
    ) -> OrderRecord:
        _check_key(idempotency_key)
        replay = None
        if idempotency_key is not None:
            request_hash = idempotency.fingerprint(
                [order_id, to, sub_status, reason, expected_version]
            )
            replay = Replay("transitionOrder", idempotency_key, request_hash)

        async def decide(conn: AsyncConnection, order: OrderRecord) -> Change:
            known = await sub_statuses.codes_for(conn, to) if sub_status is not None else set()
            return lifecycle.transition(order, to, sub_status, known)

        return await self._change(
            principal, Scope.ORDERS_TRANSITION, order_id, expected_version, decide, reason, replay
        )

    async def set_sub_status(
        self,
        principal: Principal,
        order_id: int,
        sub_status: str | None,
        reason: str | None,
        expected_version: int | None,
    ) -> OrderRecord:
        async def decide(conn: AsyncConnection, order: OrderRecord) -> Change:
            known = await sub_statuses.codes_for(conn, order.main_status)
            return lifecycle.set_sub_status(order, sub_status, known)

        return await self._change(
            principal, Scope.ORDERS_TRANSITION, order_id, expected_version, decide, reason
        )

    async def replace_discounts(
        self,
        principal: Principal,
        order_id: int,
        discounts: tuple[DiscountInput, ...],
        expected_version: int | None,
    ) -> OrderRecord:
        async def decide(conn: AsyncConnection, order: OrderRecord) -> Change:
            items = (await store.items_by_order(conn, [order_id]))[order_id]
            drafts, change = lifecycle.replace_discounts(order, items, discounts)
            await writes.replace_discounts(
                conn, order_id, drafts, [item.id for item in items], store_id=order.store_id
            )
            return change

        return await self._change(
            principal, Scope.ORDERS_UPDATE, order_id, expected_version, decide
        )

    async def update_order(
        self,
        principal: Principal,
        order_id: int,
        remark: str | object | None,
        attributes: object,
        expected_version: int | None,
    ) -> OrderRecord:
        async def decide(conn: AsyncConnection, order: OrderRecord) -> Change:
            return lifecycle.update(order, remark, attributes)  # type: ignore[arg-type]

        return await self._change(
            principal, Scope.ORDERS_UPDATE, order_id, expected_version, decide
        )

    async def change_items(
        self,
        principal: Principal,
        order_id: int,
        command: ChangeItems,
        expected_version: int | None,
        idempotency_key: str | None,
        dry_run: bool = False,
    ) -> ItemsOutcome:
        """Adds, removes or re-counts lines before payment, with the caller's new discount
        results; every total is derived again."""
        return await self._items(
            principal, "changeItems", order_id, command, item_rules.change_items, expected_version,
            idempotency_key, dry_run,
        )  # fmt: skip

    async def cancel_items(
        self,
        principal: Principal,
        order_id: int,
        command: CancelItems,
        expected_version: int | None,
        idempotency_key: str | None,
        dry_run: bool = False,
    ) -> ItemsOutcome:
        """Cancels units of lines after payment, with the caller's refund; cancelling every
        remaining unit cancels the order in the same change."""
        return await self._items(
            principal, "cancelItems", order_id, command, item_rules.cancel_items, expected_version,
            idempotency_key, dry_run,
        )  # fmt: skip

    async def _items(
        self,
        principal: Principal,
        operation: str,
        order_id: int,
        command: Command,
        rule: Callable[[OrderRecord, list[ItemRecord], Command, int], ItemsPlan],
        expected_version: int | None,
        idempotency_key: str | None,
        dry_run: bool,
    ) -> ItemsOutcome:
        """An item change through the skeleton: `rule` plans it, its rows are written, and
        the skeleton applies and records it (or, for a dry run, rolls it back)."""
        _check_key(idempotency_key)
        replay = None
        if idempotency_key is not None and not dry_run:  # a dry run changes nothing to replay
            request = [order_id, dataclasses.asdict(command), expected_version]
            replay = Replay(operation, idempotency_key, idempotency.fingerprint(request))

        async def decide(conn: AsyncConnection, order: OrderRecord) -> Change:
            items = (await store.items_by_order(conn, [order.id]))[order.id]
            plan = rule(order, items, command, await item_store.count(conn, order.id))
            added = await item_store.apply_items(conn, order.id, plan, store_id=order.store_id)
            return item_rules.change_of(plan, added)

        run = DryRun() if dry_run else None
        order = await self._change(
            principal, Scope.ORDERS_UPDATE, order_id, expected_version, decide, command.reason,
            replay, run,
        )  # fmt: skip
        return ItemsOutcome(order, None if run is None else run.preview)

    async def define_sub_status(
        self, principal: Principal, main_status: MainStatus, code: str, description: str | None
    ) -> SubStatusDefinition:
        access.may(principal, Scope.ADMIN).enforce()
        if not is_valid_sub_status_code(code):
            raise Rejected.one(
                ErrorCode.VALIDATION,
                "A sub-status code is upper snake case (e.g. RIDER_ASSIGNED), "
                "at most 64 characters.",
                ("input", "code"),
            )
        if description is not None and len(description) > limits.MAX_TEXT_LENGTH:
            raise Rejected.one(
                ErrorCode.VALIDATION,
                f"At most {limits.MAX_TEXT_LENGTH} characters.",
                ("input", "description"),
            )

        async def attempt(conn: AsyncConnection) -> SubStatusDefinition:
            existing = await sub_statuses.get(conn, main_status, code)
            if existing is not None:
                return existing
            definition = SubStatusDefinition(main_status, code, description, principal.name)
            await sub_statuses.insert_definition(conn, definition, self.clock())
            return definition

        return await self._write(attempt)

    async def fire_deadline(self, deadline: Deadline) -> OrderRecord | None:
        """Applies a due deadline once (see deadlines/firing.py): the changed order, or None
        when there was nothing to do."""
        seen: list[int] = []

        async def decide(conn: AsyncConnection, order: OrderRecord) -> Change:
            seen[:] = [order.version]
            return await firing.decide(conn, order, deadline, self.clock())

        result = await self._change(
            firing.ACTOR,
            Scope.ORDERS_TRANSITION,
            deadline.order_id,
            None,
            decide,
            deadline.rule.draft.reason,
        )
        return None if result.version == seen[0] else result

    async def _change(
        self,
        principal: Principal,
        scope: Scope,
        order_id: int,
        expected_version: int | None,
        decide: Decide,
        reason: str | None = None,
        replay: Replay | None = None,
        dry_run: DryRun | None = None,
    ) -> OrderRecord:
        """The one way an existing order changes: lock it, replay a remembered retry, check the
        version, let `decide` (the domain rule) say what changes, then apply it and record its
        history entry and event, all in one transaction.

        A stale version is reported together with every invalid input `decide` finds (its
        writes, if any, are rolled back); refusals of a move the order cannot make are left
        out then, since the caller has yet to see the order as it is.

        A dry run goes as far as applying the change, reads the order as it would be into
        `dry_run.preview`, and rolls everything back: it records no event and no idempotency
        key."""
        access.may(principal, scope).enforce()
        _check_reason(reason)
        actor = principal.name
        moved: list[tuple[MainStatus, MainStatus]] = []

        async def attempt(conn: AsyncConnection) -> OrderRecord:
            moved.clear()
            order = await _locked(conn, principal, scope, order_id)
            # Looked up under the order's row lock, so a retry racing its first attempt waits
            # for it and then sees its key.
            if replay is not None:
                remembered = await replay.recall(conn, actor)
                if remembered is not None:
                    return remembered
            stale = lifecycle.version_conflict(order, expected_version)
            try:
                change = await decide(conn, order)
            except Rejected as refused:
                if stale is None:
                    raise
                invalid = [e for e in refused.errors if e.code is ErrorCode.VALIDATION]
                raise Rejected([stale, *invalid], current=order) from None
            if stale is not None:
                raise Rejected([stale], current=order)
            if not change.values and not change.always:
                return order
            updated = await self._apply(conn, actor, order, change, reason)
            if dry_run is not None:
                dry_run.preview = await preview_of(conn, updated)
                raise RolledBack(updated)
            if replay is not None:
                await replay.remember(conn, actor, updated)
            await self._record(conn, change.event_type, order, updated, actor)
            if updated.main_status is not order.main_status:
                moved.append((order.main_status, updated.main_status))
            return updated

        try:
            result = await self._write(attempt)
        except RolledBack as rolled_back:
            return rolled_back.order
        for source, target in moved:
            self.observer.transitioned(source, target)
        return result

    async def _apply(
        self,
        conn: AsyncConnection,
        actor: str,
        order: OrderRecord,
        change: Change,
        reason: str | None,
    ) -> OrderRecord:
        now = self.clock()
        history = None
        if change.status_change:
            planned = dataclasses.replace(order, **change.values, version=order.version + 1)
            history = StatusChangeRecord(
                order.id, order.main_status, planned.main_status, order.sub_status,
                planned.sub_status, reason, actor, now, planned.version,
            )  # fmt: skip
        updated = await writes.update_order(conn, order, change.values, now, history)
        if change.record is not None:
            draft = change.record
            await item_store.insert_change(
                conn,
                OrderChangeRecord(
                    order.id,
                    updated.version,
                    draft.kind,
                    draft.lines,
                    draft.discounts,
                    draft.refund_amount,
                    draft.reason,
                    actor,
                    updated.updated_at,
                ),
                store_id=order.store_id,
            )
        if updated.main_status is not order.main_status:
            await deadline_store.enter(conn, updated, order.main_status, updated.updated_at)
        return updated

    async def _record(
        self,
        conn: AsyncConnection,
        event_type: EventType,
        before: OrderRecord | None,
        after: OrderRecord,
        actor: str,
    ) -> None:
        await log.append(conn, event_type, before, after, actor)
        self._recorded += 1

    async def _write(self, attempt: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        for round_ in range(_ATTEMPTS):
            try:
                recorded = self._recorded
                with self.sequencer.writing():
                    async with self.db.write() as conn:
                        result = await attempt(conn)
            except IntegrityError as error:
                if not races.is_unique_race(error) or round_ == _ATTEMPTS - 1:
                    raise
                continue
            # The commit's event gets its log position before the caller hears of the change.
            # (Another write of this process may have recorded meanwhile: then this one settles
            # too, needlessly but harmlessly.)
            if self._recorded != recorded:
                await self.sequencer.settle()
            self.observer.committed()
            return result
        raise AssertionError("unreachable")


async def _locked(
    conn: AsyncConnection, principal: Principal, scope: Scope, order_id: int
) -> OrderRecord:
    order = await store.get_order(conn, order_id, for_update=True)
    if order is None:
        raise not_found()
    # Another store's order is reported as missing: its existence is not this client's business.
    access.may_on_order(principal, scope, order.store_id).enforce()
    return order


async def _existing(conn: AsyncConnection, order_id: int) -> OrderRecord:
    order = await store.get_order(conn, order_id)
    if order is None:
        raise not_found()
    return order


def _same_request(remembered: str, request_hash: str) -> None:
    if remembered != request_hash:
        raise Rejected.one(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "This idempotency key was used with a different request.",
            ("idempotencyKey",),
        )


def _check_key(key: str | None) -> None:
    if key is not None and not 1 <= len(key) <= limits.MAX_IDEMPOTENCY_KEY_LENGTH:
        raise Rejected.one(
            ErrorCode.VALIDATION,
            f"An idempotency key has 1 to {limits.MAX_IDEMPOTENCY_KEY_LENGTH} characters.",
            ("idempotencyKey",),
        )


def _check_reason(reason: str | None) -> None:
    if reason is not None and len(reason) > limits.MAX_TEXT_LENGTH:
        raise Rejected.one(
            ErrorCode.VALIDATION,
            f"At most {limits.MAX_TEXT_LENGTH} characters.",
            ("input", "reason"),
        )
