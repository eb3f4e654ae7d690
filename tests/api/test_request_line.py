"""The request line as the server writes it: with the server's own handlers (`logging_config`),
straight to the batched stream, the same line logging itself would write, at the configured
level, and without a LogRecord per request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from order_graph.ops.logs import BatchedStream, JsonFormatter, ReadableFormatter, access_log
from tests.conftest import GraphQLClient

PING = {"query": "query Ping { __typename }"}
HEADERS = {"x-request-id": "line-1", "x-client-id": "pos-7"}


class Served:
    """The access logger as the server configures it (one BatchedStream, a formatter of ours),
    writing into a buffer instead of stderr."""

    def __init__(self, formatter: logging.Formatter) -> None:
        self.buffer = io.StringIO()
        self.handler = BatchedStream(self.buffer)
        self.handler.setFormatter(formatter)

    def lines(self) -> list[str]:
        self.handler.flush()
        return self.buffer.getvalue().splitlines()


@pytest.fixture
def served() -> Iterator[Any]:
    saved = (access_log.handlers, access_log.propagate, access_log.level)

    def serve(formatter: logging.Formatter, level: int = logging.INFO) -> Served:
        found = Served(formatter)
        access_log.handlers, access_log.propagate = [found.handler], False
        access_log.setLevel(level)
        return found

    yield serve
    access_log.handlers, access_log.propagate = saved[0], saved[1]
    access_log.setLevel(saved[2])


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every LogRecord made for the access logger while the test runs."""
    made: list[logging.LogRecord] = []
    factory = logging.getLogRecordFactory()

    def counting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        if record.name == access_log.name:
            made.append(record)
        return record

    logging.setLogRecordFactory(counting)
    yield made
    logging.setLogRecordFactory(factory)


def _same_but_timing(line: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in line.items() if key not in ("time", "duration_ms")}


async def test_a_json_line_is_written_without_a_record_and_as_logging_would_write_it(
    gql: GraphQLClient, served: Any, records: list[logging.LogRecord]
) -> None:
    direct = served(JsonFormatter())
    await gql.http.post("/graphql", json=PING, headers=HEADERS)
    (line,) = direct.lines()
    assert records == []  # the server's set-up: no LogRecord per request

    through_logging = served(JsonFormatter())
    through_logging.handler.addFilter(lambda record: True)  # a filter: logging's own way
    await gql.http.post("/graphql", json=PING, headers=HEADERS)
    (expected,) = through_logging.lines()
    assert len(records) == 1

    written, wanted = json.loads(line), json.loads(expected)
    assert _same_but_timing(written) == _same_but_timing(wanted)
    assert list(written) == list(wanted)  # the same fields, in the same order
    assert (written["request_id"], written["client"], written["status"]) == ("line-1", "pos-7", 200)
    assert (written["message"], written["level"]) == ("request", "INFO")


async def test_a_readable_line_is_the_one_logging_would_write(
    gql: GraphQLClient, served: Any
) -> None:
    direct = served(ReadableFormatter())
    await gql.http.post("/graphql", json=PING, headers=HEADERS)
    (line,) = direct.lines()
    through_logging = served(ReadableFormatter())
    through_logging.handler.addFilter(lambda record: True)
    await gql.http.post("/graphql", json=PING, headers=HEADERS)
    (expected,) = through_logging.lines()

    def words(text: str) -> list[str]:  # the date and time, and the duration, differ
        return [w for w in text.split()[2:] if not w.startswith("duration_ms=")]

    assert words(line) == words(expected)
    assert " INFO order_graph.access: request request_id=line-1 method=POST" in line


async def test_the_configured_level_decides_which_requests_are_written(
    gql: GraphQLClient, served: Any
) -> None:
    quiet = served(JsonFormatter(), logging.WARNING)
    await gql.http.post("/graphql", json=PING)
    assert quiet.lines() == []

    usual = served(JsonFormatter())
    await gql.http.get("/healthz")  # a probe: DEBUG
    await gql.http.post("/graphql", json=PING)
    assert [json.loads(line)["path"] for line in usual.lines()] == ["/graphql"]

    verbose = served(JsonFormatter(), logging.DEBUG)
    await gql.http.get("/healthz")
    assert [json.loads(line)["level"] for line in verbose.lines()] == ["DEBUG"]


def test_a_json_line_stays_json_with_what_orjson_refuses() -> None:
    fields = {"huge": 2**70, "odd": "a\udc80b", "when": object()}
    line = json.loads(JsonFormatter().line(0.0, "INFO", "x", "request", fields))
    assert (line["huge"], line["odd"]) == (2**70, "a\udc80b")
