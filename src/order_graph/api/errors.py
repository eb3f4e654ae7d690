"""Domain errors as GraphQL: payload entries for mutations, typed errors for queries."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from order_graph.api.enums import MainStatus, OrderErrorCode
from order_graph.domain import errors
from order_graph.ops.metrics import ERRORS


@strawberry.type(name="OrderError")
class OrderErrorType:
    code: OrderErrorCode
    message: str
    field: list[str] | None = strawberry.field(
        description='Path to the offending input field, e.g. ["input", "items", "0", "quantity"].'
    )
    current_version: int | None = strawberry.field(description="Set with VERSION_CONFLICT.")
    allowed_transitions: list[MainStatus] | None = strawberry.field(
        description="Set with INVALID_TRANSITION."
    )

    @classmethod
    def of(cls, error: errors.OrderError) -> OrderErrorType:
        return cls(
            code=error.code,
            message=error.message,
            field=list(error.field) if error.field else None,
            current_version=error.current_version,
            allowed_transitions=(
                None if error.allowed_transitions is None else list(error.allowed_transitions)
            ),
        )


def counted(rejected: errors.Rejected) -> tuple[errors.OrderError, ...]:
    """A refusal's errors, counted in the metrics as they go out in a payload."""
    for error in rejected.errors:
        ERRORS.labels(error.code.value).inc()
    return rejected.errors


def payload_errors(rejected: errors.Rejected) -> list[OrderErrorType]:
    return [OrderErrorType.of(error) for error in counted(rejected)]


def query_error(code: errors.ErrorCode, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": str(code)})


def bad_input(message: str) -> GraphQLError:
    return query_error(errors.ErrorCode.VALIDATION, message)
