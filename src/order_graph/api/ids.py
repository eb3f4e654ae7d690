"""Opaque global ids ("Order:42" in URL-safe base64) and list cursors."""

from __future__ import annotations

import base64
import binascii
import functools


class BadId(ValueError):
    pass


def encode(kind: str, number: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


# A read names the same few orders again and again: a decoded id is remembered (a bad one never
# is, it raises), at most this many, the least recently used forgotten first; only one of an
# id's length (a kind and 18 digits), so the cache stays well under a megabyte.
DECODED = 4_096
REMEMBERED_LENGTH = 48


def decode(value: str) -> tuple[str, int]:
    return _remembered(value) if len(value) <= REMEMBERED_LENGTH else _decoded(value)


@functools.lru_cache(maxsize=DECODED)
def _remembered(value: str) -> tuple[str, int]:
    return _decoded(value)


def _decoded(value: str) -> tuple[str, int]:
    try:
        padded = value + "=" * (-len(value) % 4)
        kind, _, number = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        if not kind or not number.isascii() or not number.isdigit() or len(number) > 18:
            raise BadId(value)  # at most 18 digits: always inside a signed 64-bit column
        return kind, int(number)
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise BadId(value) from exc


def decode_as(kind: str, value: str) -> int:
    found, number = decode(value)
    if found != kind:
        raise BadId(value)
    return number
