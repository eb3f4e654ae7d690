"""How many websockets one client may hold open in this process.

With at most `ORDER_GRAPH_WS_MAX_SUBSCRIPTIONS` operations per connection, this also bounds the
subscriptions of a client: connections x operations per connection. A connection over the
limit is closed with 4429 and says why.
"""

from __future__ import annotations

from collections import Counter

from order_graph.api.error_policy import Refusal


class ClientQuota:
    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self._open: Counter[str] = Counter()

    def acquire(self, client: str) -> None:
        if self._open[client] >= self.max_connections:
            raise Refusal(
                f"This client already holds {self.max_connections} open websockets here.",
                "TOO_MANY_CONNECTIONS",
                429,
                close_code=4429,
            )
        self._open[client] += 1

    def release(self, client: str) -> None:
        self._open[client] -= 1
        if self._open[client] <= 0:
            del self._open[client]
