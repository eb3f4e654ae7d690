"""Running uvicorn: one process or several, draining gracefully on SIGTERM."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Generator
from contextlib import contextmanager

import uvicorn
from uvicorn.supervisors import Multiprocess

from order_graph.api import streams
from order_graph.config import Settings
from order_graph.ops.logs import logging_config
from order_graph.ops.slow_clients import Config, HeaderTimeoutProtocol

APP = "order_graph.app:create_app"


class GracefulServer(uvicorn.Server):
    """On SIGTERM/SIGINT uvicorn stops accepting, lets in-flight requests finish (up to the
    grace period), closes websockets with 1012 and runs the app's shutdown. It would then
    re-raise the signal, so the process would report death by signal; an orchestrator should
    see a clean exit after a clean drain, so this server exits normally instead."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        streams.drain()  # subscriptions over HTTP end now, as websockets get 1012
        await super().shutdown(sockets)

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    config = Config(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_graceful_shutdown=int(settings.shutdown_grace),
        log_config=logging_config(json_lines=settings.is_production),
        access_log=False,
        # permessage-deflate keeps two zlib contexts per socket (~50 KB): with it, 1,000 open
        # subscriptions would cost about 100 MB; small JSON events gain little from it.
        ws_per_message_deflate=settings.ws_compression,
        # A websocket message is bounded like an HTTP body (uvicorn closes with 1009 past it).
        ws_max_size=settings.max_body_bytes,
        http=HeaderTimeoutProtocol,
        header_timeout=settings.header_timeout,
    )
    if workers > 1:
        # uvicorn's supervisor forwards SIGTERM to every worker, each draining as above.
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        GracefulServer(config).run()
