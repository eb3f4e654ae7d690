"""examples/pos_sync.py against the real JetStream server, where nats-py's timing matters."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import httpx
import nats
from nats.js.api import StreamConfig

from tests.integration.conftest import StreamName
from tests.integration.test_relay import load_pos_sync


async def test_pos_sync_takes_either_timeout_of_an_idle_fetch_as_idle(
    nats_url: str, stream_name: StreamName, tmp_path: Path
) -> None:
    """nats-py's fetch says "no message" with its own TimeoutError or, when its probe's answer
    comes after the deadline, with the plain asyncio one. A stalled event loop (a GC pause, a
    busy host) makes that second case certain."""
    pos_sync = load_pos_sync()
    options = pos_sync.parse_options(
        [
            *("--store", "s-1", "--nats-url", nats_url, "--stream", stream_name.stream),
            *("--prefix", stream_name.prefix, "--once"),
            *("--state-file", str(tmp_path / "pos.json")),
        ]
    )
    options = dataclasses.replace(options, wait_seconds=0.2)
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        config = StreamConfig(name=stream_name.stream, subjects=[f"{stream_name.prefix}.>"])
        await js.add_stream(config)
        subscription = await pos_sync.subscribe(js, options)
        async with httpx.AsyncClient() as http:
            api = pos_sync.OrderApi(http, "http://127.0.0.1:9/graphql", None)
            # The loop stalls right after the fetch sends its probe, past the fetch's deadline.
            asyncio.get_running_loop().call_soon(time.sleep, 0.3)
            applied = await pos_sync.consume(
                subscription, api, pos_sync.Pos(options.state_file), options
            )
        assert applied == 0
    finally:
        await client.close()
