"""Figures from what a phase saw: latency percentiles, memory, history shapes and time splits, SQL
counts, and py-spy profiles."""

import contextlib
import json
import math
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.stack import Process, Stack

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_ms(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50": round(percentile(ms, 50), 1),
        "p95": round(percentile(ms, 95), 1),
        "p99": round(percentile(ms, 99), 1),
        "max": round(max(ms), 1) if ms else float("nan"),
    }


def memory(processes: dict[str, Process]) -> dict[str, dict[str, float]]:
    return {
        name: {"peak_rss_mib": round(p.peak_rss_mib(), 1), "rss_mib": round(p.rss_mib(), 1)}
        for name, p in processes.items()
        if p.alive()
    }


def history_shape(events: Sequence[Any]) -> dict[str, Any]:
    kinds = Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events)
    return {"events": len(events), "by_type": dict(kinds.most_common())}


def time_split(events: Sequence[Any]) -> dict[str, float]:
    """Where one workflow's wall time went, in seconds, from its history's event times: waiting in a
    task queue versus being worked on, for workflow tasks and for activities."""
    at = {e.event_id: e.event_time.ToDatetime().timestamp() for e in events}
    split = Counter[str]()
    for e in events:
        kind = e.event_type
        t = at[e.event_id]
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            split["workflow_task_queued"] += t - at[e.workflow_task_started_event_attributes.scheduled_event_id]
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            split["workflow_task_running"] += t - at[e.workflow_task_completed_event_attributes.started_event_id]
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            split["activity_queued"] += t - at[e.activity_task_started_event_attributes.scheduled_event_id]
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            split["activity_running"] += t - at[e.activity_task_completed_event_attributes.started_event_id]
    total = at[events[-1].event_id] - at[events[0].event_id]
    split["between_tasks"] = total - sum(split.values())
    split["total"] = total
    return dict(split)


async def time_split_of(client: Client, workflow_ids: list[str], sample: int = 40) -> dict[str, float]:
    """Mean time_split over an even sample of the workflows, in milliseconds."""
    step = max(1, len(workflow_ids) // sample)
    chosen = workflow_ids[::step][:sample]
    splits = [time_split((await client.get_workflow_handle(w).fetch_history()).events) for w in chosen]
    keys = ["workflow_task_queued", "workflow_task_running", "activity_queued", "activity_running"]
    return {
        k: round(1000 * sum(s.get(k, 0.0) for s in splits) / len(splits), 1) for k in [*keys, "between_tasks", "total"]
    }


def merge_counts(counts: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind: Counter[str] = Counter()
    for c in counts:
        by_kind.update(c.get("by_kind", {}))
    return {
        "statements": sum(c.get("statements", 0) for c in counts),
        "commits": sum(c.get("commits", 0) for c in counts),
        "by_kind": dict(by_kind.most_common()),
    }


def read_sql_counts(stack: Stack, name: str) -> dict[str, Any]:
    path = stack.sql_counts.get(name)
    if path is None or not path.exists():
        return {}
    counts: dict[str, Any] = json.loads(path.read_text())
    return counts


class Profiler:
    """py-spy on a process from start() until stop(); folded stacks summarized by function."""

    def __init__(self, name: str, pid: int, out: Path) -> None:
        self.name, self.pid, self.out = name, pid, out
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> str | None:
        return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")

    def start(self) -> None:
        binary = self.available()
        if binary is None:
            return
        log = open(self.out.with_suffix(".log"), "wb")  # noqa: SIM115 - owned by the child
        command = [
            binary,
            "record",
            "--pid",
            str(self.pid),
            "--rate",
            "100",
            "--gil",
            "--nonblocking",
            "--format",
            "raw",
            "-o",
            str(self.out),
        ]
        self.proc = subprocess.Popen(command, stdout=log, stderr=log)

    def stop(self) -> dict[str, Any]:
        if self.proc is None:
            return {"error": "py-spy not installed: .venv/bin/pip install py-spy"}
        self.proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)
        if not self.out.exists():
            return {"error": f"py-spy wrote nothing; see {self.out.with_suffix('.log')}"}
        return summarize_folded(self.out)


def summarize_folded(path: Path, top: int = 25) -> dict[str, Any]:
    """Inclusive share of samples per function (a function counted once per stack) and self share."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [frame.rsplit(":", 1)[0] for frame in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += count
        leaf[frames[-1]] += count
    share = 100 / total if total else 0
    return {
        "samples": total,
        "file": str(path),
        "inclusive_percent": {k: round(v * share, 1) for k, v in inclusive.most_common(top)},
        "self_percent": {k: round(v * share, 1) for k, v in leaf.most_common(top)},
    }
