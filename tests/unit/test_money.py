import pytest

from domain.money import MoneyError, format_minor, to_minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("49.00", "CNY", 4900), ("29.9", "CNY", 2990), ("0", "USD", 0), ("1500", "JPY", 1500), ("1.234", "KWD", 1234)],
)
def test_decimal_strings_become_exact_minor_units(amount: str, currency: str, minor: int) -> None:
    assert to_minor(amount, currency) == minor
    assert to_minor(format_minor(minor, currency), currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("1.001", "CNY"), ("1.5", "JPY"), ("-1", "CNY"), ("abc", "CNY"), ("NaN", "CNY"), ("1e20", "USD"), ("1", "XXX")],
)
def test_amounts_that_cannot_be_money_are_refused(amount: str, currency: str) -> None:
    with pytest.raises(MoneyError):
        to_minor(amount, currency)


def test_format_keeps_the_currency_places() -> None:
    assert format_minor(12000, "CNY") == "120.00"
    assert format_minor(5, "CNY") == "0.05"
    assert format_minor(1500, "JPY") == "1500"
