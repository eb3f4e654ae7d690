"""Which web pages may call the API, as browsers ask: CORS on HTTP, and the Origin of a
websocket handshake (browsers apply no CORS to websockets, so the server must refuse)."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.clients.conftest import ALLOWED_ORIGIN, Deployment

OTHER_ORIGIN = "https://evil.example.net"
TYPENAME = {"query": "{ __typename }"}


def bearer(deployment: Deployment) -> dict[str, str]:
    return {"authorization": f"Bearer {deployment.key}"}


async def test_an_allowed_origin_passes_the_preflight_and_reads_the_answer(
    deployment: Deployment,
) -> None:
    url = deployment.server.http_url
    async with httpx.AsyncClient() as http:
        preflight = await http.options(
            url,
            headers={
                "origin": ALLOWED_ORIGIN,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        answer = await http.post(
            url, json=TYPENAME, headers={"origin": ALLOWED_ORIGIN, **bearer(deployment)}
        )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert preflight.headers["access-control-allow-headers"] == "authorization, content-type"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "Origin" in answer.headers["vary"]
    assert "X-Request-Id" in answer.headers["access-control-expose-headers"]


async def test_another_origin_gets_a_403_that_names_the_setting(deployment: Deployment) -> None:
    url = deployment.server.http_url
    async with httpx.AsyncClient() as http:
        preflight = await http.options(
            url, headers={"origin": OTHER_ORIGIN, "access-control-request-method": "POST"}
        )
        answer = await http.post(
            url, json=TYPENAME, headers={"origin": OTHER_ORIGIN, **bearer(deployment)}
        )
    for response in (preflight, answer):
        assert response.status_code == 403
        assert "access-control-allow-origin" not in response.headers
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"
        assert "ORDER_GRAPH_ALLOWED_ORIGINS" in error["message"]


async def test_a_websocket_from_another_origin_is_refused_with_403_before_it_opens(
    deployment: Deployment,
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(deployment.server.ws_url, origin=OTHER_ORIGIN):  # type: ignore[arg-type]
            pass
    response = refused.value.response
    assert response.status_code == 403
    assert json.loads(response.body)["errors"][0]["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"


@pytest.mark.parametrize("origin", [ALLOWED_ORIGIN, "same"])
async def test_a_websocket_from_an_allowed_or_the_same_origin_opens(
    deployment: Deployment, origin: str
) -> None:
    server = deployment.server
    own = f"http://127.0.0.1:{server.port}"
    async with connect(
        server.ws_url,
        origin=own if origin == "same" else origin,  # type: ignore[arg-type]
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
    ) as socket:
        assert socket.subprotocol == "graphql-transport-ws"
