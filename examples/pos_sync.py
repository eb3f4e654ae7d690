"""POS sync: keeps one store's point-of-sale system in step with its orders, via NATS JetStream.

It reads the store's *skinny* messages (`orders.skinny.<store>.*`, published by `order-graph
relay`) through a durable pull consumer. JetStream remembers what this consumer acknowledged, so
the program can be stopped, crash, or stay offline for hours: when it starts again it continues
with the first message it had not acknowledged (as long as the stream still retains it).

For each message it fetches the order at the `OrderStandard` tier through GraphQL, with each
line's `activeQuantity` (what is left to make once items were cancelled after payment), hands it
to the POS, and only then acknowledges. That is at-least-once: a crash between the POS update and
the ack delivers the message again. The POS therefore remembers the newest order version it
applied (in a small state file) and ignores anything not newer, which also makes the order in
which messages of different orders arrive irrelevant: it always applies the order as it is now.

    pip install nats-py httpx
    ORDER_GRAPH_API_KEY=... python examples/pos_sync.py --store sh-jingan-001

Options and their environment variables: see `python examples/pos_sync.py --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

log = logging.getLogger("pos_sync")

ORDER_QUERY = (
    "query PosOrder($id: ID!) { order(id: $id) { ...OrderStandard items { activeQuantity } } }"
)
# GraphQL rejects a document with unused fragments, so take OrderStandard and what it spreads.
WANTED_FRAGMENTS = ("OrderSummary", "OrderStandard")
_FRAGMENT = re.compile(r"^fragment (\w+) on \w+ \{.*?^\}", re.DOTALL | re.MULTILINE)
_PLAIN = frozenset((string.ascii_letters + string.digits + "-_").encode())


def store_token(store_id: str) -> str:
    """A store id as one subject token, exactly as the relay writes it
    (`order_graph.relay.subjects.store_token`): `.`, spaces and the like become `~XX`."""
    if not store_id:
        return "~"
    return "".join(chr(b) if b in _PLAIN else f"~{b:02X}" for b in store_id.encode())


def fragment_definitions(document: str, names: Sequence[str]) -> list[str]:
    found = {match.group(1): match.group(0) for match in _FRAGMENT.finditer(document)}
    return [found[name] for name in names]


@dataclass(frozen=True)
class Options:
    store: str
    graphql_url: str
    api_key: str | None
    nats_url: str
    stream: str
    prefix: str
    durable: str
    state_file: Path
    batch: int = 50
    wait_seconds: float = 5.0
    once: bool = False  # stop when no message arrives within wait_seconds (cron, tests)


class Pos:
    """Stands in for the store's POS: applies an order unless it already has that version."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.versions: dict[str, int] = (
            json.loads(state_file.read_text()) if state_file.exists() else {}
        )

    def apply(self, order: dict[str, Any]) -> bool:
        if order["version"] <= self.versions.get(order["id"], 0):
            return False
        self.show(order)
        self.versions[order["id"]] = order["version"]
        self.state_file.write_text(json.dumps(self.versions))
        return True

    def show(self, order: dict[str, Any]) -> None:
        total = order["payableTotal"]
        items = ", ".join(
            f"{i['activeQuantity']}x {i['name']}" for i in order["items"] if i["activeQuantity"]
        )
        print(
            f"POS {order['orderNo']} v{order['version']} {order['mainStatus']}"
            f"{'/' + order['subStatus'] if order['subStatus'] else ''}: {items}"
            f" = {total['amount']} {total['currency']}"
        )


class OrderApi:
    def __init__(self, http: httpx.AsyncClient, graphql_url: str, api_key: str | None) -> None:
        self.http = http
        self.graphql_url = graphql_url
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.query: str | None = None

    async def order(self, order_id: str) -> dict[str, Any] | None:
        if self.query is None:
            # The server publishes its fragments; using them keeps this tier the official one.
            fragments_url = self.graphql_url.rsplit("/graphql", 1)[0] + "/fragments.graphql"
            fragments = await self.http.get(fragments_url)
            fragments.raise_for_status()
            self.query = "\n".join(fragment_definitions(fragments.text, WANTED_FRAGMENTS))
            self.query += ORDER_QUERY
        response = await self.http.post(
            self.graphql_url,
            json={"query": self.query, "variables": {"id": order_id}},
            headers=self.headers,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        order: dict[str, Any] | None = body["data"]["order"]
        return order


async def sync(options: Options, http: httpx.AsyncClient | None = None) -> int:
    """Consumes until stopped (or, with `once`, until idle); returns how many orders it applied."""
    client = await nats.connect(options.nats_url, name=f"pos-sync-{options.durable}")
    own_http = http is None
    http = http or httpx.AsyncClient(timeout=10)
    try:
        subscription = await subscribe(client.jetstream(), options)
        api = OrderApi(http, options.graphql_url, options.api_key)
        return await consume(subscription, api, Pos(options.state_file), options)
    finally:
        if own_http:
            await http.aclose()
        await client.close()


async def subscribe(js: JetStreamContext, options: Options) -> JetStreamContext.PullSubscription:
    subject = f"{options.prefix}.skinny.{store_token(options.store)}.>"
    # Durable: the consumer and its acknowledged position live in JetStream, not here.
    subscription = await js.pull_subscribe(
        subject,
        durable=options.durable,
        stream=options.stream,
        config=ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=60,
        ),
    )
    log.info("consuming %s as %s", subject, options.durable)
    return subscription


async def consume(
    subscription: JetStreamContext.PullSubscription, api: OrderApi, pos: Pos, options: Options
) -> int:
    applied = 0
    while True:
        try:
            messages = await subscription.fetch(options.batch, timeout=options.wait_seconds)
        except TimeoutError:
            # Nothing new. nats-py raises its own TimeoutError or, depending on timing, the
            # plain asyncio one (the same class as the built-in TimeoutError): both mean idle.
            if options.once:
                return applied
            continue
        for message in messages:
            event = json.loads(message.data)
            try:
                order = await api.order(event["orderId"])
            except (httpx.HTTPError, RuntimeError) as exc:
                # The API is down: let JetStream deliver this one again a little later.
                log.warning("cannot fetch order %s (%s); retrying", event["orderId"], exc)
                await message.nak(delay=5)
                continue
            if order is not None and pos.apply(order):
                applied += 1
            await message.ack_sync()  # only after the POS has it: at-least-once


def parse_options(argv: Sequence[str] | None = None) -> Options:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="the store id this POS belongs to")
    parser.add_argument(
        "--graphql-url", default=env("ORDER_GRAPH_API_URL", "http://127.0.0.1:8000/graphql")
    )
    parser.add_argument("--api-key", default=env("ORDER_GRAPH_API_KEY"))
    parser.add_argument("--nats-url", default=env("ORDER_GRAPH_NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--stream", default=env("ORDER_GRAPH_NATS_STREAM", "ORDER_EVENTS"))
    parser.add_argument("--prefix", default=env("ORDER_GRAPH_NATS_SUBJECT_PREFIX", "orders"))
    parser.add_argument("--durable", help="consumer name (default: pos-sync-<store>)")
    parser.add_argument("--state-file", type=Path, help="default: pos-state-<store>.json")
    parser.add_argument("--once", action="store_true", help="exit when caught up")
    args = parser.parse_args(argv)
    # Consumer names and file names keep to letters, digits, `-` and `_`.
    token = store_token(args.store).replace("~", "_")
    return Options(
        store=args.store,
        graphql_url=args.graphql_url,
        api_key=args.api_key,
        nats_url=args.nats_url,
        stream=args.stream,
        prefix=args.prefix,
        durable=args.durable or f"pos-sync-{token}",
        state_file=args.state_file or Path(f"pos-state-{token}.json"),
        once=args.once,
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    options = parse_options()
    try:
        applied = asyncio.run(sync(options))
    except KeyboardInterrupt:
        return
    log.info("caught up: applied %d order versions", applied)


if __name__ == "__main__":
    main()
