"""The rehearsal end to end, small: a short faulty day holds every integrity check and keeps people to the
orders that need them; a build with a non-idempotent carrier step fails it."""

from pathlib import Path

from rehearsal.options import parse_args
from rehearsal.report import write
from rehearsal.run import rehearse


async def test_a_short_faulty_day_holds_its_integrity_and_touches_only_faulty_orders(tmp_path: Path) -> None:
    opts = parse_args(["--orders", "100", "--hours", "2", "--speed", "240", "--seed", "11", "--out", str(tmp_path)])
    results, folder = await rehearse(opts)
    text = write(results, folder)

    integrity = results["integrity"]
    assert integrity["ok"], text
    assert integrity["no_order_lost"]["recorded"] == 100
    manual = results["kpis"]["kpis"]["manual_intervention"]
    assert manual["rate"] <= results["demand"]["person_fault_share"] + 0.01, text
    assert set(results["kpis"]["touched_orders"]) == {t["order_id"] for t in results["people"]["touches"]}
    assert results["demand"]["person_fault_orders"] > 0 and manual["numerator"] > 0
    assert (folder / "report.md").exists() and (folder / "day.svg").read_text().startswith("<svg")


async def test_a_non_idempotent_carrier_step_fails_the_rehearsal(tmp_path: Path) -> None:
    opts = parse_args(
        [
            "--orders",
            "20",
            "--hours",
            "1",
            "--speed",
            "240",
            "--no-faults",
            "--out",
            str(tmp_path),
            "--worker-entry",
            "tests.rehearsal.broken_worker:run_worker",
        ]
    )
    results, _ = await rehearse(opts)

    duplicates = results["integrity"]["no_duplicate_shipment_or_invoice"]
    assert not results["integrity"]["ok"]
    assert not duplicates["ok"]
    assert any("booked 2 times at the carrier" in p for p in duplicates["problems"])
