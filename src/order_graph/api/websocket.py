"""Websocket messages as the protocols define them: JSON in text frames.

Both graphql-transport-ws and the legacy graphql-ws carry JSON text; graphql-ws, Apollo and
gql close or fail a connection that sends a binary frame. Strawberry sends bytes as binary
frames, and the app encodes JSON to bytes for HTTP, so every websocket message is sent here
as text, whatever the encoder returns, with or without permessage-deflate.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected


class TextFrames(ASGIWebSocketAdapter):
    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(self.view.encode_json_string(message))
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc
