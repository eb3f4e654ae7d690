"""`python -m order_graph.relay`: the same as `order-graph relay`."""

from __future__ import annotations

import argparse
import sys

from order_graph.relay.main import main

argparse.ArgumentParser(
    prog="python -m order_graph.relay",
    description="Publish the event log to NATS JetStream (the same as `order-graph relay`). "
    "It is configured by the ORDER_GRAPH_* environment variables: ORDER_GRAPH_DATABASE_URL and "
    "ORDER_GRAPH_NATS_URL, ORDER_GRAPH_NATS_STREAM, ORDER_GRAPH_NATS_SUBJECT_PREFIX, ... (see "
    "the README's NATS section).",
).parse_args()
sys.exit(main())
