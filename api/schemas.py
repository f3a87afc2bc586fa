"""The shapes every body shares: bounded text, SKUs, decimal money, and `Strict`, the base of request
bodies, which rejects unknown fields. The bodies themselves are in api/*_schemas.py, one module per area."""

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, field_validator

from config import MAX_LINES_CEILING
from domain.money import CURRENCY_EXPONENTS, format_minor
from domain.orders import SKU_PATTERN

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Sku = Annotated[str, StringConstraints(pattern=SKU_PATTERN)]
Decimal = Annotated[str, StringConstraints(pattern=r"^\d{1,13}(\.\d{1,4})?$")]


def _supported_currency(code: str) -> str:
    if code not in CURRENCY_EXPONENTS:
        raise ValueError(f"{code} is not a supported currency")
    return code


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_supported_currency)]
# The hard ceiling; the deployment's `max_order_lines` (500 by default) is checked on submit.
MAX_LINES = MAX_LINES_CEILING


def clean_text(value: str) -> str | None:
    """Why a string cannot be stored or sent on as it is, or None when it can: NUL characters, which
    PostgreSQL refuses in text, and lone surrogates, which are not Unicode."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode()
    except UnicodeEncodeError:
        return "must be valid Unicode"
    return None


def unstorable(value: Any) -> str | None:
    """`clean_text` for a value and every string in it, list items included. (A mapping is left to the
    model it is validated as.)"""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list | tuple):
        return next((problem for item in value if (problem := unstorable(item))), None)
    return None


class Strict(BaseModel):
    """A request body: unknown fields are refused (no mass assignment), and so is text we cannot store."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        if problem := unstorable(value):
            raise ValueError(problem)
        return value


class Money(BaseModel):
    amount: str
    currency: str

    @classmethod
    def of(cls, minor: int, currency: str) -> "Money":
        return cls(amount=format_minor(minor, currency), currency=currency)


class StockLineOut(BaseModel):
    sku: str
    quantity: int


class Health(BaseModel):
    status: str
    database: str
    temporal: str
