"""The access gate's answers as GraphQL, in one place (the decisions are `domain/access.py`).

- A refused read is a GraphQL error with the code FORBIDDEN, and nothing is loaded.
- An invisible order is null (and left out of lists).
- An order that goes out in a mutation payload or an event's `order` is shown only to a caller
  that may read it, else null. The mutation still happened; its payload's errors say only what
  went wrong with the command.
"""

from __future__ import annotations

from graphql import GraphQLError

from order_graph.domain.access import Answer, Decision, Principal, Scope, may, shows_order
from order_graph.domain.errors import ErrorCode
from order_graph.domain.model import OrderRecord


def require(decision: Decision) -> None:
    """For query roots: a refusal is a GraphQL error."""
    match decision.answer:
        case Answer.ALLOWED:
            return
        case Answer.REFUSED | Answer.INVISIBLE:
            raise GraphQLError(
                decision.message or "Not allowed.", extensions={"code": str(ErrorCode.FORBIDDEN)}
            )


def require_scope(principal: Principal, scope: Scope) -> None:
    require(may(principal, scope))


def shown(principal: Principal, record: OrderRecord | None) -> OrderRecord | None:
    """The order if the caller may see its fields; else None."""
    if record is None or not shows_order(principal, record.store_id):
        return None
    return record
