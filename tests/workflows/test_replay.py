"""Recorded histories of the main paths must keep replaying against today's workflow code."""

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain.contract import WorkflowType, order_workflow_id
from domain.policy import NewOrder
from domain.steps import OrderView
from workflows.order import OrderWorkflow
from workflows.restock import RestockWorkflow
from workflows.returns import ReturnWorkflow

HISTORIES = Path(__file__).parent.parent / "histories"


PATHS = [
    "happy_path",
    "stock_shortage",
    "exception_resolved",
    "cancelled_mid_pick",
    "split",
    "backordered",
    "delivered",
]
# Top level: orders started with regular activities and a search-attribute write per status; lean/: since
# the `lean-steps` patch (local activities, OrderStatus written where the order rests). `edited` is lean
# (recorded after it): an order edited before pick, one part replaced and a line added. `inbound_late`
# (since the `inbound-eta` patch): backordered, warned that its inbound comes after ship-by, the inbound
# moved back in time (the warning clears), then received. `edited_again`: its ship-by moved (patch
# `ship-by-edits`), then a line changed with the rules' gift, tag and hold (patch `edit-rules`),
# released, picked. `held_outside_api`: held and released by updates sent outside the API, each audited
# by the order (the `audit-outside-api` patch).
RECORDED = [*PATHS, *(f"lean/{name}" for name in PATHS), "edited", "inbound_late", "edited_again", "held_outside_api"]


@pytest.mark.parametrize("name", RECORDED)
async def test_recorded_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(order_workflow_id(name), (HISTORIES / f"{name}.json").read_text())
    result = await Replayer(workflows=[OrderWorkflow, RestockWorkflow]).replay_workflow(
        history, raise_on_replay_failure=True
    )
    assert result.replay_failure is None


async def test_a_recorded_return_replays() -> None:
    """Approved, received (restocked and damaged), refunded by credit note, closed."""
    history = WorkflowHistory.from_json("return-returned", (HISTORIES / "returned.json").read_text())
    result = await Replayer(workflows=[ReturnWorkflow]).replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


@workflow.defn(name=WorkflowType.ORDER, sandboxed=False)
class ReorderedOrderWorkflow(OrderWorkflow):
    """Today's workflow with one change that orders in flight would trip over: a timer before the first step."""

    @workflow.run
    async def run(self, new: NewOrder) -> OrderView:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(new)


@pytest.mark.parametrize(
    "name", ["happy_path", "split", "delivered", "lean/happy_path", "lean/split", "edited", "inbound_late"]
)
async def test_the_gate_catches_a_non_deterministic_change(name: str) -> None:
    history = WorkflowHistory.from_json(order_workflow_id(name), (HISTORIES / f"{name}.json").read_text())
    result = await Replayer(workflows=[ReorderedOrderWorkflow, RestockWorkflow]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
