"""Money as integer minor units; decimal strings only at the edges."""

from decimal import Decimal, InvalidOperation

# ISO 4217 minor-unit exponents for the currencies we accept.
CURRENCY_EXPONENTS: dict[str, int] = {
    "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2,
    "GBP": 2, "HKD": 2, "IDR": 2, "INR": 2, "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2, "MYR": 2,
    "NOK": 2, "NZD": 2, "PHP": 2, "PLN": 2, "SEK": 2, "SGD": 2, "THB": 2, "TWD": 2, "USD": 2,
    "VND": 0, "ZAR": 2,
}  # fmt: skip

MAX_MINOR = 10**15


class MoneyError(ValueError):
    pass


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"unsupported currency {currency!r}") from None


def to_minor(amount: str | Decimal, currency: str) -> int:
    """Parse a decimal amount ("12.50") into minor units, refusing sub-minor precision."""
    exp = exponent(currency)
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise MoneyError(f"{amount!r} is not a decimal amount") from None
    if not value.is_finite():
        raise MoneyError(f"{amount!r} is not a decimal amount")
    if value < 0:
        raise MoneyError("amount must not be negative")
    minor = value.scaleb(exp)
    if minor != minor.to_integral_value():
        raise MoneyError(f"{currency} allows at most {exp} decimal places")
    if minor >= MAX_MINOR:
        raise MoneyError("amount is too large")
    return int(minor)


def format_minor(minor: int, currency: str) -> str:
    """Minor units back to a decimal string with the currency's exact places ("120.00")."""
    exp = exponent(currency)
    return f"{Decimal(minor).scaleb(-exp):.{exp}f}"
