"""Request and response bodies of inbound stock, forecasts, projections and replenishment."""

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from api.schemas import MAX_LINES, Strict
from api.stock_schemas import ReceiptLineIn

WarehouseCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class InboundIn(Strict):
    reference: Reference = Field(description="the purchase order or ASN; one inbound per warehouse and reference")
    warehouse: WarehouseCode
    expected_at: AwareDatetime
    lines: Annotated[list[ReceiptLineIn], Field(min_length=1, max_length=MAX_LINES)]


class InboundPatch(Strict):
    expected_at: AwareDatetime | None = None
    status: Literal["closed"] | None = Field(None, description="closed: what has not arrived is not coming")


class InboundLineOut(BaseModel):
    sku: str
    quantity: int
    received: int


class InboundOut(BaseModel):
    inbound_id: str
    reference: str
    warehouse: str
    expected_at: datetime
    status: str
    source: str
    created_by: str
    created_at: datetime
    received_at: datetime | None
    lines: list[InboundLineOut]


class InboundPage(BaseModel):
    items: list[InboundOut]
    next_cursor: str | None = None


class ForecastOut(BaseModel):
    sku: str
    warehouse: str
    pattern: str = Field(description="smooth, erratic, intermittent, lumpy or none (ADI / CV²)")
    method: str = Field(description="ses, ses_weekly, damped_trend, damped_trend_weekly, sba or zero")
    first_day: date = Field(description="the day daily[0] forecasts")
    daily: list[float]
    mae: float = Field(description="backtest on the SKU's own last 28 days: mean absolute error per day")
    bias: float = Field(description="backtest: mean of forecast - actual per day; above zero over-forecasts")
    sigma: float = Field(description="standard deviation of one day's error in the backtest")
    adi: float
    cv2: float
    history_days: int
    computed_at: datetime


class ProjectionOut(BaseModel):
    sku: str
    warehouse: str
    available: int = Field(description="on hand - reserved - backordered (backorders count at the default warehouse)")
    backordered: int
    open_orders: int = Field(description="orders waiting for this SKU")
    inbound: int
    next_inbound_at: datetime | None
    stockout_at: datetime | None = Field(description="when stock runs out at the forecast demand")
    sure_stockout_at: datetime | None = Field(description="when it runs out even at low demand")
    at_risk: bool
    lead_time_days: float
    lead_time_sd_days: float
    lead_time_demand: float
    safety_stock: int
    reorder_point: int
    suggested_quantity: int
    computed_at: datetime


class StockAlertOut(BaseModel):
    alert_id: str
    kind: str
    sku: str
    warehouse: str
    message: str
    detail: dict[str, object]
    raised_at: datetime
    cleared_at: datetime | None


class ReorderIn(Strict):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    warehouse: WarehouseCode
    reference: Reference = Field(description="the purchase order number it becomes")
    expected_at: AwareDatetime | None = Field(None, description="default: now + the SKU's lead time")
    quantity: Annotated[int, Field(ge=1, le=10**9)] | None = Field(None, description="default: the suggested quantity")


class ExpectedInboundOut(BaseModel):
    sku: str
    inbound_id: str
    reference: str
    warehouse: str
    quantity: int
    expected_at: datetime
    after_promise: bool = Field(description="arrives after the order's ship-by promise")
