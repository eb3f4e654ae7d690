"""Shared by the benchmark scripts: paths, database URLs, ids, money and JSON formatting.

Everything here is deliberately plain Python with no dependency on `order_graph`, so the
ceiling stays a hand-written program and a refactoring of the service cannot change it.
"""

from __future__ import annotations

import base64
import os
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
RESULTS = BENCH / "results"
VENV_BIN = ROOT / ".venv" / "bin"

ADMIN_DSN = os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DEFAULT_DATABASE = "order_graph_bench"
CLIENT_NAME = "bench"


def dsn(database: str) -> str:
    """A plain libpq/asyncpg DSN for `database` on the admin DSN's server."""
    base, _, _ = ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


def sqlalchemy_url(database: str) -> str:
    return dsn(database).replace("postgresql://", "postgresql+asyncpg://", 1)


# --- Global ids: "Order:42" in URL-safe base64 without padding ---------------------------


def encode_id(kind: str, number: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


def decode_id(kind: str, value: str) -> int:
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    found, _, number = raw.partition(":")
    if found != kind or not number.isdigit():
        raise ValueError(f"not a {kind} id: {value!r}")
    return int(number)


# --- Money: integer minor units <-> the Decimal strings the API shows --------------------

# ISO 4217 exponents that differ from 2 (the bench data is all CNY; the rest is for safety).
_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_EXPONENTS = {
    **dict.fromkeys(_ZERO.split(), 0),
    **dict.fromkeys(_THREE.split(), 3),
    **dict.fromkeys(_FOUR.split(), 4),
}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def format_minor(minor: int, currency: str) -> str:
    """`2850` CNY -> "28.50", exactly as `str(Decimal(minor).scaleb(-2))` prints it."""
    places = _EXPONENTS.get(currency, 2)
    if places == 0:
        return str(minor)
    whole, fraction = divmod(minor, 10**places)
    return f"{whole}.{fraction:0{places}d}"


def money(minor: int, currency: str) -> dict[str, str]:
    return {"amount": format_minor(minor, currency), "currency": currency}


def order_no(created_at: datetime, order_id: int) -> str:
    return f"{created_at:%Y%m%d}{order_id:08d}"
