"""Opaque global ids ("Order:42" in URL-safe base64) and list cursors."""

from __future__ import annotations

import base64
import binascii


class BadId(ValueError):
    pass


def encode(kind: str, number: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


def decode(value: str) -> tuple[str, int]:
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
