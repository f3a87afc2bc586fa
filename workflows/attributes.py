"""Search attributes that operations filter on in the Temporal UI and CLI."""

from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ORDER_TOTAL = SearchAttributeKey.for_float("OrderTotal")

ALL = (ORDER_STATUS, CHANNEL, CUSTOMER_ID, ORDER_TOTAL)

ORDER_WORKFLOW = "Order"
