"""NATS for the relay tests: the machine's JetStream server, private servers for outages, a
reader of everything a stream holds, and relay processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from tests.support.tcp_proxy import Proxy, proxy_to

NATS_URL = os.environ.get("ORDER_GRAPH_TEST_NATS_URL", "nats://127.0.0.1:4222")
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
HAVE_NATS_SERVER = Path(NATS_SERVER).exists()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 20) -> None:
    """Polls `check` until it holds; fails with `what` at the deadline."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


async def connect(url: str) -> Client:
    return await nats.connect(url, allow_reconnect=False, connect_timeout=2)


@pytest.fixture(scope="session")
async def nats_url() -> str:
    """The JetStream server the tests share. It must be running: no skip."""
    try:
        client = await connect(NATS_URL)
    except Exception as exc:
        pytest.fail(f"NATS with JetStream is required for the relay tests ({NATS_URL}): {exc!r}")
    try:
        await client.jetstream().account_info()
    except Exception as exc:
        pytest.fail(f"JetStream is not enabled on {NATS_URL}: {exc!r}")
    finally:
        await client.close()
    return NATS_URL


@dataclass(frozen=True)
class StreamName:
    """A stream and subject prefix of one test's own, so runs and tests never share one."""

    stream: str = field(default_factory=lambda: f"RELAY_TEST_{uuid.uuid4().hex[:10].upper()}")
    prefix: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:10]}.orders")


@dataclass(frozen=True)
class Received:
    subject: str
    msg_id: str
    body: dict[str, Any]


async def read_stream(url: str, stream: str) -> list[Received]:
    """Every message the stream holds, in stream order."""
    client = await connect(url)
    try:
        js = client.jetstream()
        state = (await js.stream_info(stream)).state
        received = []
        for seq in range(state.first_seq, state.last_seq + 1):
            message = await js.get_msg(stream, seq=seq)
            headers = message.headers or {}
            assert message.subject is not None
            body = orjson.loads(message.data or b"null")
            received.append(Received(message.subject, headers.get("Nats-Msg-Id", ""), body))
        return received
    finally:
        await client.close()


async def stream_count(url: str, stream: str) -> int:
    """Messages in the stream; 0 while it does not exist or the server is not reachable."""
    try:
        client = await connect(url)
    except Exception:
        return 0
    try:
        return int((await client.jetstream().stream_info(stream)).state.messages)
    except NotFoundError:
        return 0
    finally:
        await client.close()


@pytest.fixture
async def stream_name(nats_url: str) -> AsyncIterator[StreamName]:
    name = StreamName()
    yield name
    client = await connect(nats_url)
    try:
        await client.jetstream().delete_stream(name.stream)
    except NotFoundError:
        pass
    finally:
        await client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateNats:
    """A JetStream server of this test's own, to stop and start without touching the shared one.
    Its store directory survives restarts, as a real server's disk would."""

    def __init__(self, store: Path) -> None:
        self.port = free_port()
        self.store = store
        self.url = f"nats://127.0.0.1:{self.port}"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            NATS_SERVER,
            *("-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await eventually(self._jetstream_ready, f"nats-server on port {self.port}")

    async def _jetstream_ready(self) -> bool:
        try:
            client = await connect(self.url)
        except Exception:
            return False
        try:
            await client.jetstream().account_info()
            return True
        except Exception:
            return False
        finally:
            await client.close()

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[PrivateNats]:
    if not HAVE_NATS_SERVER:
        pytest.fail(f"nats-server is required for the outage test ({NATS_SERVER})")
    server = PrivateNats(tmp_path / "jetstream")
    yield server
    await server.stop()


class RelayProcess:
    """`python -m order_graph.relay` as an operator runs it, its log in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log_path = log
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "order_graph.relay"),
                env=self.env,
                stdout=log,
                stderr=log,
            )

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    async def kill(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        await self._process.wait()

    async def stop(self) -> int:
        """SIGTERM: a clean stop after the batch in flight."""
        assert self._process is not None
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self._process.wait(), 15)


@pytest.fixture
async def relay_processes(
    postgres_url: str, nats_url: str, stream_name: StreamName, tmp_path: Path
) -> AsyncIterator[Callable[..., RelayProcess]]:
    """Makes relay processes for this test's stream; kills any still running at the end."""
    made: list[RelayProcess] = []
    env = {
        **os.environ,
        "ORDER_GRAPH_DATABASE_URL": postgres_url,
        "ORDER_GRAPH_NATS_URL": nats_url,
        "ORDER_GRAPH_NATS_STREAM": stream_name.stream,
        "ORDER_GRAPH_NATS_SUBJECT_PREFIX": stream_name.prefix,
        # Small batches and short waits: many crash points, quick takeovers, quick tests.
        "ORDER_GRAPH_RELAY_BATCH_SIZE": "10",
        "ORDER_GRAPH_RELAY_POLL_SECONDS": "0.05",
        "ORDER_GRAPH_RELAY_STANDBY_SECONDS": "0.2",
        "ORDER_GRAPH_RELAY_BACKOFF_MAX_SECONDS": "0.5",
    }

    def make(**extra: str) -> RelayProcess:
        relay = RelayProcess({**env, **extra}, tmp_path / f"relay-{len(made)}.log")
        made.append(relay)
        return relay

    yield make
    for relay in made:
        if relay._process is not None and relay._process.returncode is None:
            await relay.kill()


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    """A TCP proxy in front of the machine's PostgreSQL, for outages on demand."""
    async with proxy_to("127.0.0.1", 5432) as proxy:
        yield proxy
