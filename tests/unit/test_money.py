from __future__ import annotations

from decimal import Decimal

import pytest

from order_graph.domain.money import MoneyError, exponent, format_minor, from_minor, to_minor


@pytest.mark.parametrize(
    ("currency", "places"), [("CNY", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3)]
)
def test_each_currency_has_its_own_decimals(currency: str, places: int) -> None:
    assert exponent(currency) == places


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(MoneyError, match="Unknown currency"):
        exponent("ABC")


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("12.50", "CNY", 1250), ("12.5", "CNY", 1250), ("1200", "JPY", 1200), ("0.005", "KWD", 5)],
)
def test_amounts_become_exact_minor_units(amount: str, currency: str, minor: int) -> None:
    assert to_minor(Decimal(amount), currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("12.345", "CNY", "at most 2 decimal places"),
        ("1.5", "JPY", "at most 0 decimal places"),
        ("-0.01", "CNY", "negative"),
        ("NaN", "CNY", "finite"),
        ("Infinity", "CNY", "finite"),
        ("1E+30", "CNY", "too large"),
    ],
)
def test_inexact_or_out_of_range_amounts_are_refused(
    amount: str, currency: str, message: str
) -> None:
    with pytest.raises(MoneyError, match=message):
        to_minor(Decimal(amount), currency)


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(1250, "CNY", "12.50"), (0, "CNY", "0.00"), (1200, "JPY", "1200"), (5, "KWD", "0.005")],
)
def test_minor_units_print_with_the_currency_decimals(minor: int, currency: str, text: str) -> None:
    assert str(from_minor(minor, currency)) == text


@pytest.mark.parametrize("currency", ["CNY", "JPY", "KWD", "CLF"])
@pytest.mark.parametrize("minor", [0, 1, 5, 9, 10, 99, 100, 101, 1250, 10**15, 123456789, -5])
def test_fast_formatting_matches_the_decimal(minor: int, currency: str) -> None:
    assert format_minor(minor, currency) == str(from_minor(minor, currency))
