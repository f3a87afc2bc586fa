"""Reading order spreadsheets: CSV and XLSX (built here with openpyxl) into orders and row-level errors."""

import csv
import io
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from api.import_cli import parse_args
from api.importing import (
    COLUMNS,
    EXAMPLE,
    ImportedOrder,
    RowError,
    check_catalog,
    orders_from,
    read_sheet,
    template_csv,
    template_xlsx,
)
from api.problems import ProblemError
from domain.imports import order_from_json, order_to_json
from domain.orders import Priority


def line(external_id: str, sku: str, quantity: Any = "1", **changes: Any) -> dict[str, Any]:
    return {**EXAMPLE, "external_id": external_id, "sku": sku, "quantity": quantity, **changes}


def as_csv(rows: list[dict[str, Any]], columns: tuple[str, ...] = COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return out.getvalue().encode()


def as_xlsx(rows: list[dict[str, Any]], columns: tuple[str, ...] = COLUMNS) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(columns))
    for row in rows:
        sheet.append([row.get(c) if row.get(c) != "" else None for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


MIXED = [
    line("A-1", "TEE", "2"),  # row 2
    line("A-1", "MUG", "1", unit_price="12.5"),  # row 3
    line("B-2", "TEE", "0"),  # row 4: quantity below 1
    line("B-2", "MUG", "x"),  # row 5: not a number
    line("C-3", "TEE", customer_email="other@example.com"),  # row 6
    line("C-3", "MUG"),  # row 7: the email disagrees with row 6
    line("D-4", "TEE", currency="XXX", unit_price="1.001"),  # row 8
    line("", "TEE"),  # row 9: no external_id
    line("E-5", "TEE", ship_to_country="China", ship_by="2030-01-02T10:00:00+08:00", priority="rush"),  # row 10
    line("F-6", "TEE"),  # row 11
    line("F-6", "TEE"),  # row 12: the same SKU twice
]


def summary(orders: list[ImportedOrder]) -> list[tuple[str | None, list[int], list[RowError] | None]]:
    return [(o.order_id, o.rows, None if o.order is not None else o.errors) for o in orders]


EXPECTED: list[tuple[str | None, list[int], list[RowError] | None]] = [
    ("web-A-1", [2, 3], None),
    (
        "web-B-2",
        [4, 5],
        [
            RowError([4], "quantity", "Input should be greater than or equal to 1"),
            RowError([5], "quantity", "Input should be a valid integer, unable to parse string as an integer"),
        ],
    ),
    (
        "web-C-3",
        [6, 7],
        [
            RowError(
                [6, 7],
                "customer_email",
                "rows of one order must agree: row 6 has 'other@example.com', row 7 has 'li.wei@example.com'",
            )
        ],
    ),
    ("web-D-4", [8], [RowError([8], "currency", "Value error, XXX is not a supported currency")]),
    (None, [9], [RowError([9], "external_id", "Field required")]),
    ("web-E-5", [10], [RowError([10], "ship_to_country", "String should match pattern '^[A-Z]{2}$'")]),
    ("web-F-6", [11, 12], [RowError([12], "sku", "TEE appears on more than one line")]),
]


@pytest.mark.parametrize("build", [as_csv, as_xlsx])
def test_a_mixed_file_gives_each_order_its_rows_and_exact_errors(build: Any) -> None:
    sheet = read_sheet(build(MIXED), "orders", "", max_rows=100)
    assert [r.number for r in sheet.rows] == list(range(2, 13))
    assert summary(orders_from(sheet, None, max_lines=500)) == EXPECTED


def test_a_valid_order_is_the_order_post_would_make() -> None:
    rows = [line("A-1", "TEE", "2"), line("A-1", "MUG", "1", unit_price="12.5")]
    [imported] = orders_from(read_sheet(as_csv(rows), "a.csv", "text/csv", 10), None, 500)
    order = imported.order
    assert order is not None
    assert (order.order_id, order.currency, order.priority) == ("web-A-1", "CNY", Priority.STANDARD)
    assert [(li.sku, li.quantity, li.unit_price) for li in order.lines] == [("TEE", 2, 4900), ("MUG", 1, 1250)]
    assert order.ship_to.line2 is None and order.ship_to.postal_code == "200120"
    assert order_from_json(order_to_json(order)) == order


def test_a_price_finer_than_the_currency_and_a_foreign_channel_are_row_errors() -> None:
    rows = [line("A-1", "TEE", unit_price="1.001"), line("M-1", "TEE", channel="market")]
    imported = orders_from(read_sheet(as_csv(rows), "a.csv", "", 10), "web", 500)
    assert [o.errors for o in imported] == [
        [RowError([2], "unit_price", "CNY allows at most 2 decimal places")],
        [RowError([3], "channel", "this key imports orders for channel web only")],
    ]


def test_unknown_and_inactive_skus_are_errors_on_their_rows() -> None:
    rows = [line("A-1", "TEE"), line("A-1", "GONE"), line("B-1", "OLD"), line("C-1", "TEE")]
    imported = orders_from(read_sheet(as_csv(rows), "a.csv", "", 10), None, 500)
    check_catalog(imported, {"TEE": True, "OLD": False})
    assert summary(imported) == [
        ("web-A-1", [2, 3], [RowError([3], "sku", "GONE is not in the catalog")]),
        ("web-B-1", [4], [RowError([4], "sku", "OLD is not active")]),
        ("web-C-1", [5], None),
    ]


def test_too_many_lines_for_one_order() -> None:
    rows = [line("A-1", f"S{i}") for i in range(3)]
    [imported] = orders_from(read_sheet(as_csv(rows), "a.csv", "", 10), None, 2)
    assert imported.errors == [RowError([2, 3, 4], None, "at most 2 lines per order")]


@pytest.mark.parametrize("build", [as_csv, as_xlsx])
def test_optional_columns_may_be_absent_and_blank_rows_are_skipped(build: Any) -> None:
    columns = tuple(c for c in COLUMNS if c not in ("ship_to_line2", "ship_to_region", "ship_by", "priority"))
    content = build([line("A-1", "TEE"), {}, {}, line("B-1", "TEE")], columns)
    sheet = read_sheet(content, "orders", "", 10)
    assert [r.number for r in sheet.rows] == [2, 5]
    assert [o.order is not None for o in orders_from(sheet, None, 500)] == [True, True]


def problem(content: bytes, filename: str = "a.csv", content_type: str = "", max_rows: int = 10) -> tuple[int, str]:
    with pytest.raises(ProblemError) as caught:
        read_sheet(content, filename, content_type, max_rows)
    assert [e.field for e in caught.value.problem.errors] == ["file"]
    return caught.value.problem.status, caught.value.problem.detail or ""


def test_whole_file_problems() -> None:
    no_sku = tuple(c for c in COLUMNS if c not in ("sku", "quantity"))
    assert problem(as_csv([line("A-1", "TEE")], no_sku)) == (422, "missing required column(s) sku, quantity")
    assert problem(as_csv([], (*COLUMNS, "gift_wrap"))) == (
        422,
        f"unknown column(s) gift_wrap; the columns are {', '.join(COLUMNS)}",
    )
    assert problem(as_csv([], (*COLUMNS, "sku")))[1] == "column(s) sku appear more than once"
    assert problem(b"") == (422, "the file is empty; the first row must name the columns")
    assert problem(as_csv([])) == (422, "the file has no order rows below the header")
    assert problem(as_csv([line(f"A-{i}", "TEE") for i in range(3)]), max_rows=2) == (
        422,
        "at most 2 rows per file; split it",
    )
    assert problem("channel\n\xe9".encode("latin-1")) == (422, "a CSV file must be UTF-8 text")
    assert problem(b"PK\x03\x04broken", "a.xlsx") == (422, "not a readable .xlsx workbook")
    assert problem(b"%PDF-1.4", "orders.pdf", "application/pdf") == (415, "upload a .csv or .xlsx file")
    assert problem(b"\xd0\xcf\x11\xe0\xa1\xb1", "orders.xls")[0] == 415


def test_xlsx_numbers_and_dates_read_as_text() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(COLUMNS))
    values: dict[str, Any] = {**line("A-1", "TEE"), "quantity": 3, "unit_price": 49.9, "ship_to_postal_code": 200120}
    sheet.append([values[c] or None for c in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    [row] = read_sheet(out.getvalue(), "a.xlsx", "", 10).rows
    assert (row.values["quantity"], row.values["unit_price"], row.values["ship_to_postal_code"]) == (
        "3",
        "49.9",
        "200120",
    )


def test_templates_hold_the_columns_and_an_example_that_imports() -> None:
    rows = list(csv.reader(io.StringIO(template_csv().decode())))
    assert rows[0] == list(COLUMNS)
    book = load_workbook(io.BytesIO(template_xlsx()))
    assert book.active is not None
    assert [c.value for c in book.active[1]] == list(COLUMNS)
    for content, name in ((template_csv(), "t.csv"), (template_xlsx(), "t.xlsx")):
        [imported] = orders_from(read_sheet(content, name, "", 10), None, 500)
        assert imported.order is not None and imported.order_id == "web-WEB-20001"


def test_the_cli_needs_a_key_and_a_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDERFLOW_API_KEY", raising=False)
    path = tmp_path / "orders.csv"
    path.write_bytes(template_csv())
    with pytest.raises(SystemExit):
        parse_args([str(path)])
    with pytest.raises(SystemExit):
        parse_args([str(tmp_path / "missing.csv"), "--key", "of_x"])
    monkeypatch.setenv("ORDERFLOW_API_KEY", "of_env")
    args = parse_args([str(path), "--api", "http://api:8000"])
    assert (args.file, args.api, args.key) == (path, "http://api:8000", "of_env")
