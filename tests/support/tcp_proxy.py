"""A TCP proxy in front of PostgreSQL that a test can cut, restore, hold and release, or make
answer new connections as a full server does ("too many clients already")."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.held = asyncio.Event()  # set when a client sent data while the proxy was holding
        self._open = True
        self._full = False
        self._holding = False
        self._released = asyncio.Event()
        self._released.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()

    def cut(self) -> None:
        """The database goes away: every connection drops and new ones are refused."""
        self._open = False
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self._open = True
        self._full = False

    def fill_up(self) -> None:
        """Every connection drops, and new ones are refused by PostgreSQL's own words."""
        self.cut()
        self._open = True
        self._full = True

    def hold(self) -> None:
        """Queries stop reaching the database (until `release`), as if it stalled."""
        self._holding = True
        self.held.clear()
        self._released.clear()

    def release(self) -> None:
        self._holding = False
        self._released.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._open:
            writer.transport.abort()
            return
        if self._full:
            await _answer_too_many_clients(reader, writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer, upstream=True),
            self._pipe(up_reader, writer, upstream=False),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if upstream and self._holding:
                    self.held.set()
                    await self._released.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()


SSL_REQUEST, GSS_REQUEST = 80877103, 80877104
# An ErrorResponse: severity, SQLSTATE 53300 (too_many_connections) and PostgreSQL's message.
TOO_MANY_CLIENTS = b"SFATAL\0VFATAL\0C53300\0Msorry, too many clients already\0\0"


async def _answer_too_many_clients(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Speaks the start of PostgreSQL's protocol: no to encryption, then the refusal."""
    try:
        while True:
            length = int.from_bytes(await reader.readexactly(4), "big")
            body = await reader.readexactly(length - 4)
            if int.from_bytes(body[:4], "big") in (SSL_REQUEST, GSS_REQUEST):
                writer.write(b"N")
                continue
            size = (len(TOO_MANY_CLIENTS) + 4).to_bytes(4, "big")
            writer.write(b"E" + size + TOO_MANY_CLIENTS)
            await writer.drain()
            return
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def proxy_to(host: str, port: int) -> AsyncIterator[Proxy]:
    proxy = Proxy(host, port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
