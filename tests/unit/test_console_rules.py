"""The rules editor's form becomes the API's own request body (api/rule_schemas.py: RuleIn), with the
API's field names in its problems; versions compare line by line."""

from datetime import UTC, datetime

import pytest
from starlette.datastructures import FormData, UploadFile

from api.console.messages import CATALOGUE
from api.console.rules import ACTION_FIELDS, CHOICES, _diff, _form_of, _rule_in
from api.problems import ProblemError
from api.rule_schemas import RuleOut
from domain.rules import ACTION_NAMES, AddGift, RuleStatus, SetSplit, Tag


def form(*actions: tuple[str, str, str]) -> FormData:
    fields: list[tuple[str, str | UploadFile]] = [
        ("name", "Gift"),
        ("when", 'order.channel == "web"'),
        ("priority", "7"),
        ("active_from", "2026-12-24T18:00"),
    ]
    return FormData(fields + [(f"a.{tok}.{name}", value) for tok, name, value in actions])


def test_the_editor_offers_every_action_the_api_takes() -> None:
    assert set(ACTION_FIELDS) == set(ACTION_NAMES.values())


def test_action_rows_become_the_rules_actions_in_the_order_shown() -> None:
    body = _rule_in(
        form(
            ("b2", "type", "add_gift"),
            ("b2", "sku", "MUG-OF"),
            ("b2", "quantity", "2"),
            ("0a", "type", "set_split"),
            ("0a", "allow_split", "false"),
            ("0a", "allow_partial", ""),
            ("ff", "type", "tag"),
            ("ff", "tags", "vip, gift"),
        )
    )
    draft = body.draft()
    assert draft.then == [AddGift("MUG-OF", 2, False), SetSplit(False, None), Tag(["vip", "gift"])]
    assert draft.priority == 7 and draft.active_from == datetime(2026, 12, 24, 18, tzinfo=UTC)


def test_a_problem_names_the_field_as_the_api_does() -> None:
    with pytest.raises(ProblemError) as refused:
        _rule_in(form(("x", "type", "add_gift"), ("x", "quantity", "1"), ("y", "type", "set_ship_by")))
    assert sorted(e.field for e in refused.value.problem.errors) == ["then[0].sku", "then[1].hours"]


def test_a_saved_version_fills_the_form_and_versions_diff_line_by_line() -> None:
    older = rule_out(1, [{"type": "add_gift", "sku": "MUG-OF", "quantity": 1, "required": False}])
    newer = rule_out(2, [{"type": "add_gift", "sku": "MUG-OF", "quantity": 2, "required": False}])
    filled = _form_of(newer)
    assert filled["actions"][0]["kind"] == "add_gift" and filled["actions"][0]["values"]["quantity"] == 2
    changed = [(kind, text) for kind, text in _diff(older, newer) if kind in ("add", "del")]
    assert [kind for kind, _ in changed] == ["del", "add"]
    assert '"quantity": 2' in changed[1][1]


def rule_out(version: int, then: list[dict[str, object]]) -> RuleOut:
    return RuleOut(
        rule_id=1,
        version=version,
        ref=f"1@{version}",
        status=RuleStatus.DRAFT,
        name="Gift",
        description="",
        when='order.channel == "web"',
        then=then,
        priority=100,
        exclusive=False,
        active_from=None,
        active_to=None,
    )


def test_every_action_field_choice_status_and_compiler_error_has_a_name_in_the_catalogue() -> None:
    keys = {f"rule.action.{kind}" for kind in ACTION_FIELDS}
    keys |= {f"rule.field.{name}" for fields in ACTION_FIELDS.values() for name, _ in fields}
    keys |= {f"rule.{input_kind}.{value}" for input_kind, values in CHOICES.items() for value in values}
    keys |= {f"rule.status.{status.value}" for status in RuleStatus}
    keys |= {f"rule.check.kind.{kind}" for kind in ("syntax", "unknown_field", "type", "cost", "length")}
    assert keys - CATALOGUE.keys() == set()
