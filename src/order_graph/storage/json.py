"""JSON for the driver's JSONB parameters (SQLAlchemy serialises them on its own path)."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, which JSON allows
        return json.dumps(value)
