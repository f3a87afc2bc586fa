"""The console's message catalogue and locale choice."""

import re
from datetime import UTC, datetime
from pathlib import Path

from api.console.i18n import LANGUAGES, Translator, negotiate
from api.console.messages import CATALOGUE
from domain.exceptions import Action, ExceptionKind
from domain.orders import OrderStatus

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "console" / "templates"


def test_every_message_is_in_every_language() -> None:
    for key, texts in CATALOGUE.items():
        assert set(texts) == set(LANGUAGES), key
        assert all(texts.values()), key


def test_every_status_kind_and_action_has_a_name() -> None:
    for prefix, enum in (("status", OrderStatus), ("kind", ExceptionKind), ("action", Action)):
        for member in enum:
            assert f"{prefix}.{member.value}" in CATALOGUE


def test_every_literal_key_the_templates_use_is_in_the_catalogue() -> None:
    used = {
        k
        for f in TEMPLATES.glob("*.html")
        for k in re.findall(r"""\bt\(["']([a-z0-9_.-]+)["']\s*[,)]""", f.read_text())
    }
    assert used, "the pattern found no keys"
    assert used - CATALOGUE.keys() == set()


def test_language_from_cookie_then_accept_language() -> None:
    assert negotiate(None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert negotiate(None, "fr-FR,en;q=0.5,zh;q=0.4") == "en"
    assert negotiate(None, "de;q=0.9, zh-Hans;q=0.8, en;q=0.1") == "zh"
    assert negotiate("en", "zh-CN") == "en"
    assert negotiate(None, None) == "en"
    assert negotiate("xx", "garbage;;q=x") == "en"


def test_amounts_and_dates_per_locale() -> None:
    en, zh = Translator("en"), Translator("zh")
    assert en.minor(1234567, "CNY") == "CN¥12,345.67"
    assert zh.minor(1234567, "CNY") == "¥12,345.67"
    at = datetime(2026, 12, 7, 9, 5, tzinfo=UTC)
    assert "2026" in zh.when(at) and "年" in zh.when(at)
    assert en.when(at).startswith("7 Dec 2026")
    assert zh("age.hours", n=3) == "3 小时"
