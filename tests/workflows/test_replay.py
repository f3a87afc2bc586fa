"""Recorded histories of the main paths must keep replaying against today's workflow code."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.order import OrderWorkflow
from workflows.restock import RestockWorkflow

HISTORIES = Path(__file__).parent.parent / "histories"


@pytest.mark.parametrize(
    "name", ["happy_path", "stock_shortage", "exception_resolved", "cancelled_mid_pick", "split", "backordered"]
)
async def test_recorded_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(f"order-{name}", (HISTORIES / f"{name}.json").read_text())
    result = await Replayer(workflows=[OrderWorkflow, RestockWorkflow]).replay_workflow(
        history, raise_on_replay_failure=True
    )
    assert result.replay_failure is None
