"""One error policy on every path: HTTP, both websocket protocols, and code outside GraphQL.
Each error is the caller's own, or masked as UNAVAILABLE / INTERNAL with the request id."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from order_graph.app import create_app
from order_graph.config import Settings
from order_graph.ops.logs import ReadableFormatter
from tests.api.test_unexpected_errors import LEAKS, UNREACHABLE

EVENTS = "subscription { orderEvents { cursor } }"
KEY = "og_" + "k" * 43


def receive(socket: Any) -> dict[str, Any]:
    message = socket.receive()
    if message["type"] == "websocket.close":
        return {"type": "close", "code": message["code"], "reason": message.get("reason", "")}
    text = message.get("text") or message["bytes"].decode()
    decoded: dict[str, Any] = json.loads(text)
    return decoded


def run_on_socket(client: TestClient, protocol: str, init: dict[str, Any], query: str) -> Any:
    """Connects, says hello, starts `query`; returns the first answer to it (or the close)."""
    with client.websocket_connect("/graphql", subprotocols=[protocol]) as socket:
        socket.send_text(json.dumps({"type": "connection_init", "payload": init}))
        hello = receive(socket)
        if hello["type"] != "connection_ack":
            return hello
        start = "subscribe" if protocol == "graphql-transport-ws" else "start"
        socket.send_text(json.dumps({"id": "1", "type": start, "payload": {"query": query}}))
        while (answer := receive(socket))["type"] == "ka":
            pass
        return answer


@pytest.fixture
def unreachable() -> Iterator[TestClient]:
    app = create_app(Settings(database_url=UNREACHABLE, auth="off", db_connect_timeout=1))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def unreachable_with_auth() -> Iterator[TestClient]:
    settings = Settings(database_url=UNREACHABLE, auth="required", db_connect_timeout=1)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def assert_masked(error: dict[str, Any], code: str) -> None:
    assert error["extensions"]["code"] == code, error
    assert error["extensions"]["requestId"], error
    for leak in LEAKS:
        assert leak not in json.dumps(error)


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
def test_a_subscription_without_its_database_gets_a_retryable_masked_error(
    unreachable: TestClient, protocol: str
) -> None:
    answer = run_on_socket(unreachable, protocol, {}, EVENTS)
    assert answer["type"] in ("next", "data", "error"), answer
    payload = answer["payload"]
    errors = payload if isinstance(payload, list) else payload["errors"]
    (error,) = errors
    assert error["message"] == "The database is unavailable; retry shortly."
    assert_masked(error, "UNAVAILABLE")


def test_a_key_lookup_without_its_database_answers_unavailable_in_json(
    unreachable_with_auth: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        response = unreachable_with_auth.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"authorization": f"Bearer {KEY}", "x-request-id": "lookup-1"},
        )
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "1"
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "UNAVAILABLE", "requestId": "lookup-1"}
    # Logged once with its traceback, and without the key's hash (the lookup's only parameter).
    (logged,) = [r for r in caplog.records if "lookup-1" in r.getMessage()]
    assert logged.exc_info is not None
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    assert digest not in "\n".join(ReadableFormatter().format(r) for r in caplog.records)


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
def test_a_websocket_key_lookup_without_its_database_closes_with_try_again_later(
    unreachable_with_auth: TestClient, protocol: str
) -> None:
    answer = run_on_socket(
        unreachable_with_auth, protocol, {"authorization": f"Bearer {KEY}"}, EVENTS
    )
    assert answer["type"] == "close"
    assert answer["code"] == 1013
    assert answer["reason"].startswith("UNAVAILABLE")
