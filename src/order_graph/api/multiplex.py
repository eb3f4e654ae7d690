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

On a websocket, an error-free shared event does not go back through strawberry at all: the
subscription's source stream (`cancellable_iterable`) sends it as a ready-made frame of the
operation (`api/websocket.py`) and passes on only what needs strawberry's path: the
operation's first result (which teaches the frame its suffix), results with errors, events of
no cohort. Order holds, since the next event is not taken before the last one was sent.

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
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

import orjson
from graphql import ExecutionResult, GraphQLError
from graphql.execution.executor import Executor
from graphql.language import FieldNode, Node, VariableNode, visit
from graphql.language.visitor import Visitor
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from order_graph.api.events import OrderEvent
from order_graph.api.loaders import Loaders
from order_graph.api.websocket import OPERATION_FRAMES, Frames
from order_graph.domain.model import EventRecord
from order_graph.ops.metrics import SUBSCRIPTION_EXECUTIONS
from order_graph.storage.database import Database

# Rendered events kept per cohort: enough for members a little apart to share, bounded so a
# cohort holds little memory; a member further behind renders again (the same answer).
RENDERED_PER_COHORT = 512

T = TypeVar("T")


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
    text: str | None  # the data as JSON text, for a ready-made frame (None: has errors)

    def result(self) -> ExecutionResult:
        # A fresh result and error list per member: the error policy masks them in place.
        return ExecutionResult(cast(Any, self.data), list(self.errors) if self.errors else None)


class Cohort:
    """The subscribers that receive the same bytes for the same event."""

    __slots__ = ("__weakref__", "_rendered")

    def __init__(self) -> None:
        self._rendered: OrderedDict[int, Rendered | asyncio.Task[Rendered]] = OrderedDict()

    async def render(self, position: int, execute: Callable[[], Any]) -> Rendered:
        found = self._rendered.get(position)
        if isinstance(found, Rendered):
            return found  # the common case: another member rendered it already
        if found is None:
            result = execute()
            if not isinstance(result, Awaitable):  # executed at once: no task, no waiting
                rendered = _rendering(result)
                self._keep(position, rendered)
                return rendered
            found = asyncio.ensure_future(_awaited(result))
            self._keep(position, found)
        try:
            # Shielded: a member that leaves mid-render does not cancel it for the others.
            rendered = await asyncio.shield(found)
        except Exception:
            if self._rendered.get(position) is found:
                del self._rendered[position]  # the next member tries again
            raise
        if self._rendered.get(position) is found:
            self._rendered[position] = rendered
        return rendered

    def _keep(self, position: int, rendered: Rendered | asyncio.Task[Rendered]) -> None:
        self._rendered[position] = rendered
        if len(self._rendered) > RENDERED_PER_COHORT:
            self._rendered.popitem(last=False)


async def _awaited(result: Awaitable[Any]) -> Rendered:
    return _rendering(await result)


def _rendering(result: Any) -> Rendered:
    assert isinstance(result, ExecutionResult)
    if result.data is None:
        return Rendered(None, tuple(result.errors or ()), None)
    encoded = orjson.dumps(result.data)
    text = None if result.errors else encoded.decode()
    return Rendered(orjson.Fragment(encoded), tuple(result.errors or ()), text)


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
    # Positions are per database: two apps in one process (the tests) never share renderings.
    log = id(executor.context_value.db)
    return (log, response_key, tuple(texts), variables, visibility)


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, rendering each `Delivery` once per cohort."""

    _cohort: Cohort | None

    def cohort(self) -> Cohort | None:
        if not hasattr(self, "_cohort"):
            self._cohort = cohort_of(self)  # once per subscription, on its first event
        return self._cohort

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        if not isinstance(payload, Delivery):
            return super().build_per_event_executor(payload)
        self.cohort()
        return _DeliveryExecution(self, payload)  # type: ignore[return-value]

    def cancellable_iterable(self, iterable: AsyncIterable[T]) -> AsyncIterable[T]:
        stream = super().cancellable_iterable(iterable)
        frames = OPERATION_FRAMES.get()
        if frames is None:  # not a websocket operation (SSE, multipart): strawberry's path
            return stream
        return self._ready_made(stream, frames)

    async def _ready_made(self, stream: AsyncIterable[T], frames: Frames) -> AsyncIterator[T]:
        """The source stream, minus the cohort events sent as ready-made frames: what is left
        (a first result, results with errors, events of no cohort) takes strawberry's path,
        in order, since the next event is not taken before the last one was sent."""
        async with aclosing(cast(AsyncGenerator[T, None], stream)):
            async for payload in stream:
                if isinstance(payload, Delivery) and frames.ready:
                    cohort = self.cohort()
                    if cohort is not None:
                        execute = partial(self.render, payload)
                        rendered = await cohort.render(payload.event.position, execute)
                        if rendered.text is not None:
                            await frames.send(rendered.text)
                            continue
                yield payload

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
