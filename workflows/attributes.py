"""Search attributes that operations filter on in the Temporal UI and CLI, typed for the SDK; their
names are the contract's (`domain.contract.SearchAttribute`)."""

from temporalio.common import SearchAttributeKey

from domain.contract import SearchAttribute

ORDER_STATUS = SearchAttributeKey.for_keyword(SearchAttribute.ORDER_STATUS.value)
CHANNEL = SearchAttributeKey.for_keyword(SearchAttribute.CHANNEL.value)
CUSTOMER_ID = SearchAttributeKey.for_keyword(SearchAttribute.CUSTOMER_ID.value)
ORDER_TOTAL = SearchAttributeKey.for_float(SearchAttribute.ORDER_TOTAL.value)
HAS_OPEN_EXCEPTION = SearchAttributeKey.for_bool(SearchAttribute.HAS_OPEN_EXCEPTION.value)
AT_RISK = SearchAttributeKey.for_bool(SearchAttribute.AT_RISK.value)

ALL = (ORDER_STATUS, CHANNEL, CUSTOMER_ID, ORDER_TOTAL, HAS_OPEN_EXCEPTION, AT_RISK)
