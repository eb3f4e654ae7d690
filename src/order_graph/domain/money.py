"""Exact money: `Decimal` at the edges, integer minor units inside."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# ISO 4217 active currency codes. Most have two decimals; the exceptions are listed.
_CODES = [
    "AED",
    "AFN",
    "ALL",
    "AMD",
    "AOA",
    "ARS",
    "AUD",
    "AWG",
    "AZN",
    "BAM",
    "BBD",
    "BDT",
    "BGN",
    "BHD",
    "BIF",
    "BMD",
    "BND",
    "BOB",
    "BOV",
    "BRL",
    "BSD",
    "BTN",
    "BWP",
    "BYN",
    "BZD",
    "CAD",
    "CDF",
    "CHE",
    "CHF",
    "CHW",
    "CLF",
    "CLP",
    "CNY",
    "COP",
    "COU",
    "CRC",
    "CUP",
    "CVE",
    "CZK",
    "DJF",
    "DKK",
    "DOP",
    "DZD",
    "EGP",
    "ERN",
    "ETB",
    "EUR",
    "FJD",
    "FKP",
    "GBP",
    "GEL",
    "GHS",
    "GIP",
    "GMD",
    "GNF",
    "GTQ",
    "GYD",
    "HKD",
    "HNL",
    "HTG",
    "HUF",
    "IDR",
    "ILS",
    "INR",
    "IQD",
    "IRR",
    "ISK",
    "JMD",
    "JOD",
    "JPY",
    "KES",
    "KGS",
    "KHR",
    "KMF",
    "KPW",
    "KRW",
    "KWD",
    "KYD",
    "KZT",
    "LAK",
    "LBP",
    "LKR",
    "LRD",
    "LSL",
    "LYD",
    "MAD",
    "MDL",
    "MGA",
    "MKD",
    "MMK",
    "MNT",
    "MOP",
    "MRU",
    "MUR",
    "MVR",
    "MWK",
    "MXN",
    "MXV",
    "MYR",
    "MZN",
    "NAD",
    "NGN",
    "NIO",
    "NOK",
    "NPR",
    "NZD",
    "OMR",
    "PAB",
    "PEN",
    "PGK",
    "PHP",
    "PKR",
    "PLN",
    "PYG",
    "QAR",
    "RON",
    "RSD",
    "RUB",
    "RWF",
    "SAR",
    "SBD",
    "SCR",
    "SDG",
    "SEK",
    "SGD",
    "SHP",
    "SLE",
    "SOS",
    "SRD",
    "SSP",
    "STN",
    "SVC",
    "SYP",
    "SZL",
    "THB",
    "TJS",
    "TMT",
    "TND",
    "TOP",
    "TRY",
    "TTD",
    "TWD",
    "TZS",
    "UAH",
    "UGX",
    "USD",
    "USN",
    "UYI",
    "UYU",
    "UYW",
    "UZS",
    "VED",
    "VES",
    "VND",
    "VUV",
    "WST",
    "XAF",
    "XCD",
    "XCG",
    "XOF",
    "XPF",
    "YER",
    "ZAR",
    "ZMW",
    "ZWG",
]
_ZERO = [
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "ISK",
    "JPY",
    "KMF",
    "KRW",
    "PYG",
    "RWF",
    "UGX",
    "UYI",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
]
_THREE = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]
_FOUR = ["CLF", "UYW"]

EXPONENTS: dict[str, int] = {
    code: 0 if code in _ZERO else 3 if code in _THREE else 4 if code in _FOUR else 2
    for code in _CODES
}

# Keeps every total far inside a signed 64-bit column, whatever the currency.
MAX_MINOR_UNITS = 10**15


class MoneyError(ValueError):
    pass


def exponent(currency: str) -> int:
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"Unknown currency {currency!r}: use an ISO 4217 code.") from None


def to_minor(amount: Decimal, currency: str) -> int:
    """Converts an exact amount to minor units, refusing lost digits and negatives."""
    places = exponent(currency)
    try:
        if not amount.is_finite():
            raise MoneyError("Amount must be a finite number.")
        # Checked before scaling: scaling 1E+999999 alone would take the event loop for seconds.
        if amount.adjusted() > 15:
            raise MoneyError("Amount is too large.")
        scaled = amount.scaleb(places)
        minor = int(scaled)
    except (InvalidOperation, OverflowError):
        raise MoneyError("Amount is not a valid number.") from None
    if scaled != minor:
        raise MoneyError(f"{currency} allows at most {places} decimal places.")
    if minor < 0:
        raise MoneyError("Amount must not be negative.")
    if minor > MAX_MINOR_UNITS:
        raise MoneyError("Amount is too large.")
    return minor


def from_minor(minor: int, currency: str) -> Decimal:
    places = EXPONENTS.get(currency, 2)
    return Decimal(minor).scaleb(-places)


def format_minor(minor: int, currency: str) -> str:
    """`str(from_minor(minor, currency))`, without building a Decimal (a hot path)."""
    places = EXPONENTS.get(currency, 2)
    if minor < 0:
        return str(from_minor(minor, currency))
    if places == 0:
        return str(minor)
    whole, fraction = divmod(minor, 10**places)
    return f"{whole}.{fraction:0{places}d}"
