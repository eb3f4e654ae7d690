"""`Money` as GraphQL: an exact decimal amount and its currency."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from order_graph.domain.money import from_minor


@strawberry.type
class Money:
    amount: Decimal
    currency: str


def money(minor: int, currency: str) -> Money:
    return Money(amount=from_minor(minor, currency), currency=currency)
