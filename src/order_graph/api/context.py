"""What every resolver gets: the caller, the database, the service and this request's loaders."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from order_graph.api.loaders import Loaders
from order_graph.domain.access import Principal
from order_graph.events.hub import EventHub
from order_graph.service import OrderService
from order_graph.storage.database import Database


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    db: Database
    service: OrderService
    # Replaced on websockets once `connection_init` has authenticated the connection.
    principal: Principal
    # Absent where no subscription can run (e.g. executing the schema in a batch job).
    hub: EventHub | None = None
    request_id: str = ""
    # Set by strawberry from a websocket's `connection_init` payload.
    connection_params: dict[str, object] | None = None

    @cached_property
    def loaders(self) -> Loaders:
        """Made on first use: the compiled path never needs any."""
        return Loaders(self.db)


Info = strawberry.Info[Context, None]
