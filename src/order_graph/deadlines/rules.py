"""Defining and removing deadline rules (admin clients), each in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.domain import access, deadlines
from order_graph.domain.access import Principal, Scope
from order_graph.domain.deadlines import DeadlineRule, DefineDeadline
from order_graph.domain.errors import ErrorCode, Rejected
from order_graph.domain.validation import INPUT
from order_graph.service import OrderService
from order_graph.storage import deadlines as store
from order_graph.storage import races, sub_statuses

T = TypeVar("T")
log = logging.getLogger(__name__)


class DeadlineRules:
    def __init__(self, service: OrderService) -> None:
        self.db = service.db
        self.clock = service.clock

    async def define(self, principal: Principal, command: DefineDeadline) -> DeadlineRule:
        """Stores a new rule, with a deadline for every order already in its status (those
        past it are due at once). The same rule again returns the stored one."""
        access.may(principal, Scope.ADMIN).enforce()

        async def attempt(conn: AsyncConnection) -> DeadlineRule:
            known: set[str] = set()
            if command.set_sub_status is not None:
                known = await sub_statuses.codes_for(conn, command.main_status)
            draft = deadlines.validate(command, known)
            existing = await store.rule_by_code(conn, draft.code)
            if existing is not None:
                deadlines.same_rule(existing, draft)
                return existing
            return await store.insert_rule(conn, draft, principal.name, self.clock())

        rule = await self._write(attempt)
        log.info("deadline rule %s defined by %s: %s", rule.code, rule.defined_by, rule.draft)
        return rule

    async def remove(self, principal: Principal, code: str) -> DeadlineRule:
        """Deletes the rule and every deadline it set that has not fired."""
        access.may(principal, Scope.ADMIN).enforce()

        async def attempt(conn: AsyncConnection) -> DeadlineRule:
            rule = await store.rule_by_code(conn, code)
            if rule is None:
                raise Rejected.one(
                    ErrorCode.NOT_FOUND, f"No deadline rule {code!r}.", (*INPUT, "code")
                )
            await store.delete_rule(conn, rule)
            return rule

        rule = await self._write(attempt)
        log.info("deadline rule %s removed by %s", rule.code, principal.name)
        return rule

    async def _write(self, attempt: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        try:
            async with self.db.write() as conn:
                return await attempt(conn)
        except IntegrityError as error:
            if not races.is_unique_race(error):
                raise
            # Two definitions of one code at once: the loser finds the winner's rule.
            async with self.db.write() as conn:
                return await attempt(conn)
