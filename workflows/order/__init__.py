"""The order's workflow (`OrderWorkflow`, registered as `Order`) and the parts it conducts."""

from workflows.order.workflow import OrderWorkflow

__all__ = ["OrderWorkflow"]
