"""Logging: JSON lines in production, readable lines otherwise; one line per HTTP request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("order_graph.access")
QUIET_PATHS = ("/healthz", "/readyz", "/metrics")
# A log line stays under 16 KB: a message, a traceback or a field past its share is cut, saying
# by how much (a JSON line is cut by its parts, so it stays JSON).
MAX_MESSAGE = 4_096
MAX_EXCEPTION = 8_192
MAX_FIELD = 256
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def capped(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters]"


def _escaped(text: str) -> str:
    """No control characters in a readable line: a newline in a caller's path would start what
    looks like a log line of its own."""
    if text.isascii() and text.isprintable():  # the usual case, checked in C
        return text
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def _dumps(line: dict[str, Any]) -> str:
    try:
        return orjson.dumps(line, default=str).decode()
    except TypeError:  # what orjson refuses (an int past 64 bits, a lone surrogate)
        return json.dumps(line, default=str)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        exception = self.formatException(record.exc_info) if record.exc_info else None
        fields = getattr(record, "fields", {})
        message = record.getMessage()
        return self.line(record.created, record.levelname, record.name, message, fields, exception)

    def line(
        self,
        created: float,
        level: str,
        name: str,
        message: str,
        fields: dict[str, Any],
        exception: str | None = None,
    ) -> str:
        """The line of a record made of these parts: also written without a record at all
        (`log_request`)."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(created, UTC).isoformat(),
            "level": level,
            "logger": name,
            "message": capped(message, MAX_MESSAGE),
            **{
                key: capped(value, MAX_FIELD) if isinstance(value, str) else value
                for key, value in fields.items()
            },
        }
        if exception is not None:
            line["exception"] = capped(exception, MAX_EXCEPTION)
        return _dumps(line)


class ReadableFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._second = -1
        self._stamp = ""

    def _time(self, created: float) -> str:
        """As logging's, with the date and time formatted once a second, not once a line."""
        second = int(created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(created))
            self._second = second
        return f"{self._stamp},{int((created - second) * 1000):03d}"  # logging's msecs

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self._time(record.created)

    def formatMessage(self, record: logging.LogRecord) -> str:
        return _escaped(capped(super().formatMessage(record), MAX_MESSAGE))

    def formatException(self, ei: Any) -> str:
        return capped(super().formatException(ei), MAX_EXCEPTION)

    def format(self, record: logging.LogRecord) -> str:
        return f"{super().format(record)} {_extra(getattr(record, 'fields', {}))}".rstrip()

    def line(
        self, created: float, level: str, name: str, message: str, fields: dict[str, Any]
    ) -> str:
        """`format` of a record made of these parts, without an exception."""
        head = _escaped(capped(f"{self._time(created)} {level} {name}: {message}", MAX_MESSAGE))
        return f"{head} {_extra(fields)}".rstrip()


def _extra(fields: dict[str, Any]) -> str:
    """`key=value` for each field set, escaped as one text: as escaping each value alone (the
    keys are ours), with one check of the whole in the usual case of nothing to escape."""
    shown = [
        f"{key}={capped(value, MAX_FIELD) if isinstance(value, str) else value!s}"
        for key, value in fields.items()
        if value is not None
    ]
    return _escaped(" ".join(shown))


def logging_config(json_lines: bool, level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for uvicorn to apply in every worker process."""
    formatter = "JsonFormatter" if json_lines else "ReadableFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": f"order_graph.ops.logs.{formatter}"}},
        "handlers": {
            "default": {"class": "order_graph.ops.logs.BatchedStream", "formatter": "default"}
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            # RequestLog writes the one line per request; uvicorn's own would repeat it.
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }


FLUSH_SECONDS = 0.1
MAX_PENDING = 256


class BatchedStream(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr, written in batches: inside the event loop, lines wait up to FLUSH_SECONDS for
    the ones after them (a write and a flush per request line were system calls on every
    request). A warning or worse, a full batch, or a line outside the loop flushes at once;
    so does logging's shutdown at exit."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._queue(line, record.levelno)

    def write(self, line: str, level: int) -> None:
        """A line formatted without a record (`log_request`), batched as `emit` batches."""
        with self.lock or contextlib.nullcontext():
            self._queue(line, level)

    def _queue(self, line: str, level: int) -> None:
        self._pending.append(line + self.terminator)
        if level >= logging.WARNING or len(self._pending) >= MAX_PENDING:
            self.flush()
        elif not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._scheduled = True
            loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        with self.lock or contextlib.nullcontext():
            self._scheduled = False
            if self._pending:
                text = "".join(self._pending)
                self._pending.clear()
                self.stream.write(text)
            super().flush()


def log_request(level: int, fields: dict[str, Any]) -> None:
    """The request's line, as `access_log.log(level, "request", extra={"fields": fields})`
    would write it; but where every handler it would reach is one of ours (the server's
    configuration, `logging_config`), formatted and queued directly: a LogRecord and logging's
    dispatch per request cost more than the line. Any other set-up (a filter, a handler of
    someone else's, a test's capture) takes logging's own way."""
    if access_log.disabled or not access_log.isEnabledFor(level):
        return
    handlers = _ours(level)
    if handlers is None:
        access_log.log(level, "request", extra={"fields": fields})
        return
    created = time.time()
    name = logging.getLevelName(level)
    for handler in handlers:
        formatter = handler.formatter
        assert isinstance(formatter, JsonFormatter | ReadableFormatter)
        handler.write(formatter.line(created, name, access_log.name, "request", fields), level)


def _ours(level: int) -> list[BatchedStream] | None:
    """The handlers a record of `level` would reach (as `Logger.callHandlers` finds them), when
    each is a BatchedStream with a formatter of ours and nothing on the way filters."""
    found: list[BatchedStream] = []
    logger: logging.Logger | None = access_log
    while logger is not None:
        if logger.filters:
            return None
        for handler in logger.handlers:
            if level < handler.level:
                continue
            if type(handler) is not BatchedStream or handler.filters:
                return None
            if type(handler.formatter) not in (JsonFormatter, ReadableFormatter):
                return None
            found.append(handler)
        logger = logger.parent if logger.propagate else None
    return found or None  # no handler at all: logging's last resort decides


def lean_log_records() -> None:
    """Log records without what no line of ours shows: the caller's source line (a walk up
    the stack per record), the thread's and process's names and ids (`getpid` is a system
    call). Process-wide: for the server, whose formats (above) use none of them."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def request_id_from(scope: Scope) -> str:
    """The caller's `X-Request-Id` when it is a plain token (letters, digits, `._:/+=@-`, at
    most 128), else one of our own: it is echoed in headers, errors and log lines."""
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _REQUEST_ID.fullmatch(value):
            return str(value.decode())
    # As random as uuid4's hex, without a system call for it (ids need not be secret).
    return f"{random.getrandbits(128):032x}"


class RequestLog:
    """Gives every request an id (`X-Request-Id`, accepted or made) and logs one line for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            fields = {
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": 499 if state.get("client_gone") else status,  # as nginx logs it
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                **state.get("log", {}),
            }
            log_request(logging.DEBUG if scope["path"] in QUIET_PATHS else logging.INFO, fields)
