"""Subjects and message ids: `<prefix>.<shape>.<storeToken>.<eventType>`.

A store id becomes one subject token. Ids made of letters, digits, `-` and `_` are used as they
are, so subjects stay readable and `orders.skinny.sh-jingan-001.>` works as written. Any other
byte (including the escape character `~` itself) is written as `~XX`, its UTF-8 byte in upper
case hex, which keeps the mapping reversible and the token free of `.`, `*`, `>` and spaces.
"""

from __future__ import annotations

import re
import string
from enum import StrEnum

_PLAIN = frozenset((string.ascii_letters + string.digits + "-_").encode())
_ESCAPED = re.compile(r"~([0-9A-F]{2})")
_EMPTY = "~"
_NOT_IN_A_TOKEN = frozenset(".*> \t\r\n")


class Shape(StrEnum):
    """The two messages of one event, in the order the relay publishes them."""

    SKINNY = "skinny"
    FAT = "fat"


_SHAPES = frozenset(shape.value for shape in Shape)


def is_subject_token(token: str) -> bool:
    return bool(token) and token.isprintable() and not _NOT_IN_A_TOKEN.intersection(token)


def store_token(store_id: str) -> str:
    if not store_id:
        return _EMPTY
    return "".join(chr(byte) if byte in _PLAIN else f"~{byte:02X}" for byte in store_id.encode())


def store_id_of(token: str) -> str:
    if token == _EMPTY:
        return ""
    raw = _ESCAPED.sub(lambda match: chr(int(match.group(1), 16)), token)
    # Escapes stand for single bytes: re-read them as UTF-8 so multi-byte characters come back.
    return raw.encode("latin-1").decode()


def subject(prefix: str, shape: Shape, store_id: str, event_type: str) -> str:
    return f"{prefix}.{shape}.{store_token(store_id)}.{event_type}"


def stream_subjects(prefix: str) -> list[str]:
    return [f"{prefix}.>"]


def msg_id(cursor: str, shape: Shape) -> str:
    return f"{cursor}:{shape}"


def parse_msg_id(value: str) -> tuple[str, Shape] | None:
    cursor, _, shape = value.rpartition(":")
    if not cursor or shape not in _SHAPES:
        return None
    return cursor, Shape(shape)
