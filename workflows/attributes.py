"""Search attributes that operations filter on in the Temporal UI and CLI."""

from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ORDER_TOTAL = SearchAttributeKey.for_float("OrderTotal")
HAS_OPEN_EXCEPTION = SearchAttributeKey.for_bool("HasOpenException")
AT_RISK = SearchAttributeKey.for_bool("AtRisk")

ALL = (ORDER_STATUS, CHANNEL, CUSTOMER_ID, ORDER_TOTAL, HAS_OPEN_EXCEPTION, AT_RISK)

ORDER_WORKFLOW = "Order"
