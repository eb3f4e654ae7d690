"""Shared execution of subscriptions: one execution and one serialised payload per event for
every subscriber that would receive the same thing.

GraphQL executes a subscription's selection once per event per subscriber; with a thousand
screens following the same stores that is most of a server's CPU. Here, as Hasura multiplexes
its subscriptions, subscribers fall into *cohorts*: the same selection under `orderEvents` (the
same text at the same place, with the same fragments), the same values of the variables that
selection uses, and callers who may see the same things (the same scopes and the same store
binding, the two inputs of the access gate). A cohort executes an event once, serialises its
data once, and every member sends that payload under its own operation id. What a subscriber
*receives* (its filter, its `after`, its cursor) is not part of the key: each member still
follows the log by its own cursor (`events/hub.py`), so resuming, exactly-once and a slow
member holding nothing are as before; only the rendering of an event is shared.

Errors are shared raw and masked per subscriber by the error policy, as any result is (the
masked message names the subscriber's own request). A document whose selection cannot be
keyed (no source locations) is executed per subscriber, as before.

Fat subscriptions share their loads as well: every subscriber woken by one read of the hub
(`Batch.generation`) uses the same loaders, so the orders of that read, and the lists under
them, are fetched once, whatever the number of subscribers and cohorts.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import orjson
from graphql import ExecutionResult, GraphQLError
from graphql.execution.executor import Executor
from graphql.language import FieldNode, Node, VariableNode, visit
from graphql.language.visitor import Visitor
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from order_graph.api.events import OrderEvent
from order_graph.api.loaders import Loaders
from order_graph.domain.model import EventRecord
from order_graph.ops.metrics import SUBSCRIPTION_EXECUTIONS
from order_graph.storage.database import Database

# Rendered events kept per cohort: enough for members a little apart to share, bounded so a
# cohort holds little memory; a member further behind renders again (the same answer).
RENDERED_PER_COHORT = 512


@dataclass(frozen=True, slots=True)
class Delivery:
    """What `orderEvents` yields for each event: the event and the loaders of its batch."""

    event: EventRecord
    loaders: Loaders

    def as_graphql(self) -> OrderEvent:
        return OrderEvent.of(self.event, self.loaders)


@dataclass(frozen=True, slots=True)
class Rendered:
    data: orjson.Fragment | None
    errors: tuple[GraphQLError, ...]

    def result(self) -> ExecutionResult:
        # A fresh result and error list per member: the error policy masks them in place.
        return ExecutionResult(cast(Any, self.data), list(self.errors) if self.errors else None)


class Cohort:
    """The subscribers that receive the same bytes for the same event."""

    __slots__ = ("__weakref__", "_rendered")

    def __init__(self) -> None:
        self._rendered: OrderedDict[int, asyncio.Task[Rendered]] = OrderedDict()

    async def render(self, position: int, execute: Callable[[], Any]) -> Rendered:
        task = self._rendered.get(position)
        if task is None:
            task = asyncio.ensure_future(_rendered(execute))
            self._rendered[position] = task
            if len(self._rendered) > RENDERED_PER_COHORT:
                self._rendered.popitem(last=False)
        try:
            # Shielded: a member that leaves mid-render does not cancel it for the others.
            return await asyncio.shield(task)
        except Exception:
            if self._rendered.get(position) is task:
                del self._rendered[position]  # the next member tries again
            raise


async def _rendered(execute: Callable[[], Any]) -> Rendered:
    result = execute()
    if isinstance(result, Awaitable):
        result = await result
    assert isinstance(result, ExecutionResult)
    data = None if result.data is None else orjson.Fragment(orjson.dumps(result.data))
    return Rendered(data, tuple(result.errors or ()))


_cohorts: weakref.WeakValueDictionary[tuple[object, ...], Cohort] = weakref.WeakValueDictionary()


def cohort_of(executor: Executor[Any]) -> Cohort | None:
    key = cohort_key(executor)
    if key is None:
        return None
    cohort = _cohorts.get(key)
    if cohort is None:
        cohort = _cohorts[key] = Cohort()
    return cohort


class _Variables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: VariableNode, *_args: Any) -> None:
        self.names.add(node.name.value)


def _text(node: Node) -> tuple[str, int, int] | None:
    loc = node.loc
    if loc is None:
        return None
    return loc.source.body[loc.start : loc.end], loc.start_token.line, loc.start_token.column


def cohort_key(executor: Executor[Any]) -> tuple[object, ...] | None:
    """What decides the bytes a subscriber gets for an event, or None if it cannot be told."""
    principal = getattr(executor.context_value, "principal", None)
    selections = executor.operation.selection_set.selections
    if principal is None or len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    field = selections[0]
    if field.selection_set is None:
        return None
    # The response key, the selection (located: error locations are part of the answer), the
    # directives of the field and of the operation, and every fragment of the document.
    parts: list[Node] = [field.selection_set, *(field.directives or ())]
    parts.extend(executor.operation.directives or ())
    parts.extend(executor.fragment_definitions[name] for name in sorted(executor.fragments))
    texts = [_text(part) for part in parts]
    if any(text is None for text in texts):
        return None
    used = _Variables()
    for part in parts:
        visit(part, used)
    values = executor.variable_values.coerced
    variables = tuple(sorted((name, repr(values.get(name))) for name in used.names))
    response_key = (field.alias or field.name).value
    visibility = (principal.scopes, principal.store_ids)
    return (response_key, tuple(texts), variables, visibility)


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, rendering each `Delivery` once per cohort."""

    _cohort: Cohort | None

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        if not isinstance(payload, Delivery):
            return super().build_per_event_executor(payload)
        if not hasattr(self, "_cohort"):
            self._cohort = cohort_of(self)  # once per subscription, on its first event
        return _DeliveryExecution(self, payload)  # type: ignore[return-value]

    def render(self, delivery: Delivery) -> Any:
        """The event executed for this subscription alone (once per cohort when shared)."""
        executor = super().build_per_event_executor(delivery.as_graphql())
        SUBSCRIPTION_EXECUTIONS.inc()
        return executor.execute_operation(False)


class _DeliveryExecution:
    """What graphql-core runs for one event of one subscriber: the cohort's rendering when
    there is one (no copy of the executor, no execution), else a plain execution."""

    __slots__ = ("delivery", "subscription")

    def __init__(self, subscription: SharedEventExecutor, delivery: Delivery) -> None:
        self.subscription = subscription
        self.delivery = delivery

    def execute_operation(self, serially: bool | None = None) -> Any:
        cohort = self.subscription._cohort
        if cohort is None:
            return self.subscription.render(self.delivery)
        return self._shared(cohort)

    async def _shared(self, cohort: Cohort) -> ExecutionResult:
        # Executed only if no member of the cohort has rendered this event yet.
        execute = partial(self.subscription.render, self.delivery)
        return (await cohort.render(self.delivery.event.position, execute)).result()


# The loaders of the newest hub read, per hub: every subscriber woken by that read uses them.
_shared_loaders: weakref.WeakKeyDictionary[object, tuple[int, Loaders]] = (
    weakref.WeakKeyDictionary()
)


def loaders_for(hub: object, db: Database, generation: int | None) -> Loaders:
    """Loaders for a batch: shared by everyone receiving events of the same hub read (the
    orders are loaded after every event of that read committed, so they are as new as those
    events at least); fresh for a batch a subscriber read from the table on its own."""
    if generation is None:
        return Loaders(db)
    shared = _shared_loaders.get(hub)
    if shared is None or shared[0] != generation:
        shared = _shared_loaders[hub] = (generation, Loaders(db))
    return shared[1]
