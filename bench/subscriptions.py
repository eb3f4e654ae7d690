"""What open subscriptions cost in memory: one server, N live websocket subscriptions.

    .venv/bin/python bench/subscriptions.py [--count 1000]

Starts `order-graph serve` on the embedded SQLite database in a temporary folder, reads its
resident memory, opens N subscriptions (graphql-transport-ws, one connection each), proves
every one is live by making one change that all of them must receive, reads the memory again,
and prints the difference. The target: 1,000 subscriptions add under 100 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
CREATE = """mutation($input: CreateOrderInput!) { createOrder(input: $input) { order { id } } }"""
SUBSCRIBE = 'subscription { orderEvents(filter: {storeIds: ["memory"]}) { cursor type orderId } }'
ORDER = {
    "storeId": "memory",
    "channel": "APP",
    "fulfillmentType": "PICKUP",
    "currency": "CNY",
    "items": [{"skuId": "latte", "name": "Latte", "quantity": 1, "unitPrice": "28.00"}],
}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


async def wait_until_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start")


async def subscriber(url: str) -> ClientConnection:
    socket_ = await connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await socket_.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await socket_.recv())["type"] == "connection_ack"
    message = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}
    await socket_.send(json.dumps(message))
    return socket_


async def measure(count: int) -> dict[str, float]:
    raise_file_limit(count * 2 + 256)
    port = free_port()
    folder = tempfile.mkdtemp(prefix="order-graph-memory-")
    env = {
        **os.environ,
        "ORDER_GRAPH_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/orders.db",
        "ORDER_GRAPH_PORT": str(port),
        "ORDER_GRAPH_AUTH": "off",
        "ORDER_GRAPH_WS_MAX_SUBSCRIPTIONS": "20",
    }
    log = Path(folder) / "server.log"
    with log.open("w") as sink:
        server = await asyncio.create_subprocess_exec(
            str(ROOT / ".venv/bin/order-graph"), "serve", env=env, stdout=sink, stderr=sink
        )
    try:
        http = f"http://127.0.0.1:{port}/graphql"
        await wait_until_ready(http.replace("/graphql", "/healthz"))
        async with httpx.AsyncClient() as client:
            await client.post(http, json={"query": CREATE, "variables": {"input": ORDER}})
            before = rss_mb(server.pid)
            url = f"ws://127.0.0.1:{port}/graphql"
            sockets = []
            for start in range(0, count, 100):
                sockets += await asyncio.gather(
                    *(subscriber(url) for _ in range(min(100, count - start)))
                )
            began = time.monotonic()
            await client.post(http, json={"query": CREATE, "variables": {"input": ORDER}})
            received = await asyncio.gather(*(s.recv() for s in sockets))
            fan_out = time.monotonic() - began
            assert all(json.loads(m)["type"] == "next" for m in received)
            after = rss_mb(server.pid)
            for s in sockets:
                await s.close()
        return {
            "subscriptions": count,
            "rss_before_mb": round(before, 1),
            "rss_after_mb": round(after, 1),
            "added_mb": round(after - before, 1),
            "fan_out_seconds": round(fan_out, 3),
        }
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    result = asyncio.run(measure(args.count))
    print(json.dumps(result))
    ok = result["added_mb"] < 100 * args.count / 1000
    print("within target" if ok else "OVER TARGET: 1,000 subscriptions must add under 100 MB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
