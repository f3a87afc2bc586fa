from dataclasses import replace
from datetime import UTC, datetime

from domain.contract import order_workflow_id
from domain.orders import (
    Address,
    Customer,
    Order,
    OrderLine,
    invalid_skus,
    is_order_id,
    order_id_for,
    validate,
)


def sample_order(**changes: object) -> Order:
    order = Order(
        channel="web",
        external_id="WEB-10001",
        customer=Customer("C-1", "Li Wei", "li.wei@example.com"),
        ship_to=Address("Li Wei", "88 Century Ave", "Shanghai", "200120", "CN"),
        lines=[OrderLine("TEE", 2, 4900), OrderLine("MUG", 1, 2990), OrderLine("CAP", 1, 3110)],
        currency="CNY",
    )
    return replace(order, **changes)  # type: ignore[arg-type]


def test_identity_comes_from_channel_and_external_id() -> None:
    order = sample_order()
    assert order.order_id == order_id_for("web", "WEB-10001") == "web-WEB-10001"
    assert order_workflow_id(order.order_id) == "order-web-WEB-10001"
    assert is_order_id(order.order_id)
    assert not is_order_id("web")
    assert not is_order_id("../etc")


def test_total_is_summed_in_minor_units() -> None:
    assert sample_order().total == 2 * 4900 + 2990 + 3110


def test_summary_reads_like_the_ui_shows_it() -> None:
    assert sample_order().summary() == "web WEB-10001 · 3 lines · 159.00 CNY"


def test_fingerprint_tells_resubmission_from_conflict() -> None:
    assert sample_order().fingerprint() == sample_order().fingerprint()
    assert sample_order().fingerprint() != sample_order(lines=[OrderLine("TEE", 3, 4900)]).fingerprint()
    assert sample_order().fingerprint() != sample_order(ship_by=datetime(2026, 12, 1, tzinfo=UTC)).fingerprint()


def test_validation_names_the_field_at_fault() -> None:
    order = sample_order(lines=[OrderLine("TEE", 0, 100), OrderLine("TEE", 1, 100)])
    assert [str(p) for p in validate(order)] == [
        "lines[0].quantity: must be positive",
        "lines[1].sku: TEE appears on more than one line",
    ]
    assert validate(sample_order()) == []
    assert [p.field for p in validate(sample_order(lines=[]))] == ["lines"]


def test_invalid_skus_flag_unknown_and_inactive_skus() -> None:
    invalid = invalid_skus(sample_order(), {"TEE": True, "MUG": False})
    assert [str(p) for p in invalid] == ["lines[1].sku: MUG is not active", "lines[2].sku: CAP is not in the catalog"]
