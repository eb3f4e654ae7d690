"""An open-loop load generator: requests at a fixed rate, whatever the server's pace.

    .venv/bin/python bench/loadgen.py --url http://127.0.0.1:8000/graphql --rate 500 \
        --duration 10 --bodies bodies.jsonl -H "Authorization: Bearer ..."

wrk (closed loop) answers "how much can it do"; this answers "how fast does it answer at a given
load", which wrk cannot: a closed loop sends less when the server slows down and so hides the
queueing (coordinated omission). Here request i is due at start + i / rate. It goes out on an
idle keep-alive connection as soon as it is due; when every connection is busy, it waits, and
its latency counts from when it was due, as wrk2 counts it. The generator's own timer slack
(it wakes up once a millisecond) is not charged to the server.

Prints one JSON object: the percentiles in milliseconds, the rate achieved, and counts of
non-200 answers, GraphQL errors, and requests that never finished.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

GRACE_SECONDS = 0.5
TICK_SECONDS = 0.001


def _request(host: str, path: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def is_bad(status: int, body: bytes) -> bool:
    """Not a 200 with a `data` document free of errors (payload errors included)."""
    return status != 200 or not body.startswith(b'{"data":') or b'"errors":[{' in body


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    non_200: int = 0
    bad: int = 0
    queued: int = 0
    first_sent: float = 0.0
    last_done: float = 0.0


class Connection(asyncio.Protocol):
    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport
        self.buffer = bytearray()
        self.started = 0.0
        self.body_at = -1
        self.end_at = -1
        self.status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def send(self, request: bytes, started: float) -> None:
        self.started = started
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.end_at < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            self.status = int(head[9:12])
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                raise RuntimeError("a response without Content-Length")
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            self.body_at = end + 4
            self.end_at = self.body_at + length
        if len(buffer) >= self.end_at:
            body = bytes(buffer[self.body_at : self.end_at])
            del buffer[: self.end_at]
            self.end_at = -1
            self.generator.finished(self, self.status, body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.generator.lost(self)


class Generator:
    def __init__(self, requests: list[bytes], rate: float, duration: float, once: bool) -> None:
        self.requests = requests
        self.rate = rate
        self.total = max(1, int(rate * duration))
        self.once = once
        self.stats = Stats()
        self.idle: deque[Connection] = deque()
        self.waiting: deque[tuple[bytes, float]] = deque()
        self.done = 0
        self.wrapped = 0
        self.lost_connections = 0
        self.all_done = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    def finished(self, conn: Connection, status: int, body: bytes) -> None:
        now = time.perf_counter()
        stats = self.stats
        stats.latencies.append(now - conn.started)
        stats.last_done = now
        if status != 200:
            stats.non_200 += 1
        elif is_bad(status, body):
            stats.bad += 1
        self.done += 1
        if self.waiting:
            request, due = self.waiting.popleft()
            conn.send(request, due)
        else:
            self.idle.append(conn)
        if self.done >= self.total:
            self.all_done.set()

    def lost(self, conn: Connection) -> None:
        self.lost_connections += 1
        if conn in self.idle:
            self.idle.remove(conn)

    def issue(self, index: int, due: float, now: float) -> None:
        if index >= len(self.requests):
            self.wrapped += 1
        request = self.requests[index % len(self.requests)]
        if self.idle:
            self.idle.popleft().send(request, now)
        else:
            self.stats.queued += 1
            self.waiting.append((request, due))

    async def run(self, host: str, port: int, connections: int) -> dict[str, Any]:
        for _ in range(connections):
            _, conn = await self.loop.create_connection(lambda: Connection(self), host, port)
            self.idle.append(conn)
        # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
        clock = time.perf_counter
        interval = 1.0 / self.rate
        start = clock() + 0.01
        self.stats.first_sent = start
        index = 0
        while index < self.total:
            now = clock()
            while index < self.total and start + index * interval <= now:
                self.issue(index, start + index * interval, now)
                index += 1
            if index < self.total:
                # Whole ticks: shorter sleeps would spin this process on the CPU it shares
                # with PostgreSQL. What falls due meanwhile goes out together at the next tick.
                await asyncio.sleep(max(TICK_SECONDS, start + index * interval - clock()))
        # A server that keeps up finishes within milliseconds; one that does not is overloaded,
        # and waiting longer would only make its numbers depend on how long we wait.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_done.wait(), GRACE_SECONDS)
        end = clock()
        unfinished = self.total - self.done
        latencies = sorted(self.stats.latencies)
        # A request that never finished took at least until now: count it, do not drop it.
        latencies += [end - start] * unfinished
        return self.report(latencies, end, unfinished)

    def report(self, latencies: list[float], end: float, unfinished: int) -> dict[str, Any]:
        def pick(q: float) -> float:
            if not latencies:
                return float("nan")
            return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 3)

        stats = self.stats
        span = (stats.last_done or end) - stats.first_sent
        achieved = self.done / span if span > 0 else 0.0
        return {
            "target_rps": round(self.rate, 1),
            "achieved_rps": round(achieved, 1),
            # It could not keep up: the latencies then grow with the run's length.
            "saturated": unfinished > 0 or achieved < 0.9 * self.rate,
            "requests": self.total,
            "completed": self.done,
            "unfinished": unfinished,
            "non_200": stats.non_200,
            "bad": stats.bad,
            "queued": stats.queued,
            "wrapped": self.wrapped if self.once else 0,
            "lost_connections": self.lost_connections,
            "p50_ms": pick(0.50),
            "p90_ms": pick(0.90),
            "p99_ms": pick(0.99),
            "p999_ms": pick(0.999),
            "max_ms": round(latencies[-1] * 1000, 3) if latencies else float("nan"),
            "mean_ms": round(sum(latencies) / len(latencies) * 1000, 3) if latencies else 0.0,
        }


async def generate(
    url: str,
    bodies: list[bytes],
    rate: float,
    duration: float,
    connections: int = 32,
    headers: list[tuple[str, str]] | None = None,
    once: bool = False,
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [_request(parts.netloc, parts.path or "/", headers or [], body) for body in bodies]
    generator = Generator(requests, rate, duration, once)
    return await generator.run(host, port, connections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--bodies", type=Path, required=True, help="one JSON body a line")
    parser.add_argument("--once", action="store_true", help="bodies are single-use (writes)")
    parser.add_argument("-H", "--header", action="append", default=[], help="Name: value")
    args = parser.parse_args(argv)
    bodies = [line for line in args.bodies.read_bytes().splitlines() if line.strip()]
    headers = [tuple(part.strip() for part in h.split(":", 1)) for h in args.header]
    coroutine = generate(
        args.url,
        bodies,
        args.rate,
        args.duration,
        args.connections,
        [(name, value) for name, value in headers],
        args.once,
    )
    try:
        import uvloop

        result = uvloop.run(coroutine)
    except ImportError:
        result = asyncio.run(coroutine)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
