"""The printed summary of a run's results."""

from typing import Any


def render(results: dict[str, Any]) -> str:
    out: list[str] = []
    w = out.append
    machine = results["machine"]
    w(f"orderflow bench · {machine['cpus']} CPUs · database {results['database']} · {results['started']}")
    w(f"code: {results['code']} · dev server SQLite {results['options']['server_sqlite']}")

    def cpu_line(cpu: dict[str, dict[str, float]]) -> str:
        other = cpu.get("other processes", {}).get("percent_of_one_core", 0.0)
        line = ", ".join(
            f"{name} {v['percent_of_one_core']:.0f}% of a core ({v['share_of_busy_cpu']:.0f}% of busy)"
            for name, v in cpu.items()
            if v["cpu_seconds"] > 0.05
        )
        return line + (" — DISTURBED: something else was busy on this machine" if other >= 10 else "")

    def per_item(ms: dict[str, float]) -> str:
        return ", ".join(f"{name} {v:.0f} ms" for name, v in ms.items() if v >= 0.5 and name != "other processes")

    def mem_line(mem: dict[str, dict[str, float]]) -> str:
        return ", ".join(f"{name} {v['peak_rss_mib']:.0f} MiB" for name, v in mem.items())

    def split_line(d: dict[str, float]) -> str:
        return (
            f"  mean time per workflow {d['total']:.0f} ms: workflow tasks queued {d['workflow_task_queued']:.0f} / "
            f"running {d['workflow_task_running']:.0f}, activities queued {d['activity_queued']:.0f} / running "
            f"{d['activity_running']:.0f}, between tasks {d['between_tasks']:.0f}"
        )

    def lat(d: dict[str, float]) -> str:
        return f"p50 {d['p50']:.0f} / p95 {d['p95']:.0f} / p99 {d['p99']:.0f} ms"

    for key in ("floor", "floor_local"):
        if key in results:
            f = results[key]
            w(f"\n{key.replace('_', ' ')}: {f['workflow']} x{f['count']} ({f['clients']} clients)")
            w(f"  {f['per_second']:.1f} workflows/s · start to close {lat(f['start_to_close_ms'])}")
            w(split_line(f["time_split_ms"]))
            w(f"  CPU: {cpu_line(f['cpu'])}")
            w(f"  CPU per workflow: {per_item(f['cpu_ms_per_workflow'])}")
            w(f"  peak RSS: {mem_line(f['memory'])}")
    if "submit" in results:
        s = results["submit"]
        w("\nsubmit (workflows land on unpolled queues: only submitting costs)")
        for d in s.values():
            if not isinstance(d, dict) or "start_only" not in d:
                continue
            bare, real = d["start_only"], d["submit_order"]
            api_bare = bare["cpu"].get("api", {}).get("percent_of_one_core", 0)
            api_real = real["cpu"].get("api", {}).get("percent_of_one_core", 0)
            w(f"  {d['clients']} client(s), ratio {d['ratio']:.2f}")
            for name, d2, api_cpu in (("start-only", bare, api_bare), ("POST /v1/orders", real, api_real)):
                w(f"    {name:<16}{d2['per_second']:5.0f}/s  {lat(d2['latency_ms'])}  API {api_cpu:.0f}% of a core")
    if "rules" in results:
        r = results["rules"]
        w(
            f"\nrules: {r['without']['per_second']:.1f} orders/s without, {r['with']['per_second']:.1f} with "
            f"{r['rules']} active rules (ratio {r['ratio']:.3f}); submit p50 {r['submit_p50_ms']['without']:.0f} "
            f"→ {r['submit_p50_ms']['with']:.0f} ms"
        )
    if "orderflow" in results:
        o = results["orderflow"]
        w(f"\norderflow: {o['completed']}/{o['count']} orders completed")
        w(f"  ({o['clients']} clients, {o['workers']} worker process(es), {o['skus']} SKUs)")
        w(f"  {o['per_second']:.1f} orders/s end to end")
        if "floor" in results:
            w(f"  ratio to floor {o['per_second'] / results['floor']['per_second']:.2f}")
        if "floor_local" in results:
            w(f"  ratio to local-activity floor {o['per_second'] / results['floor_local']['per_second']:.2f}")
        w(f"  submit round trip {lat(o['submit']['latency_ms'])} ({o['submit']['per_second']:.0f}/s offered)")
        w(f"  submission to completed {lat(o['submit_to_completed_ms'])}")
        w(split_line(o["time_split_ms"]))
        w(f"  CPU: {cpu_line(o['cpu'])}")
        w(f"  CPU per order: {per_item(o['cpu_ms_per_workflow'])}")
        w(f"  peak RSS: {mem_line(o['memory'])}")
        sql = o["sql_per_order"]
        w(
            f"  per order: {sql['worker_statements']} SQL statements and {sql['worker_commits']} commits in the "
            f"worker, {sql['api_statements']} in the API; history {o['history']['events']} events"
        )
        integrity = o["integrity"]
        w("  no order lost or duplicated" if integrity["ok"] else f"  INTEGRITY: {'; '.join(integrity['problems'])}")
    if "parked" in results:
        p = results["parked"]
        w(
            f"\nparked: {p['parked']} orders waiting at picking (parked in {p['parking_seconds']:.0f} s, "
            f"{p['parking_per_second']:.1f}/s)"
        )
        w(
            f"  worker RSS {p['rss_mib_idle']['worker']:.0f} → {p['rss_mib_parked']['worker']:.0f} MiB, "
            f"server {p['rss_mib_idle']['temporal server']:.0f} → {p['rss_mib_parked']['temporal server']:.0f} MiB"
        )
        b, a = p["new_order_before"], p["new_order_after"]
        w(
            f"  new order submit→picking: before {lat(b['submit_to_picking_ms'])}; "
            f"after {lat(a['submit_to_picking_ms'])}"
        )
        w(f"  new order submit round trip: before {lat(b['submit_ms'])}; after {lat(a['submit_ms'])}")
        if set(p["read_model_statuses"]) != {"picking"}:
            w(f"  READ MODEL: parked orders show {p['read_model_statuses']} (all are waiting at picking)")
        w(
            f"  confirm→completed: recent {lat(p['confirm_recent_to_completed_ms'])}; "
            f"oldest {lat(p['confirm_oldest_to_completed_ms'])}"
        )
    w(f"\nJSON: {results['json']}")
    return "\n".join(out)
