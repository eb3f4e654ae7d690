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
from dataclasses import dataclass, field

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
    # Notified by the thread that reads the server's stderr, for each line it appends.
    logged: threading.Condition = field(default_factory=threading.Condition)

    def append(self, line: str) -> None:
        with self.logged:
            self.log.append(line)
            self.logged.notify_all()

    async def lines_with(self, text: str, within: float = 10) -> list[str]:
        """The server's log lines containing `text`, once there is one (the server's stderr
        is read by a thread of its own: this waits on it, without polling)."""

        def wait() -> list[str]:
            with self.logged:
                found = self.logged.wait_for(
                    lambda: [line for line in self.log if text in line], within
                )
            if not found:
                raise AssertionError(f"the server logged nothing with {text!r} in {within} s")
            return found

        return await asyncio.to_thread(wait)

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

    def drain() -> None:
        for line in process.stderr or ():
            server.append(line)

    drain = threading.Thread(target=drain, daemon=True)
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
