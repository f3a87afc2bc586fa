"""One event to one subscriber, retried with exponential backoff until it lands or the window closes."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import WebhookActivities
    from domain.contract import ErrorType, WorkflowType
    from domain.events import DeadLetter, DeliverWebhook

# A subscriber back after an hour down is served within ten minutes; the whole try is bounded by the
# schedule-to-close window (settings.webhook_retry_hours), not by a number of attempts.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=[ErrorType.WEBHOOK_REFUSED.value, ErrorType.SUBSCRIPTION_GONE.value],
)


@workflow.defn(name=WorkflowType.WEBHOOK_DELIVERY.value)
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, req: DeliverWebhook) -> str:
        try:
            await workflow.execute_activity_method(
                WebhookActivities.deliver_webhook,
                req,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(hours=req.retry_hours),
                retry_policy=DELIVERY_RETRY,
            )
        except ActivityError as err:
            cause = err.cause or err
            reason = str(cause) or type(cause).__name__
            last = getattr(cause, "cause", None)
            if last is not None:  # a timeout carries the last attempt's failure
                reason = f"{reason}: {last}"
            if not (isinstance(cause, ApplicationError) and cause.non_retryable):
                reason = f"gave up after {req.retry_hours:g} h of retries; last: {reason}"
            await workflow.execute_activity_method(
                WebhookActivities.dead_letter_webhook,
                DeadLetter(req.delivery_id, reason),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
            return "failed"
        return "delivered"
