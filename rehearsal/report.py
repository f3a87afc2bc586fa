"""The report: markdown (printed too), the JSON beside it, and a chart of the day as SVG."""

from pathlib import Path
from typing import Any

from rehearsal.clock import OPENING

COLOURS = {"received": "#4c78a8", "completed": "#54a24b", "exceptions": "#e45756"}


def _f(value: float | None, digits: int = 1, unit: str = "") -> str:
    return "—" if value is None else f"{value:.{digits}f}{unit}"


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{100 * rate:.1f} %"


def chart(hourly: dict[str, list[int]]) -> str:
    """Orders received, completed and exceptions raised per simulated hour: grouped bars."""
    hours = max(len(v) for v in hourly.values()) or 1
    top = max([1, *(max(v or [0]) for v in hourly.values())])
    width, height, left, bottom = 60 + 36 * hours, 300, 50, 40
    plot_h = height - bottom - 30
    bar = 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="11">',
        f'<text x="{left}" y="16" font-size="13">The rehearsed day: per simulated hour from {OPENING:%H:%M}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#333"/>',
    ]
    for tick in range(0, top + 1, max(1, top // 5)):
        y = height - bottom - plot_h * tick / top
        parts.append(f'<text x="{left - 6}" y="{y + 4:.0f}" text-anchor="end">{tick}</text>')
        parts.append(f'<line x1="{left}" y1="{y:.0f}" x2="{width - 10}" y2="{y:.0f}" stroke="#eee"/>')
    for h in range(hours):
        x0 = left + 6 + 36 * h
        for k, (name, values) in enumerate(hourly.items()):
            v = values[h] if h < len(values) else 0
            bh = plot_h * v / top
            parts.append(
                f'<rect x="{x0 + k * bar}" y="{height - bottom - bh:.1f}" width="{bar - 1}" height="{bh:.1f}" '
                f'fill="{COLOURS.get(name, "#999")}"><title>{name} {v}</title></rect>'
            )
        label = (OPENING.hour + h) % 24
        parts.append(f'<text x="{x0 + 15}" y="{height - bottom + 14}" text-anchor="middle">{label:02d}</text>')
    for k, name in enumerate(hourly):
        x = left + 140 * k
        parts.append(f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{COLOURS.get(name, "#999")}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 5}">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def render(r: dict[str, Any]) -> str:
    k = r["kpis"]["kpis"]
    ref = r["kpis"]["reference"]
    d = r["demand"]
    opts = r["options"]
    manual = k["manual_intervention"]
    allowed = d["person_fault_share"] + 0.01
    response = r["kpis"]["exception_response_minutes_all"]
    cycle = k["cycle_time"]["to_shipped"]
    per_person = k["throughput"]["orders_per_person_per_day"]
    out = [
        f"# Rehearsal {r['started']}",
        "",
        f"{d['orders']} orders over {opts['hours']:g} simulated hours at {opts['speed']:g}x, seed {opts['seed']}, "
        f"{r['database']}, {opts['workers']} worker(s), {opts['handlers']} handlers; "
        f"faults: {', '.join(opts['faults']) or 'none'}. Wall time {r['wall_seconds']:.0f} s. Code {r['code']}.",
        "",
        "## Score (KPI code, simulated time)",
        "",
        "| figure | this day | typical OMS before | good OMS after |",
        "|---|---|---|---|",
        f"| cycle time to shipped p50 / p90 | {_f(cycle['p50'])} h / {_f(cycle['p90'])} h "
        f"| {ref['cycle_time_hours'][0]:g} h | {ref['cycle_time_hours'][1]:g} h |",
        f"| manual intervention | {_pct(manual['rate'])} ({manual['numerator']} of {manual['denominator']}) "
        f"| {ref['manual_intervention_pct'][0]:g} % | {ref['manual_intervention_pct'][1]:g} % |",
        f"| error rate | {_pct(k['errors']['rate'])} {k['errors']['breakdown'] or ''} "
        f"| {ref['error_pct'][0]:g} % | {ref['error_pct'][1]:g} % |",
        f"| orders per person per day | {_f(per_person)} | {ref['orders_per_person_per_day'][0]:g} "
        f"| {ref['orders_per_person_per_day'][1]:g} |",
        f"| exception response p50 / p90 (first action) | {_f(response['p50'])} min / {_f(response['p90'])} min "
        f"| {ref['exception_response_minutes'][0]:g} min | {ref['exception_response_minutes'][1]:g} min |",
        f"| on-time ship rate | {_pct(k['on_time_ship']['rate'])} ({k['on_time_ship']['on_time']} on time, "
        f"{k['on_time_ship']['late']} late, {k['on_time_ship']['pending']} pending) | | |",
        f"| warning lead time p50 / min | {_f(k['early_warning']['lead_p50'])} h / "
        f"{_f(k['early_warning']['lead_min'])} h ({k['early_warning']['warned']} warned, "
        f"{k['early_warning']['breaches']} breaches) | | |",
        f"| fill rate (first allocation) | {_pct(k['fill_rate']['rate'])} | | |",
        f"| cycle time to delivered p50 | {_f(k['cycle_time']['to_delivered']['p50'])} h | | |",
        "",
        f"Manual intervention allowed: at most {100 * allowed:.1f} % (orders given a person-fault "
        f"{100 * d['person_fault_share']:.1f} % + 1 point): "
        f"**{'held' if (manual['rate'] or 0) <= allowed else 'NOT held'}**. "
        f"GET /v1/kpis counts: {r['kpis']['api_counts']}.",
        "",
        "Exception response by kind (hours, first action p50 / resolution p50):",
        "",
    ]
    for kind, e in k["exception_response"].items():
        out.append(
            f"- {kind}: {e['count']} raised, {e['open']} open; first action p50 {_f(e['to_first_action']['p50'], 2)} h"
            f", resolved p50 {_f(e['to_resolution']['p50'], 2)} h"
        )
    out += ["", "## Integrity", ""]
    integrity = r["integrity"]
    for name, result in integrity.items():
        if name == "ok":
            continue
        figures = {key: v for key, v in result.items() if key not in ("ok", "problems", "problem_count")}
        out.append(f"- {'PASS' if result['ok'] else 'FAIL'} {name.replace('_', ' ')}: {figures}")
        out += [f"  - {p}" for p in result["problems"]]
    out += ["", f"**{'All integrity checks hold.' if integrity['ok'] else 'INTEGRITY FAILED.'}**", ""]
    out += ["## The day", "", "| at | what |", "|---|---|"]
    out += [f"| {e['at']} | {e['what']} |" for e in r["events"]]
    out += ["", f"Demand: {d}", "", f"Answers to the channels: {r['answers']}", f"Webhooks: {r['webhooks']}", ""]
    out += ["## Touched orders", "", "| order | reasons (KPI) | handler's actions |", "|---|---|---|"]
    acts: dict[str, list[str]] = {}
    for t in r["people"]["touches"]:
        acts.setdefault(t["order_id"], []).append(f"{t['kind']} → {t['action']} ({t['handler']}, {t['answer']})")
    for order_id, reasons in sorted(r["kpis"]["touched_orders"].items()):
        out.append(f"| {order_id} | {', '.join(reasons)} | {'; '.join(acts.get(order_id, []))} |")
    out += ["", "![the day](day.svg)", ""]
    return "\n".join(out)


def write(results: dict[str, Any], folder: Path) -> str:
    text = render(results)
    (folder / "report.md").write_text(text)
    (folder / "day.svg").write_text(chart(results["kpis"]["hourly"]))
    return text
