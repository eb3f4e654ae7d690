"""Real `order-graph serve` processes on free ports, for tests where the network matters."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

READY_LINE = "Uvicorn running"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    log: list[str]

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


def start_server(database_url: str, **env: str) -> Server:
    """Starts `order-graph serve` and returns once uvicorn listens (it blocks until then)."""
    port = free_port()
    environment = {
        **os.environ,
        "ORDER_GRAPH_DATABASE_URL": database_url,
        "ORDER_GRAPH_PORT": str(port),
        "ORDER_GRAPH_AUTH": "off",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "order_graph.cli", "serve"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = Server(process, port, [])
    assert process.stderr is not None
    for line in process.stderr:  # blocks until uvicorn listens, or the process dies
        server.log.append(line)
        if READY_LINE in line:
            break
    else:
        raise AssertionError("server did not start:\n" + "".join(server.log))
    drain = threading.Thread(target=lambda: server.log.extend(process.stderr or ()), daemon=True)
    drain.start()
    return server


def stop_server(server: Server) -> int:
    if server.process.poll() is None:
        server.process.terminate()
    return server.process.wait(timeout=30)


@contextmanager
def running_server(database_url: str, **env: str) -> Iterator[Server]:
    server = start_server(database_url, **env)
    try:
        yield server
    finally:
        stop_server(server)


@asynccontextmanager
async def server_in_background(database_url: str, **env: str) -> AsyncIterator[Server]:
    """For tests whose event loop must keep running while the server starts (a proxy, say)."""
    server = await asyncio.to_thread(start_server, database_url, **env)
    try:
        yield server
    finally:
        await asyncio.to_thread(stop_server, server)
