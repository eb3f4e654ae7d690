"""Faults against a real server as production runs it (auth on, real keys, PostgreSQL through
a TCP proxy): every request answers within seconds with the error policy's codes, and the
service recovers by itself."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
import httpx
import pytest
from gql.transport.exceptions import TransportError, TransportQueryError
from sqlalchemy.engine import make_url

from order_graph.domain.access import Principal, Scope
from order_graph.events.listener import asyncpg_dsn
from order_graph.service import utc_now
from order_graph.storage import clients
from order_graph.storage.database import Database
from tests.api.test_unexpected_errors import LEAKS
from tests.conftest import fresh_database
from tests.support.clients import LEGACY_WS, TRANSPORT_WS, close_frame, subscribe, ws_session
from tests.support.servers import Server, server_in_background
from tests.support.tcp_proxy import Proxy, proxy_to

READ = "{ orders(first: 1) { edges { cursor } } }"
# Read by the standard executor through the pool (compiled reads keep connections of their
# own, borrowed from it once): run three at once, and every pooled connection is open.
POOLED = "{ orderEvents(first: 1) { edges { cursor } } }"
EVENTS = "subscription { orderEvents { cursor } }"
STATEMENT_TIMEOUT = 2  # the driver gives up a second later
T = TypeVar("T")


@dataclass
class Faults:
    postgres_url: str
    proxy: Proxy
    server: Server
    cached_key: str = ""  # the server has looked it up before

    async def new_key(self) -> str:
        """A key the server has never seen: its lookup needs the database."""
        key = clients.new_key()
        principal = Principal(f"app-{uuid.uuid4().hex[:8]}", frozenset({Scope.ADMIN}))
        db = Database(self.postgres_url)
        try:
            async with db.write() as conn:
                await clients.create(conn, principal, key, utc_now())
        finally:
            await db.dispose()
        return key

    @property
    def readyz(self) -> str:
        return self.server.http_url.replace("/graphql", "/readyz")


SERVER_ENV = {
    "ORDER_GRAPH_AUTH": "required",
    "ORDER_GRAPH_ENV": "production",
    "ORDER_GRAPH_DB_POOL_SIZE": "3",
    "ORDER_GRAPH_DB_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT),
    "ORDER_GRAPH_AUTH_CACHE_SECONDS": "600",
    # No background user of the pool: the request under test is the first to meet a fault.
    "ORDER_GRAPH_DEADLINE_RUNNER": "false",
}


@pytest.fixture(scope="module")
async def faults() -> AsyncIterator[Faults]:
    async with fresh_database() as url, proxy_to("127.0.0.1", 5432) as proxy:
        via_proxy = make_url(url).set(port=proxy.port).render_as_string(False)
        async with server_in_background(via_proxy, **SERVER_ENV) as server:
            faults = Faults(url, proxy, server)
            faults.cached_key = await faults.new_key()
            async with httpx.AsyncClient(timeout=10) as http:
                assert code_of(await post(http, faults, READ, faults.cached_key)) == "ok"
            yield faults


@pytest.fixture
async def fault(faults: Faults) -> AsyncIterator[Faults]:
    """The database is healthy again after each test."""
    yield faults
    faults.proxy.release()
    faults.proxy.restore()


async def post(http: httpx.AsyncClient, faults: Faults, query: str, key: str) -> httpx.Response:
    return await http.post(
        faults.server.http_url, json={"query": query}, headers={"authorization": f"Bearer {key}"}
    )


def code_of(response: httpx.Response) -> str:
    """ "ok", or the code of the one error, after checking it is masked as the policy says."""
    assert response.headers["content-type"] == "application/json", response.text
    body = response.json()
    if "errors" not in body:
        return "ok"
    (error,) = body["errors"]
    assert error["extensions"]["requestId"] == response.headers["x-request-id"], error
    for leak in LEAKS:
        assert leak not in response.text
    return str(error["extensions"]["code"])


async def timed(request: Awaitable[T]) -> tuple[float, T]:
    began = time.monotonic()
    result = await request
    return time.monotonic() - began, result


async def until_served(http: httpx.AsyncClient, faults: Faults, key: str, within: float) -> float:
    """Seconds until a read succeeds again (no pause needed: a refused attempt is quick)."""
    began = time.monotonic()
    while code_of(await post(http, faults, READ, key)) != "ok":
        assert time.monotonic() - began < within, "the service did not recover"
    return time.monotonic() - began


async def test_a_silent_database_gets_fast_retryable_answers_and_a_fast_recovery(
    fault: Faults,
) -> None:
    new_key = await fault.new_key()
    async with httpx.AsyncClient(timeout=30) as http:
        fault.proxy.hold()  # packets go nowhere: no refusal, no answer
        (ready_s, ready), (cached_s, cached), (lookup_s, lookup) = await asyncio.gather(
            timed(http.get(fault.readyz)),
            timed(post(http, fault, READ, fault.cached_key)),
            timed(post(http, fault, READ, new_key)),
        )
        assert ready.status_code == 503
        assert ready_s < 1.5, ready_s  # 0.8 s by design; the rest is a busy machine's margin
        assert (cached.status_code, code_of(cached)) == (200, "UNAVAILABLE")
        assert (lookup.status_code, code_of(lookup)) == (503, "UNAVAILABLE")
        assert lookup.headers["retry-after"] == "1"
        for seconds in (cached_s, lookup_s):
            assert seconds < STATEMENT_TIMEOUT + 4, (cached_s, lookup_s)

        fault.proxy.release()
        recovery = await until_served(http, fault, fault.cached_key, within=10)
        print("TIMINGS", ready_s, cached_s, lookup_s, recovery)
        assert recovery < 2.5
        assert code_of(await post(http, fault, READ, new_key)) == "ok"


async def closed_after_hello(faults: Faults, key: str, protocol: str) -> tuple[int, str]:
    """gql's connection attempt, refused: the close code and reason the server sent."""
    with pytest.raises(TransportError) as refused:
        async with ws_session(faults.server.ws_url, key, protocol):
            pass
    frame = close_frame(refused.value)
    assert frame is not None, refused.value
    return frame.code, frame.reason


async def test_a_refused_database_gets_unavailable_on_every_path_with_auth_on(
    fault: Faults,
) -> None:
    new_key = await fault.new_key()
    async with httpx.AsyncClient(timeout=30) as http:
        fault.proxy.cut()
        cached = await post(http, fault, READ, fault.cached_key)
        assert (cached.status_code, code_of(cached)) == (200, "UNAVAILABLE")
        lookup = await post(http, fault, READ, new_key)
        assert (lookup.status_code, code_of(lookup)) == (503, "UNAVAILABLE")
        for protocol in (TRANSPORT_WS, LEGACY_WS):
            code, reason = await closed_after_hello(fault, new_key, protocol)
            assert (code, reason.split(":")[0]) == (1013, "UNAVAILABLE")
        fault.proxy.restore()
        await until_served(http, fault, new_key, within=10)


async def test_too_many_clients_is_unavailable_not_internal(fault: Faults) -> None:
    new_key = await fault.new_key()
    async with httpx.AsyncClient(timeout=30) as http:
        fault.proxy.fill_up()
        cached = await post(http, fault, READ, fault.cached_key)
        assert (cached.status_code, code_of(cached)) == (200, "UNAVAILABLE")
        lookup = await post(http, fault, READ, new_key)
        assert (lookup.status_code, code_of(lookup)) == (503, "UNAVAILABLE")
        fault.proxy.restore()
        await until_served(http, fault, new_key, within=10)


async def kill_connections(postgres_url: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_subscribers_get_masked_errors_when_connections_are_killed(
    fault: Faults, protocol: str
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:  # every pooled connection in use once
        await asyncio.gather(*(post(http, fault, POOLED, fault.cached_key) for _ in range(3)))
    await kill_connections(fault.postgres_url)
    with pytest.raises(TransportQueryError) as failed:
        async with subscribe(
            fault.server.ws_url, EVENTS, protocol=protocol, key=fault.cached_key
        ) as events:
            await events.next()
    (error,) = failed.value.errors or []
    assert error["extensions"]["code"] == "UNAVAILABLE"
    assert error["extensions"]["requestId"]
    for leak in LEAKS:
        assert leak not in json.dumps(error)


async def test_failure_lines_carry_no_sql_parameters(fault: Faults) -> None:
    """A key lookup that fails mid-statement is logged, but its parameter (the key's SHA-256)
    is not."""
    new_key = await fault.new_key()
    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(*(post(http, fault, POOLED, fault.cached_key) for _ in range(3)))
        await kill_connections(fault.postgres_url)
        lookup = await post(http, fault, READ, new_key)
    assert (lookup.status_code, code_of(lookup)) == (503, "UNAVAILABLE")
    request_id = lookup.headers["x-request-id"]
    await fault.server.lines_with(request_id)
    assert clients.key_hash(new_key) not in "".join(fault.server.log)
