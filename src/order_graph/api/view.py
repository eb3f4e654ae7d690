"""Strawberry's view, made to speak each transport as its spec and its clients expect.

- websocket messages go out as text frames (`TextFrames`), a cohort's events as ready-made
  frames (`websocket.py`);
- a plain POST runs queries and mutations; a subscription there is refused with the
  transports to use; over multipart or SSE a subscription streams, and a query or mutation
  sent with a multipart `Accept` is answered as plain JSON;
- an operation that never ran answers without a `data` entry, and records its status for
  `http_spec.finish`;
- subscription streams end cleanly when the server drains (`streams`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError, parse
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.streaming import (
    MULTIPART_SUBSCRIPTION_CONTENT_TYPE,
    MultipartSubscriptionTransport,
    SSETransport,
)
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)
from strawberry.types import ExecutionResult, SubscriptionExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.operation import get_operation_type

from order_graph.api import http_spec
from order_graph.api.context import Context
from order_graph.api.streams import TextStream, until_drained
from order_graph.api.websocket import LegacyWSHandler, TextFrames, TransportWSHandler

PLAIN_POST = frozenset({OperationType.QUERY, OperationType.MUTATION})
SUBSCRIPTION = OperationType.SUBSCRIPTION
# How each stream says it is over, by its media type.
ENDINGS = {
    SSETransport.headers["Content-Type"]: SSETransport().encode_complete(),
    MULTIPART_SUBSCRIPTION_CONTENT_TYPE: MultipartSubscriptionTransport().encode_complete(),
}


def subscription_protocols(legacy_graphql_ws: bool) -> list[str]:
    """Websockets (graphql-transport-ws, and the legacy graphql-ws unless switched off), then
    subscriptions over HTTP: multipart (Apollo's) and server-sent events (graphql-sse)."""
    legacy = [GRAPHQL_WS_PROTOCOL] if legacy_graphql_ws else []
    return [
        GRAPHQL_TRANSPORT_WS_PROTOCOL,
        *legacy,
        MULTIPART_SUBSCRIPTION_PROTOCOL,
        GRAPHQL_SSE_PROTOCOL,
    ]


def never_ran(result: ExecutionResult) -> bool:
    """Refused before execution: parsing, validation, a limit, or coercing the variables (which
    graphql-core reports as errors without a path and no data)."""
    if isinstance(result, PreExecutionError):
        return True
    errors = result.errors or []
    return result.data is None and bool(errors) and all(e.path is None for e in errors)


def is_subscription(request_data: GraphQLRequestData) -> bool:
    """False also for a document that does not parse: the executor reports that."""
    try:
        document = parse(request_data.query or "")
        return get_operation_type(document, request_data.operation_name) is SUBSCRIPTION
    except (GraphQLError, RuntimeError):
        return False


class SpecView(GraphQL[Context, None]):
    websocket_adapter_class = TextFrames
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        if (
            isinstance(request_data, GraphQLRequestData)
            and request_data.protocol == "multipart-subscription"
            and not is_subscription(request_data)
        ):
            # A query or mutation whose client also accepts a subscription stream: plain JSON.
            request_data = replace(request_data, protocol="http")
        try:
            return await super().execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            )
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from None

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # Without a Subscription type (the federation subgraph) validation says so itself.
        streams = self.schema.get_type_by_name("Subscription") is not None
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=PLAIN_POST if streams else {*PLAIN_POST, SUBSCRIPTION},
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError:
            raise http_spec.Refused(http_spec.STREAM_HINT, "STREAM_REQUIRED", 400) from None
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from None
        except MissingQueryError:
            raise HTTPException(400, "No GraphQL query found in the request") from None

    async def create_streaming_response(
        self,
        request: Request | WebSocket,
        stream: TextStream,
        sub_response: Response,
        headers: Mapping[str, str],
    ) -> Response:
        ending = ENDINGS.get(headers.get("Content-Type", ""))
        if ending is not None:
            stream = until_drained(stream, ending)
        return await super().create_streaming_response(request, stream, sub_response, headers)

    async def process_result(
        self, request: Request | WebSocket, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        body = await super().process_result(request, result)  # type: ignore[arg-type]
        if never_ran(result):
            body.pop("data", None)
            request.state.request_error_status = http_spec.request_error_status(result.errors or [])
        return body
