"""The NATS relay against the real JetStream server and PostgreSQL: exactly once per shape, in
log order, across SIGKILL, with two relays, and through a NATS outage."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import nats
import orjson
import pytest
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from order_graph.api import ids
from order_graph.api.events import position_of
from order_graph.app import create_app
from order_graph.config import Settings
from order_graph.domain.access import Principal
from order_graph.domain.changes import CancelItems, LineQuantity
from order_graph.domain.model import (
    Channel,
    CreateOrder,
    DiscountInput,
    DiscountKind,
    FulfillmentType,
    ItemInput,
)
from order_graph.domain.status import MainStatus
from order_graph.events.log import EventQuery, prune, read_after
from order_graph.relay.messages import read_batch
from order_graph.relay.publisher import StreamMisconfigured, connected
from order_graph.relay.runner import run_relay
from order_graph.relay.settings import RelaySettings
from order_graph.relay.state import load_position
from order_graph.relay.subjects import (
    Shape,
    is_subject_token,
    msg_id,
    store_id_of,
    store_token,
    stream_subjects,
    subject,
)
from order_graph.service import OrderService
from order_graph.storage.database import Database
from order_graph.storage.orders import items_by_order
from tests.conftest import FRAGMENTS, fresh_database
from tests.integration.conftest import (
    PrivateNats,
    Received,
    RelayProcess,
    StreamName,
    eventually,
    free_port,
    read_stream,
    stream_count,
)

pytestmark = pytest.mark.postgres

ACTOR = Principal.trusted("relay-test")
# Store ids a subject token cannot hold as they are: dots, wildcards, spaces, non-ASCII.
ODD_STORE = "sh.jingan *>~ 001 门店"


@pytest.fixture(scope="module")
async def postgres_url() -> AsyncIterator[str]:
    """A database of this module's own: a relay publishes the whole log, so the events other
    test modules leave behind would only slow it down."""
    async with fresh_database() as url:
        yield url


# --- Making real changes --------------------------------------------------------------------


@pytest.fixture
async def service(postgres_url: str) -> AsyncIterator[OrderService]:
    db = Database(postgres_url)
    service = OrderService(db)
    await service.define_sub_status(ACTOR, MainStatus.PAID, "WAITING_POS_ACK", None)
    yield service
    await db.dispose()


async def read_items(service: OrderService, order_id: int) -> list[int]:
    async with service.db.read() as conn:
        return [item.id for item in (await items_by_order(conn, [order_id]))[order_id]]


def _command(store_id: str) -> CreateOrder:
    return CreateOrder(
        store_id=store_id,
        channel=Channel.POS,
        fulfillment_type=FulfillmentType.PICKUP,
        currency="CNY",
        items=(ItemInput("latte", "Latte", 2, Decimal("28.00")),),
    )


async def order_story(service: OrderService, store_id: str) -> int:
    """One order's life in six events: every event type once."""
    order, _ = await service.create_order(ACTOR, _command(store_id), None)
    discount = DiscountInput(DiscountKind.COUPON, Decimal("5.00"), "WELCOME5")
    await service.replace_discounts(ACTOR, order.id, (discount,), None)
    await service.transition(ACTOR, order.id, MainStatus.PAID, None, None, None, None)
    [latte] = await read_items(service, order.id)
    cancel = CancelItems((LineQuantity(latte, 1),), "Out of stock", Decimal("25.50"))
    await service.cancel_items(ACTOR, order.id, cancel, None, None)
    await service.set_sub_status(ACTOR, order.id, "WAITING_POS_ACK", None, None)
    await service.update_order(ACTOR, order.id, "no sugar", None, None)
    return order.id


async def order_stories(service: OrderService, stores: list[str], count: int) -> list[int]:
    """`count` stories, four at a time so different orders' events interleave in the log."""
    made: list[int] = []
    for start in range(0, count, 4):
        chunk = [stores[i % len(stores)] for i in range(start, min(start + 4, count))]
        made += await asyncio.gather(*(order_story(service, store) for store in chunk))
    return made


@asynccontextmanager
async def writing(service: OrderService, stores: list[str]) -> AsyncIterator[None]:
    """Keeps changing orders in the background until the block ends."""
    done = asyncio.Event()

    async def write() -> None:
        while not done.is_set():
            await order_stories(service, stores, 4)

    writer = asyncio.create_task(write())
    try:
        yield
    finally:
        done.set()
        await writer


async def log_positions(service: OrderService) -> list[int]:
    async with service.db.read() as conn:
        return [e.position for e in await read_after(conn, 0, EventQuery(), 1_000_000)]


async def published_in_full(service: OrderService, url: str, stream: str, what: str) -> list[int]:
    """Waits until the stream holds both shapes of every event in the log; returns the log."""
    positions = await log_positions(service)

    async def done() -> bool:
        return await stream_count(url, stream) >= 2 * len(positions)

    await eventually(done, what)
    return positions


# --- Checking the stream ----------------------------------------------------------------------


def shape_of(received: Received, prefix: str) -> Shape:
    return Shape(received.subject.split(".")[len(prefix.split("."))])


def assert_exactly_once_in_order(
    received: list[Received], positions: list[int], prefix: str
) -> None:
    """Each shape holds every log position once, in log order, under its subject and id."""
    assert len(received) == 2 * len(positions)
    by_cursor: dict[str, dict[Shape, dict[str, Any]]] = {}
    for shape in Shape:
        mine = [r for r in received if shape_of(r, prefix) is shape]
        assert [position_of(r.body["cursor"]) for r in mine] == positions, shape
        versions: dict[str, int] = {}
        for r in mine:
            body = r.body
            assert r.msg_id == msg_id(body["cursor"], shape)
            assert r.subject == subject(prefix, shape, body["storeId"], body["type"])
            assert body["version"] > versions.get(body["orderId"], 0), "version order per order"
            versions[body["orderId"]] = body["version"]
            by_cursor.setdefault(body["cursor"], {})[shape] = body
    for shapes in by_cursor.values():
        fat = dict(shapes[Shape.FAT])
        assert fat.pop("order")["id"] == fat["orderId"]
        assert fat == shapes[Shape.SKINNY]


async def settle(relay: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.wait_for(relay, 15)


def relay_settings(postgres_url: str, nats_url: str, name: StreamName) -> RelaySettings:
    return RelaySettings(
        database_url=postgres_url,
        nats_url=nats_url,
        nats_stream=name.stream,
        nats_subject_prefix=name.prefix,
        nats_timeout_seconds=1,
        relay_batch_size=20,
        relay_poll_seconds=0.05,
        relay_backoff_initial_seconds=0.05,
        relay_backoff_max_seconds=0.5,
    )


# --- Subjects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "store_id", ["sh-jingan-001", ODD_STORE, "a.b", "~7E", "~", "", "x" * 128, "\t\n"]
)
def test_store_ids_become_one_subject_token_and_come_back(store_id: str) -> None:
    token = store_token(store_id)
    assert is_subject_token(token)
    assert store_id_of(token) == store_id


def test_plain_store_ids_stay_readable() -> None:
    assert store_token("sh-jingan_001") == "sh-jingan_001"
    assert subject("orders", Shape.FAT, "sh.jingan", "CREATED") == "orders.fat.sh~2Ejingan.CREATED"


# --- The relay --------------------------------------------------------------------------------


@pytest.fixture
def stores(store_id: str) -> list[str]:
    return [store_id, f"{store_id}-b", f"{ODD_STORE} {store_id}"]


async def test_every_event_once_per_shape_in_order_and_fat_is_the_api_order(
    postgres_url: str,
    nats_url: str,
    stream_name: StreamName,
    service: OrderService,
    stores: list[str],
) -> None:
    orders = await order_stories(service, stores, 8)
    stop = asyncio.Event()
    relay = asyncio.create_task(
        run_relay(relay_settings(postgres_url, nats_url, stream_name), stop)
    )
    orders += await order_stories(service, stores, 8)  # while it runs
    positions = await published_in_full(
        service, nats_url, stream_name.stream, "every event in both shapes"
    )
    await settle(relay, stop)

    received = await read_stream(nats_url, stream_name.stream)
    assert_exactly_once_in_order(received, positions, stream_name.prefix)
    assert {store_id_of(r.subject.split(".")[-2]) for r in received} >= set(stores)
    # The orders are unchanged since their last event: its fat message is what the API says.
    latest = {r.body["orderId"]: r.body["order"] for r in received if r.body.get("order")}
    app = create_app(Settings(database_url=postgres_url, auth="off"))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            for order_id in orders:
                public_id = ids.encode("Order", order_id)
                query = FRAGMENTS + "query($id: ID!) { order(id: $id) { ...OrderFull } }"
                response = await http.post(
                    "/graphql", json={"query": query, "variables": {"id": public_id}}
                )
                assert latest[public_id] == response.json()["data"]["order"]
    finally:
        await app.state.db.dispose()


async def test_relay_killed_mid_stream_and_restarted_publishes_exactly_once(
    nats_url: str,
    stream_name: StreamName,
    service: OrderService,
    stores: list[str],
    relay_processes: Any,
) -> None:
    await order_stories(service, stores, 24)
    backlog = 2 * len(await log_positions(service))
    first: RelayProcess = relay_processes()
    async with writing(service, stores):
        await first.start()

        async def publishing() -> bool:
            return await stream_count(nats_url, stream_name.stream) >= 60

        await eventually(publishing, "the relay to be publishing")
        await first.kill()
        at_kill = await stream_count(nats_url, stream_name.stream)
        assert at_kill < backlog, "killed too late to be mid-stream"
        second: RelayProcess = relay_processes()
        await second.start()
    positions = await published_in_full(
        service, nats_url, stream_name.stream, "the restarted relay to catch up"
    )
    assert await second.stop() == 0
    received = await read_stream(nats_url, stream_name.stream)
    assert_exactly_once_in_order(received, positions, stream_name.prefix)


async def test_the_relay_serves_its_lag_for_prometheus(
    nats_url: str,
    stream_name: StreamName,
    service: OrderService,
    stores: list[str],
    relay_processes: Any,
) -> None:
    await order_stories(service, stores, 3)
    port = free_port()
    relay: RelayProcess = relay_processes(ORDER_GRAPH_RELAY_METRICS_PORT=str(port))
    await relay.start()
    newest = (await log_positions(service))[-1]

    async def caught_up() -> bool:
        try:
            async with httpx.AsyncClient() as http:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        except httpx.TransportError:
            return False
        return (
            f"order_graph_relay_published_position {float(newest)}" in text
            and "order_graph_relay_lag 0.0" in text
        )

    await eventually(caught_up, "the relay's metrics to show it caught up")
    assert await relay.stop() == 0


async def test_two_relays_publish_once_and_the_standby_takes_over(
    nats_url: str,
    stream_name: StreamName,
    service: OrderService,
    stores: list[str],
    relay_processes: Any,
) -> None:
    relays: list[RelayProcess] = [relay_processes(), relay_processes()]
    await asyncio.gather(*(relay.start() for relay in relays))

    async def one_active() -> bool:
        return any("relay active" in relay.log() for relay in relays)

    async def one_standing_by() -> bool:
        return any("standing by" in relay.log() for relay in relays)

    await eventually(one_active, "one relay to become active")
    await eventually(one_standing_by, "the other relay to stand by")
    active, standby = relays if "relay active" in relays[0].log() else relays[::-1]
    assert "relay active" not in standby.log()

    async with writing(service, stores):

        async def publishing() -> bool:
            return await stream_count(nats_url, stream_name.stream) >= 60

        await eventually(publishing, "the active relay to publish")
        await active.kill()

        async def took_over() -> bool:
            return "relay active" in standby.log()

        await eventually(took_over, "the standby relay to take over", within=10)
    positions = await published_in_full(
        service, nats_url, stream_name.stream, "every event after the takeover"
    )
    assert await standby.stop() == 0
    received = await read_stream(nats_url, stream_name.stream)
    assert_exactly_once_in_order(received, positions, stream_name.prefix)


async def test_relay_waits_out_nats_being_unreachable_and_catches_up(
    postgres_url: str,
    private_nats: PrivateNats,
    stream_name: StreamName,
    service: OrderService,
    stores: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="order_graph.relay")
    settings = relay_settings(postgres_url, private_nats.url, stream_name)
    stop = asyncio.Event()
    relay = asyncio.create_task(run_relay(settings, stop))

    def unreachable_warnings() -> int:
        return sum("NATS unreachable" in record.getMessage() for record in caplog.records)

    def warned_after(seen: int) -> Callable[[], Awaitable[bool]]:
        async def warned() -> bool:
            return unreachable_warnings() > seen

        return warned

    async def all_published() -> bool:
        positions = await log_positions(service)
        return await stream_count(private_nats.url, stream_name.stream) >= 2 * len(positions)

    try:
        # Not there when the relay starts.
        await order_stories(service, stores, 4)
        await eventually(warned_after(0), "a warning that NATS is unreachable")
        await private_nats.start()
        await eventually(all_published, "catching up once NATS is up")

        # Goes away while the relay runs, and comes back with its stored stream.
        await private_nats.stop()
        seen = unreachable_warnings()
        await order_stories(service, stores, 4)
        await eventually(warned_after(seen), "a warning that NATS went away")
        await private_nats.start()
        await eventually(all_published, "catching up after NATS restarted")
        assert any("reachable again" in record.getMessage() for record in caplog.records)
    finally:
        await settle(relay, stop)

    received = await read_stream(private_nats.url, stream_name.stream)
    assert_exactly_once_in_order(received, await log_positions(service), stream_name.prefix)


def test_relay_settings_default_to_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NATS_URL", "NATS_STREAM", "NATS_SUBJECT_PREFIX"):
        monkeypatch.delenv(f"ORDER_GRAPH_{name}", raising=False)
    settings = RelaySettings()
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert settings.nats_stream == "ORDER_EVENTS"
    assert settings.nats_subject_prefix == "orders"


# --- The example sync program -----------------------------------------------------------------


def load_pos_sync() -> ModuleType:
    path = Path(__file__).parents[2] / "examples" / "pos_sync.py"
    spec = importlib.util.spec_from_file_location("pos_sync", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def test_pos_sync_example_applies_its_store_and_resumes_where_it_left_off(
    postgres_url: str,
    nats_url: str,
    stream_name: StreamName,
    service: OrderService,
    store_id: str,
    tmp_path: Path,
) -> None:
    pos_sync = load_pos_sync()
    mine, other = f"{ODD_STORE} {store_id}", f"{store_id}-other"
    my_orders = await order_stories(service, [mine], 3)
    await order_stories(service, [other], 2)
    stop = asyncio.Event()
    relay = asyncio.create_task(
        run_relay(relay_settings(postgres_url, nats_url, stream_name), stop)
    )

    async def all_published() -> bool:
        positions = await log_positions(service)
        return await stream_count(nats_url, stream_name.stream) >= 2 * len(positions)

    app = create_app(Settings(database_url=postgres_url, auth="off"))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:

            async def run_sync(state: str) -> int:
                options = pos_sync.parse_options(
                    [
                        *("--store", mine, "--graphql-url", "http://api/graphql"),
                        *("--nats-url", nats_url, "--stream", stream_name.stream),
                        *("--prefix", stream_name.prefix, "--once"),
                        *("--state-file", str(tmp_path / state)),
                    ]
                )
                options = dataclasses.replace(options, wait_seconds=0.5)
                applied: int = await pos_sync.sync(options, http)
                return applied

            await eventually(all_published, "the relay to publish the stories")
            assert await run_sync("pos.json") == len(my_orders)
            state = orjson.loads((tmp_path / "pos.json").read_bytes())
            assert state == {ids.encode("Order", order): 6 for order in my_orders}

            await service.update_order(ACTOR, my_orders[0], "extra hot", None, None)
            await eventually(all_published, "the relay to publish the change")
            # A fresh POS state: only what the durable consumer has not acknowledged arrives.
            assert await run_sync("fresh.json") == 1
            fresh = orjson.loads((tmp_path / "fresh.json").read_bytes())
            assert fresh == {ids.encode("Order", my_orders[0]): 7}
    finally:
        await settle(relay, stop)
        await app.state.db.dispose()


# --- Resuming exactly -------------------------------------------------------------------------


async def test_a_republished_message_is_dropped_by_its_msg_id(
    postgres_url: str, nats_url: str, stream_name: StreamName, service: OrderService
) -> None:
    await order_stories(service, [ODD_STORE], 1)
    settings = relay_settings(postgres_url, nats_url, stream_name)
    async with connected(settings) as publisher:
        await publisher.ensure_stream()
        (event,) = await read_batch(service.db, service, 0, 1)
        for _ in range(2):
            for shape in Shape:
                await publisher.publish(event, shape)
    assert await stream_count(nats_url, stream_name.stream) == 2


async def test_relay_resumes_after_what_the_stream_holds_not_just_its_saved_position(
    postgres_url: str,
    nats_url: str,
    stream_name: StreamName,
    service: OrderService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A relay that crashed after JetStream's acks but before saving its position (maybe longer
    ago than the duplicate window): the next one starts after the stream's last message, also
    when an event's skinny message made it and its fat one did not."""
    caplog.set_level(logging.INFO, logger="order_graph.relay")
    await order_stories(service, [ODD_STORE], 2)
    settings = relay_settings(postgres_url, nats_url, stream_name)
    async with connected(settings) as publisher:
        await publisher.ensure_stream()
        first, second, third = await read_batch(service.db, service, 0, 3)
        for event in (first, second):
            for shape in Shape:
                await publisher.publish(event, shape)
        await publisher.publish(third, Shape.SKINNY)
    stop = asyncio.Event()
    relay = asyncio.create_task(run_relay(settings, stop))
    positions = await published_in_full(
        service, nats_url, stream_name.stream, "the relay to publish the rest"
    )
    await settle(relay, stop)
    resumed = f"already holds position {third.position} (skinny), saved was 0"
    assert any(resumed in record.getMessage() for record in caplog.records)
    received = await read_stream(nats_url, stream_name.stream)
    # The third event's fat message came after the skinny one, as always, just later.
    assert_exactly_once_in_order(received, positions, stream_name.prefix)


async def test_a_stream_config_the_server_refuses_stops_the_relay(
    postgres_url: str, nats_url: str, stream_name: StreamName
) -> None:
    settings = relay_settings(postgres_url, nats_url, stream_name)
    settings = settings.model_copy(update={"nats_duplicate_window_seconds": 0.001})
    with pytest.raises(StreamMisconfigured, match="duplicates window"):
        await asyncio.wait_for(run_relay(settings), 10)


async def test_relay_on_the_embedded_sqlite_database(
    sqlite_url: str, nats_url: str, stream_name: StreamName
) -> None:
    db = Database(sqlite_url)
    service = OrderService(db)
    try:
        await service.define_sub_status(ACTOR, MainStatus.PAID, "WAITING_POS_ACK", None)
        await order_stories(service, [ODD_STORE], 2)
        stop = asyncio.Event()
        relay = asyncio.create_task(
            run_relay(relay_settings(sqlite_url, nats_url, stream_name), stop)
        )
        positions = await published_in_full(
            service, nats_url, stream_name.stream, "the relay to publish from SQLite"
        )
        await settle(relay, stop)
        async with db.read() as conn:
            assert await load_position(conn, stream_name.stream) == positions[-1]
    finally:
        await db.dispose()
    received = await read_stream(nats_url, stream_name.stream)
    assert_exactly_once_in_order(received, positions, stream_name.prefix)


async def test_events_pruned_before_publishing_are_skipped_loudly_not_forever(
    postgres_url: str,
    nats_url: str,
    stream_name: StreamName,
    service: OrderService,
    stores: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with service.db.write() as conn:  # whatever earlier tests left: out of the way
        await prune(conn, datetime.now(UTC) + timedelta(days=1))
    await order_stories(service, stores, 2)
    async with service.db.write() as conn:  # retention shorter than the relay's absence
        await prune(conn, datetime.now(UTC) + timedelta(days=1))
    await order_stories(service, stores, 1)
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, logger="order_graph.relay.messages"):
        relay = asyncio.create_task(
            run_relay(relay_settings(postgres_url, nats_url, stream_name), stop)
        )

        kept = await published_in_full(
            service, nats_url, stream_name.stream, "the relay to publish what is retained"
        )
        await settle(relay, stop)
    received = await read_stream(nats_url, stream_name.stream)
    assert_exactly_once_in_order(received, kept, stream_name.prefix)
    assert any("never reach NATS" in record.getMessage() for record in caplog.records)


# --- Publishing with many messages in flight ------------------------------------------------


async def test_a_publish_refused_mid_batch_loses_nothing_repeats_nothing_keeps_order_per_order(
    postgres_url: str,
    nats_url: str,
    stream_name: StreamName,
    service: OrderService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A real JetStream refusal in the middle of a window: the stream takes one message per
    subject, and one is taken already, so an order's skinny CREATED is refused while its later
    events, on subjects still free, could be stored. Once the limit is lifted, every event is
    there once per shape, and each order's events in version order."""
    caplog.set_level(logging.WARNING, logger="order_graph.relay")
    store = f"refusing-{uuid.uuid4().hex[:6]}"
    await order_story(service, store)
    limited = StreamConfig(
        name=stream_name.stream,
        subjects=stream_subjects(stream_name.prefix),
        storage=StorageType.MEMORY,
        discard=DiscardPolicy.NEW,
        discard_new_per_subject=True,
        max_msgs_per_subject=1,
    )
    client = await nats.connect(nats_url)
    js = client.jetstream()
    await js.add_stream(limited)
    taken = subject(stream_name.prefix, Shape.SKINNY, store, "CREATED")
    await js.publish(taken, b"{}", headers={"Nats-Msg-Id": "not-the-relay"})
    settings = relay_settings(postgres_url, nats_url, stream_name)
    stop = asyncio.Event()
    relay = asyncio.create_task(run_relay(settings, stop))

    async def refused() -> bool:
        return any("maximum messages per subject" in r.getMessage() for r in caplog.records)

    try:
        await eventually(refused, "JetStream refusing a message")
        lifted = dataclasses.replace(
            limited, max_msgs_per_subject=-1, discard_new_per_subject=False
        )
        await js.update_stream(lifted)
        positions = await log_positions(service)

        async def all_there() -> bool:
            return await stream_count(nats_url, stream_name.stream) >= 2 * len(positions) + 1

        await eventually(all_there, "every message once the limit is lifted")
        await settle(relay, stop)
        received = [
            r
            for r in await read_stream(nats_url, stream_name.stream)
            if r.msg_id != "not-the-relay"
        ]
    finally:
        stop.set()
        await client.close()

    ids_ = [r.msg_id for r in received]
    assert len(ids_) == len(set(ids_)), "no message twice"
    for shape in Shape:
        mine = [r.body for r in received if shape_of(r, stream_name.prefix) is shape]
        assert sorted(position_of(body["cursor"]) for body in mine) == positions, shape
        versions: dict[str, list[int]] = {}
        for body in mine:
            versions.setdefault(body["orderId"], []).append(body["version"])
        assert all(v == sorted(v) for v in versions.values()), "version order per order"
