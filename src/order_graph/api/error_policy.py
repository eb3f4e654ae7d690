"""One policy for every error that leaves the service, on every transport.

An error is either meant for the caller, or it is not. A caller's error (a GraphQL syntax,
validation or coercion error, a domain error, a refused request) passes as it is, without field
suggestions in production. Anything else is masked: `UNAVAILABLE` when the database is away or
overloaded (worth retrying), `INTERNAL` otherwise, each with the request id; the log gets it
once under that id, with its traceback.

The GraphQL transports apply it through `ApplyErrorPolicy` (every result, streamed ones
included), the ASGI edge through `api/catch_all.py`, and the code around the pipeline (the key
lookup before execution, the websocket handshake) through the same functions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, Literal

from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

logger = logging.getLogger("order_graph.errors")

Verdict = Literal["caller", "unavailable", "internal"]

UNAVAILABLE_MESSAGE = "The database is unavailable; retry shortly."
INTERNAL_MESSAGE = "Unexpected error."
# SQLSTATE classes and codes that mean "the database cannot serve now", not "this is wrong":
# connection exceptions, insufficient resources (too many clients, out of memory, disk full),
# shutting down or starting up, and a statement cancelled by its timeout.
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P0")
_UNAVAILABLE_SQLSTATES = frozenset({"57014"})
_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


# What strawberry raises for a request that cannot run as sent (no query, an unknown operation
# name, a query on the legacy protocol, which carries subscriptions only): the caller's.
_CALLERS_ERRORS = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)


class Refusal(Exception):
    """A request refused for a reason of the caller's own, outside GraphQL execution: the edge
    answers it with `status` over HTTP, or closes a websocket with `close_code`."""

    def __init__(self, message: str, code: str, status: int, close_code: int = 4400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.close_code = close_code


def cause_of(error: GraphQLError) -> BaseException | None:
    """The exception behind a GraphQL error, through any re-wrapping; None for an error that
    GraphQL or our own code raised for the caller."""
    original = error.original_error
    while isinstance(original, GraphQLError):
        original = original.original_error
    return original


def judge(error: BaseException) -> Verdict:
    """An exception as such: a refusal is the caller's; anything else is not."""
    if isinstance(error, (Refusal, *_CALLERS_ERRORS)):
        return "caller"
    return "unavailable" if is_unavailable(error) else "internal"


def verdict(error: GraphQLError) -> Verdict:
    """A GraphQL error, by the exception behind it, if any."""
    cause = cause_of(error)
    return "caller" if cause is None else judge(cause)


def _sqlstate(error: BaseException) -> str | None:
    seen: BaseException | None = error
    for _ in range(5):  # the driver's error sits under SQLAlchemy's, maybe under an adapter's
        if seen is None:
            return None
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str):
            return state
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def is_unavailable(error: BaseException) -> bool:
    """The database could not be reached, dropped the connection, or is out of capacity."""
    state = _sqlstate(error)
    if state is not None and (
        state.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES) or state in _UNAVAILABLE_SQLSTATES
    ):
        return True
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
    return isinstance(error, OSError | TimeoutError | PoolTimeout)


def without_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


def masked(judged: Verdict, request_id: str | None) -> tuple[str, dict[str, Any]]:
    """The message and extensions a caller sees for an error that is not theirs."""
    if judged == "unavailable":
        return UNAVAILABLE_MESSAGE, {"code": "UNAVAILABLE", "requestId": request_id}
    return INTERNAL_MESSAGE, {"code": "INTERNAL", "requestId": request_id}


def public_error(error: GraphQLError, request_id: str | None, production: bool) -> GraphQLError:
    """What the caller may see of `error`. `error` itself is never changed: cached validation
    errors are shared between requests."""
    judged = verdict(error)
    if judged == "caller":
        if not production or "Did you mean" not in error.message:
            return error
        return GraphQLError(
            without_suggestions(error.message),
            error.nodes,
            error.source,
            error.positions,
            error.path,
            extensions=error.extensions,
        )
    message, extensions = masked(judged, request_id)
    return GraphQLError(
        message, error.nodes, error.source, error.positions, error.path, extensions=extensions
    )


def record(error: GraphQLError | Exception, request_id: str | None, where: object = None) -> None:
    """Logs an error that is not the caller's, once, with its traceback: a warning for an
    unavailable database, an error for anything else. A caller's error is not logged."""
    if isinstance(error, GraphQLError):
        judged, cause = verdict(error), cause_of(error)
    else:
        judged, cause = judge(error), error
    if judged == "caller" or cause is None:
        return
    at = "" if where is None else f" at {where}"
    if judged == "unavailable":
        summary = str(cause).partition("\n")[0][:300]
        logger.warning(
            "database unavailable in request %s%s: %s: %s",
            request_id,
            at,
            type(cause).__name__,
            summary,
            exc_info=cause,
        )
    else:
        logger.error("unexpected error in request %s%s", request_id, at, exc_info=cause)


class ApplyErrorPolicy(MaskErrors):
    """Applies `public_error` to every result, HTTP and streamed (websocket) alike."""

    def __init__(self, production: bool, request_id: Callable[[object], str | None]) -> None:
        super().__init__()
        self.production = production
        self.request_id = request_id

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        request_id = self.request_id(self.execution_context.context)
        return [public_error(error, request_id, self.production) for error in errors]
