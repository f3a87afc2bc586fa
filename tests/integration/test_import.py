"""Spreadsheet import through the real API, a real Temporal dev server and SQLite (the mixed file also
on PostgreSQL): exact per-order results, duplicates of orders POSTed before, nothing new on a second
import, continue-as-new, and the CLI."""

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from api.import_cli import import_file
from api.importing import orders_from, read_sheet
from domain.access import Role
from domain.contract import WorkflowType, import_workflow_id, order_workflow_id
from domain.imports import ImportBatch, ImportStatus, order_to_json
from gateway import orders as gateway
from gateway.orders import Outcome
from store import imports
from store.sql import utcnow
from store.tables import ImportRow, OrderRow
from tests.conftest import Stack, StackFactory, order_body, stock_up, unique
from tests.unit.test_importing import as_csv, as_xlsx, line

CONFLICT = "order web-{} was already submitted with different content; use a new external_id"


def mixed_rows(p: str, sku: str, other: str) -> list[dict[str, Any]]:
    """Rows 2-9: two new orders, one invalid, one unknown SKU, one duplicate and one conflict of orders
    POSTed before (see `post_before`)."""
    dup = {"unit_price": "10.00", "priority": ""}
    return [
        line(f"{p}-NEW1", sku, "2"),  # 2
        line(f"{p}-NEW1", other, "1", unit_price="5"),  # 3
        line(f"{p}-BAD", sku, "0"),  # 4
        line(f"{p}-BAD", other, "1", customer_email="not-an-email"),  # 5
        line(f"{p}-NOSKU", "NO-SUCH-SKU"),  # 6
        line(f"{p}-DUP", sku, "1", **dup),  # 7
        line(f"{p}-CHANGED", sku, "2", **dup),  # 8: POSTed with quantity 1
        line(f"{p}-NEW2", other, "3", priority="rush"),  # 9
    ]


def expected(p: str) -> list[dict[str, Any]]:
    def result(ext: str, rows: list[int], outcome: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "order_id": f"web-{p}-{ext}",
            "channel": "web",
            "external_id": f"{p}-{ext}",
            "rows": rows,
            "outcome": outcome,
            "errors": errors or [],
        }

    return [
        result("NEW1", [2, 3], "created"),
        result(
            "BAD",
            [4, 5],
            "invalid",
            [
                {
                    "rows": [4, 5],
                    "column": "customer_email",
                    "message": "rows of one order must agree: row 4 has 'li.wei@example.com', row 5 has 'not-an-email'",
                },
                {"rows": [4], "column": "quantity", "message": "Input should be greater than or equal to 1"},
            ],
        ),
        result(
            "NOSKU", [6], "invalid", [{"rows": [6], "column": "sku", "message": "NO-SUCH-SKU is not in the catalog"}]
        ),
        result("DUP", [7], "duplicate"),
        result("CHANGED", [8], "invalid", [{"rows": [8], "column": None, "message": CONFLICT.format(f"{p}-CHANGED")}]),
        result("NEW2", [9], "created"),
    ]


async def post_before(stack: Stack, p: str, sku: str) -> None:
    for ext in ("DUP", "CHANGED"):
        body = order_body({sku: 1}, external_id=f"{p}-{ext}")
        assert (await stack.http.post("/v1/orders", json=body)).status_code == 201


async def orders_of(stack: Stack, p: str) -> int:
    async with stack.sessions() as s:
        query = select(func.count()).select_from(OrderRow).where(OrderRow.external_id.startswith(f"{p}-"))
        return int((await s.execute(query)).scalar_one())


def upload(content: bytes, name: str) -> dict[str, Any]:
    return {"file": (name, io.BytesIO(content))}


@pytest.mark.parametrize(("build", "name"), [(as_csv, "orders.csv"), (as_xlsx, "orders.xlsx")])
async def test_a_mixed_file_gives_exact_results_and_a_second_import_creates_nothing(
    stack_factory: StackFactory, database_url: str, build: Any, name: str
) -> None:
    """On SQLite and PostgreSQL."""
    async with stack_factory(database_url) as stack:
        p, sku, other = unique("IM"), unique("TEE"), unique("MUG")
        await stock_up(stack.sessions, {sku: 100, other: 100})
        await post_before(stack, p, sku)
        content = build(mixed_rows(p, sku, other))

        first = await stack.http.post("/v1/orders/import", files=upload(content, name), params={"wait": 20})
        assert first.status_code == 200, first.text
        body = first.json()
        assert first.headers["location"] == f"/v1/imports/{body['import_id']}"
        assert (body["status"], body["format"], body["rows"], body["name"]) == (
            "completed",
            name[-4:].strip("."),
            8,
            name,
        )
        assert body["results"] == expected(p)
        assert body["progress"] == {"orders": 6, "created": 2, "duplicate": 1, "invalid": 3, "pending": 0}

        # The good orders flow like any other; the imported content is what the file said.
        new1 = await stack.wait_for_status(f"web-{p}-NEW1", "picking")
        assert [(li["sku"], li["quantity"], li["unit_price"]["amount"]) for li in new1["lines"]] == [
            (sku, 2, "49.00"),
            (other, 1, "5.00"),
        ]
        new2 = await stack.wait_for_status(f"web-{p}-NEW2", "picking")
        assert new2["priority"] == "rush"
        assert await orders_of(stack, p) == 4
        description = await stack.client.get_workflow_handle(order_workflow_id(f"web-{p}-NEW1")).describe()
        assert await description.memo_value("import_id") == body["import_id"]

        again = await stack.http.post("/v1/orders/import", files=upload(content, name), params={"wait": 20})
        assert again.status_code == 200, again.text
        second = again.json()
        assert second["import_id"] != body["import_id"]
        outcomes = {r["external_id"]: r["outcome"] for r in second["results"]}
        assert outcomes == {
            f"{p}-NEW1": "duplicate",
            f"{p}-BAD": "invalid",
            f"{p}-NOSKU": "invalid",
            f"{p}-DUP": "duplicate",
            f"{p}-CHANGED": "invalid",
            f"{p}-NEW2": "duplicate",
        }
        assert second["progress"]["created"] == 0
        assert await orders_of(stack, p) == 4
        description = await stack.client.get_workflow_handle(order_workflow_id(f"web-{p}-NEW1")).describe()
        assert await description.memo_value("import_id") == body["import_id"]  # not started again

        read = await stack.http.get(f"/v1/imports/{body['import_id']}", params={"outcome": "created"})
        assert [r["external_id"] for r in read.json()["results"]] == [f"{p}-NEW1", f"{p}-NEW2"]


async def test_a_larger_file_is_accepted_at_once_and_progress_reaches_the_end(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    async with stack_factory(sqlite_url) as stack:
        p, sku = unique("BIG"), unique("TEE")
        await stock_up(stack.sessions, {sku: 10_000})
        content = as_csv([line(f"{p}-{i}", sku, "1") for i in range(250)])  # three chunks
        accepted = await stack.http.post("/v1/orders/import", files=upload(content, "big.csv"))
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["status"] == "running" and accepted.json()["progress"]["pending"] > 0
        location = accepted.headers["location"]
        seen: list[int] = []
        for _ in range(600):
            progress = (await stack.http.get(location)).json()
            seen.append(progress["progress"]["created"])
            if progress["status"] == "completed":
                break
            await asyncio.sleep(0.1)
        assert progress["status"] == "completed" and progress["finished_at"] is not None
        assert progress["progress"] == {"orders": 250, "created": 250, "duplicate": 0, "invalid": 0, "pending": 0}
        assert seen == sorted(seen)
        for i in (0, 99, 100, 249):  # first and last of each chunk: describe() raises for a missing one
            described = await stack.client.get_workflow_handle(order_workflow_id(f"web-{p}-{i}")).describe()
            assert await described.memo_value("import_id") == accepted.json()["import_id"]

        # The per-order report comes in pages, in file order, each order exactly once.
        assert len(progress["results"]) == 50 and progress["next_cursor"] is not None
        walked: list[str] = []
        params: dict[str, Any] = {"limit": 200, "outcome": "created"}
        while True:
            page = (await stack.http.get(location, params=params)).json()
            assert len(page["results"]) <= 200
            walked += [r["external_id"] for r in page["results"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert walked == [f"{p}-{i}" for i in range(250)]
        none_invalid = (await stack.http.get(location, params={"outcome": "invalid"})).json()
        assert (none_invalid["results"], none_invalid["next_cursor"]) == ([], None)

        for bad, field in (({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"cursor": "x"}, "cursor")):
            refused = await stack.http.get(location, params=bad)
            assert refused.status_code == 422, (bad, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert [e["field"] for e in refused.json()["errors"]] == [field], refused.json()


async def test_whole_file_refusals_and_channel_keys(stack_factory: StackFactory, sqlite_url: str) -> None:
    async with stack_factory(sqlite_url, max_import_bytes=4096) as stack:
        p, sku = unique("CK"), unique("TEE")
        await stock_up(stack.sessions, {sku: 100})
        missing = as_csv([line(f"{p}-1", sku)], tuple(c for c in line("", "") if c != "currency"))
        refused = await stack.http.post("/v1/orders/import", files=upload(missing, "a.csv"))
        assert refused.status_code == 422
        assert refused.json()["errors"] == [{"field": "file", "message": "missing required column(s) currency"}]
        pdf = await stack.http.post("/v1/orders/import", files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")})
        assert pdf.status_code == 415 and pdf.headers["content-type"] == "application/problem+json"
        no_file = await stack.http.post("/v1/orders/import", data={"other": "x"})
        assert no_file.status_code == 422 and no_file.json()["errors"][0]["field"] == "file"
        big = as_csv([line(f"{p}-{i}", sku) for i in range(40)])
        assert (await stack.http.post("/v1/orders/import", files=upload(big, "big.csv"))).status_code == 413

        web = stack.as_role(Role.CHANNEL)
        rows = [line(f"{p}-1", sku), line(f"{p}-2", sku, channel="market")]
        mine = await stack.http.post("/v1/orders/import", files=upload(as_csv(rows), "a.csv"), headers=web)
        assert mine.status_code == 202, mine.text
        results = mine.json()["results"]
        assert [r["order_id"] for r in results] == [f"web-{p}-1", f"market-{p}-2"]
        assert results[0]["outcome"] in ("pending", "created") and results[1]["outcome"] == "invalid"
        assert results[1]["errors"] == [
            {"rows": [3], "column": "channel", "message": "this key imports orders for channel web only"}
        ]
        location = mine.headers["location"]
        assert (await stack.http.get(location, headers=web)).status_code == 200
        assert (await stack.http.get(location, headers=stack.as_role(Role.VIEWER))).status_code == 200
        admins = await stack.http.post("/v1/orders/import", files=upload(as_csv(rows[1:]), "a.csv"))
        assert admins.status_code == 202 and admins.json()["progress"]["invalid"] == 0
        hidden = await stack.http.get(admins.headers["location"], headers=web)
        assert hidden.status_code == 404
        assert (await stack.http.get("/v1/imports/imp_nope")).status_code == 404
        template = await stack.http.get("/v1/orders/import/template", params={"format": "xlsx"}, headers=web)
        assert template.status_code == 200 and template.content.startswith(b"PK")


async def test_the_cli_uploads_and_prints_each_order(
    stack_factory: StackFactory, sqlite_url: str, tmp_path: Path
) -> None:
    async with stack_factory(sqlite_url) as stack:
        p, sku, other = unique("CLI"), unique("TEE"), unique("MUG")
        await stock_up(stack.sessions, {sku: 100, other: 100})
        await post_before(stack, p, sku)
        path = tmp_path / "orders.xlsx"
        path.write_bytes(as_xlsx(mixed_rows(p, sku, other)))
        out = io.StringIO()
        assert await import_file(stack.http, path, out, poll_s=0.1) == 1  # some orders were invalid
        printed = out.getvalue().splitlines()
        assert printed[0].endswith(": 8 rows, 6 orders")
        assert printed[-11:] == [
            f"created   web-{p}-NEW1 (rows 2,3)",
            f"invalid   web-{p}-BAD (rows 4,5)",
            "          row 4,5 customer_email: rows of one order must agree: row 4 has 'li.wei@example.com', "
            "row 5 has 'not-an-email'",
            "          row 4 quantity: Input should be greater than or equal to 1",
            f"invalid   web-{p}-NOSKU (rows 6)",
            "          row 6 sku: NO-SUCH-SKU is not in the catalog",
            f"duplicate web-{p}-DUP (rows 7)",
            f"invalid   web-{p}-CHANGED (rows 8)",
            "          row 8: " + CONFLICT.format(f"{p}-CHANGED"),
            f"created   web-{p}-NEW2 (rows 9)",
            "completed: 2 created, 1 duplicate, 3 invalid, 0 pending of 6",
        ]
        assert printed[-1] == "completed: 2 created, 1 duplicate, 3 invalid, 0 pending of 6"

        out = io.StringIO()
        assert await import_file(stack.http, path, out, poll_s=0.1) == 1
        assert out.getvalue().splitlines()[-1] == "completed: 0 created, 3 duplicate, 3 invalid, 0 pending of 6"
        bad = tmp_path / "bad.csv"
        bad.write_bytes(b"sku\nX\n")
        out = io.StringIO()
        assert await import_file(stack.http, bad, out) == 2
        assert out.getvalue().startswith("refused (422): missing required column(s) channel")


async def test_the_batch_continues_as_new_and_a_retried_chunk_counts_its_own_orders_as_created(
    stack_factory: StackFactory, sqlite_url: str
) -> None:
    """Chunks of 2, one chunk per run: 5 orders take 3 runs. Order 0 was started by this import before
    (as by an attempt that failed before recording it): created. Order 1 by another import: duplicate."""
    async with stack_factory(sqlite_url) as stack:
        p, sku = unique("CAN"), unique("TEE")
        await stock_up(stack.sessions, {sku: 100})
        sheet = read_sheet(as_csv([line(f"{p}-{i}", sku) for i in range(5)]), "a.csv", "", 10)
        parsed = orders_from(sheet, None, 500)
        import_id = f"imp_{p.lower()}"
        async with stack.sessions.begin() as s:
            row = ImportRow(
                import_id=import_id,
                name="a.csv",
                format="csv",
                status=ImportStatus.RUNNING.value,
                rows=5,
                created_by="test",
                channel=None,
                created_at=utcnow(),
            )
            stored = [
                imports.NewImportOrder(o.order_id, o.channel, o.external_id, o.rows, [], order_to_json(o.order))
                for o in parsed
                if o.order is not None
            ]
            await imports.create(s, row, stored)
        first, second = (o.order for o in parsed[:2])
        assert first is not None and second is not None
        assert (await gateway.start(stack.client, stack.settings, first, import_id)).outcome is Outcome.CREATED
        assert (await gateway.start(stack.client, stack.settings, second, "imp_other")).outcome is Outcome.CREATED

        handle = await stack.client.start_workflow(
            WorkflowType.IMPORT_BATCH,
            ImportBatch(import_id, chunks=3, chunk_size=2, chunks_per_run=1),
            id=import_workflow_id(import_id),
            task_queue=stack.settings.task_queue,
        )
        await handle.result()  # follows the runs it continued as
        latest = await stack.client.get_workflow_handle(handle.id).describe()
        assert latest.run_id != handle.first_execution_run_id

        read = (await stack.http.get(f"/v1/imports/{import_id}")).json()
        assert read["status"] == "completed"
        assert [r["outcome"] for r in read["results"]] == ["created", "duplicate", "created", "created", "created"]
