"""The console's languages: every string it shows, in one catalogue, and amounts and dates per locale.

The language is the `console_lang` cookie when the person chose one (the switch in the header), else the
best match of the browser's Accept-Language, else English.
"""

from datetime import datetime
from decimal import Decimal, InvalidOperation

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

from api.console.messages import CATALOGUE
from domain.money import format_minor

LANGUAGES = ("en", "zh")
LOCALES = {"en": Locale.parse("en_GB"), "zh": Locale.parse("zh_Hans_CN")}
COOKIE = "console_lang"


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    wanted: list[tuple[float, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag:
            wanted.append((-quality + i * 1e-6, tag))
    for _, tag in sorted(wanted):
        try:
            language = Locale.parse(tag.replace("-", "_")).language
        except (ValueError, UnknownLocaleError):
            continue
        if language in LANGUAGES:
            return language
    return "en"


class Translator:
    """Bound to one request's language; templates call it as `t("key", name=value)`."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.locale = LOCALES[language]

    def __call__(self, key: str, **values: object) -> str:
        text = CATALOGUE[key][self.language]
        return text.format(**values) if values else text

    def money(self, amount: str | int | Decimal, currency: str) -> str:
        try:
            return format_currency(Decimal(amount), currency, locale=self.locale)
        except (InvalidOperation, ValueError):
            return f"{amount} {currency}"

    def minor(self, amount: int, currency: str) -> str:
        """An amount in minor units (as the read model keeps it)."""
        return self.money(format_minor(amount, currency), currency)

    def number(self, value: int | float) -> str:
        return format_decimal(value, locale=self.locale)

    def figure(self, value: float | None, unit: str) -> str:
        """A KPI: a share as a percentage, hours with one decimal, else a number; None is a dash."""
        if value is None:
            return "—"
        if unit == "percent":
            return format_percent(value, "#,##0.0%", locale=self.locale)
        text = format_decimal(value, "#,##0.0", locale=self.locale)
        return self("kpi.hours", n=text) if unit == "hours" else text

    def when(self, at: datetime | None) -> str:
        return format_datetime(at, "medium", locale=self.locale) if at else "—"

    def age(self, seconds: int) -> str:
        minutes = seconds // 60
        if minutes < 60:
            return self("age.minutes", n=minutes)
        if minutes < 48 * 60:
            return self("age.hours", n=minutes // 60)
        return self("age.days", n=minutes // 1440)
