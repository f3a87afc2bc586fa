"""The commands every part of the order's workflow issues: run a step's activity, write the read model,
keep the search attributes and the current details in step with the order.

Also what the parts share: retry policies, `within` (a bounded wait), `Cancelled` (unwinds the flow to
compensation) and `refusals_answered` (a domain refusal becomes the caller's non-retryable error).
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.orders import OrderActivities
    from domain.contract import Update, sent_by_api
    from domain.exceptions import OrderException
    from domain.order_state import OrderState, Refusal
    from domain.orders import Address, OrderStatus, Step
    from domain.steps import Alert, KeyedEntry, OutsideUpdate, ProjectOrder
    from workflows import attributes

# Transient trouble (database busy, a deploy) is retried with backoff for several minutes before the
# step is handed to a person as a `step_failed` exception.
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=12,
)
# How a step's activity reports that it failed for good.
STEP_FAILED = (ActivityError, ApplicationError)
# Projection must land eventually; it has nobody to hand over to.
PROJECTION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
PROJECTION_TIMEOUT = timedelta(seconds=15)
# A step failing again waits for its next attempt in a durable timer, not in the worker: the order keeps
# answering queries and updates while a step backs off.
LOCAL_RETRY_THRESHOLD = timedelta(seconds=2)
# Statuses an order passes through while its steps run back to back (see `publish`).
PASSING = frozenset(
    s.value
    for s in (
        OrderStatus.RECEIVED,
        OrderStatus.CONFIRMED,
        OrderStatus.ALLOCATED,
        OrderStatus.PICKING,
        OrderStatus.SHIPPED,
    )
)
# The search attributes the workflow keeps in step with the order, by the names `publish` uses.
PUBLISHED: dict[str, SearchAttributeKey[Any]] = {
    "status": attributes.ORDER_STATUS,
    "has_open": attributes.HAS_OPEN_EXCEPTION,
    "at_risk": attributes.AT_RISK,
}
# What the search attributes of an order with local steps stand at when it starts: OrderStatus as the API
# starts it; HasOpenException and AtRisk unset until they first become true.
STARTED_WITH: dict[str, Any] = {"status": OrderStatus.RECEIVED.value, "has_open": False, "at_risk": False}

# Orders running before updates from outside the API were audited: their histories have no audit step.
AUDIT_OUTSIDE_API = "audit-outside-api"

A = TypeVar("A")
R = TypeVar("R")


class Cancelled(Exception):
    """Unwinds the main flow to compensation."""


@contextlib.contextmanager
def refusals_answered() -> Iterator[None]:
    """A request the order refuses fails the update (not the workflow task), with the refusal's type:
    the API answers 404 or 409 with the reason."""
    try:
        yield
    except Refusal as refusal:
        raise ApplicationError(str(refusal), type=refusal.kind.value, non_retryable=True) from None


async def within(span: timedelta, condition: Callable[[], bool]) -> bool:
    """Wait up to `span` for `condition`; True if it came true."""
    if span <= timedelta(0):
        return condition()
    with contextlib.suppress(TimeoutError):
        await workflow.wait_condition(condition, timeout=span)
    return condition()


class Commands:
    def __init__(self, state: OrderState) -> None:
        self._state = state
        self._published: dict[str, Any] = {}
        # One writer at a time, so the read model never moves backwards.
        self.writes = asyncio.Lock()

    async def execute(
        self,
        activity: Callable[[Any, A], Awaitable[R]],
        arg: A,
        *,
        start_to_close_timeout: timedelta,
        retry_policy: RetryPolicy,
    ) -> R:
        """Run a step's activity. With `local_steps` (every order started since they came) it is a local
        activity: the worker that runs the order runs the step at once, and its result is recorded in the
        order's history with the workflow task, without a round trip through the server's task queues.
        Retries, timeouts and the recorded result are the same; a worker that dies mid-step has the step
        run again. Orders started before carry `local_steps=False` and replay with regular activities."""
        if self._state.policy.local_steps:
            return await workflow.execute_local_activity_method(
                activity,
                arg,
                start_to_close_timeout=start_to_close_timeout,
                retry_policy=retry_policy,
                local_retry_threshold=LOCAL_RETRY_THRESHOLD,
            )
        return await workflow.execute_activity_method(
            activity, arg, start_to_close_timeout=start_to_close_timeout, retry_policy=retry_policy
        )

    async def project(
        self,
        entries: list[KeyedEntry],
        exceptions: list[OrderException] | None = None,
        alerts: list[Alert] | None = None,
        ship_to: Address | None = None,
    ) -> None:
        """Write a workflow-side change to the read model, in the order the workflow made them."""
        state = self._state
        self.publish()
        async with self.writes:
            await self.execute(
                OrderActivities.project_order,
                ProjectOrder(
                    state.order_id,
                    state.status(),
                    entries,
                    exceptions or [],
                    alerts or [],
                    at_risk=state.at_risk,
                    ship_to=ship_to,
                    seq=state.next_seq(),
                ),
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PROJECTION_RETRY,
            )

    async def audit_outside_api(self, update: Update, actor: str) -> None:
        """An update that did not come through the API (which audits its own) leaves an audit row too."""
        info = workflow.current_update_info()
        if info is None or sent_by_api(info.id) or not workflow.patched(AUDIT_OUTSIDE_API):
            return
        await self.execute(
            OrderActivities.audit_outside_update,
            OutsideUpdate(self._state.order_id, update.value, info.id, actor),
            start_to_close_timeout=PROJECTION_TIMEOUT,
            retry_policy=PROJECTION_RETRY,
        )

    def publish(self, resting: bool = False) -> None:
        """Keep the search attributes operations filter on in step with the order.

        Each write is a visibility update on the server, the costliest command an order gives. So on orders
        with local steps a passing status (the steps running back to back) is not written: OrderStatus changes when
        the order comes to rest (`resting`: it waits for the warehouse; or it needs a person, is held,
        backordered, awaits approval), when it moves on from a rest, and when it ends. The workflow's
        current details and the read model show every status as it happens."""
        state = self._state
        lean = state.policy.local_steps  # orders started before this rule write every change
        published = {**(STARTED_WITH if lean else {}), **self._published}
        current = {
            "status": state.status().value,
            "has_open": state.has_open_exception,
            "at_risk": state.at_risk,
        }
        passing = current["status"] in PASSING and published.get("status") in PASSING and not published.get("rest")
        if lean and passing and not resting:
            current["status"] = published["status"]
        updates: list[SearchAttributeUpdate[Any]] = [
            key.value_set(current[name]) for name, key in PUBLISHED.items() if published.get(name) != current[name]
        ]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published = {**current, "rest": resting}
            workflow.logger.info("order %s is %s", state.order_id, current["status"])

    def show(self, step: Step | None, what: str) -> None:
        heading = f"**Step:** {step.value} — {what}" if step else f"**{what}**"
        workflow.set_current_details(f"{heading}\n\n**Status:** {self._state.status().value}")
