"""Request and response bodies of /v1/rules."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from api.order_schemas import SubmitOrder
from api.schemas import Sku, Strict, Text, unstorable
from domain.orders import Priority
from domain.policy import RuleFiring
from domain.rules import (
    Action,
    AddGift,
    Hold,
    RequireApproval,
    Route,
    RouteMode,
    RuleStatus,
    RuleVersion,
    SetPriority,
    SetShipBy,
    SetSplit,
    Tag,
)
from rules.conditions import MAX_LENGTH
from store.rules import RuleDraft, action_to_json

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Warehouse = Annotated[str, StringConstraints(min_length=1, max_length=32)]
TagText = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,39}$")]
Hours = Annotated[float, Field(gt=0, le=24 * 365)]


class ActionBody(BaseModel):
    """An action: unknown fields are refused, and so is text we cannot store. (Not `Strict`: a
    before-validator on every field would take `type`, the discriminator, too.)"""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for field, text in value.items():
                if problem := unstorable(text):
                    raise PydanticCustomError(
                        "storable_text", "{field}: {problem}", {"field": field, "problem": problem}
                    )
        return value


class AddGiftIn(ActionBody):
    type: Literal["add_gift"]
    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=1000)] = 1
    required: bool = Field(False, description="wait for the gift's stock instead of going on without it")


class RequireApprovalIn(ActionBody):
    type: Literal["require_approval"]
    reason: Reason


class HoldIn(ActionBody):
    type: Literal["hold"]
    reason: Reason
    hours: Hours | None = Field(None, description="released by itself after this long; none: by a person")


class SetPriorityIn(ActionBody):
    type: Literal["set_priority"]
    priority: Priority


class SetShipByIn(ActionBody):
    type: Literal["set_ship_by"]
    hours: Hours


class RouteIn(ActionBody):
    type: Literal["route"]
    warehouses: Annotated[list[Warehouse], Field(min_length=1, max_length=20)]
    mode: RouteMode = RouteMode.PREFER


class SetSplitIn(ActionBody):
    type: Literal["set_split"]
    allow_split: bool | None = None
    allow_partial: bool | None = None


class TagIn(ActionBody):
    type: Literal["tag"]
    tags: Annotated[list[TagText], Field(min_length=1, max_length=10)]


ActionIn = Annotated[
    AddGiftIn | RequireApprovalIn | HoldIn | SetPriorityIn | SetShipByIn | RouteIn | SetSplitIn | TagIn,
    Field(discriminator="type"),
]


def action_of(body: ActionIn) -> Action:
    match body:
        case AddGiftIn():
            return AddGift(body.sku, body.quantity, body.required)
        case RequireApprovalIn():
            return RequireApproval(body.reason)
        case HoldIn():
            return Hold(body.reason, body.hours)
        case SetPriorityIn():
            return SetPriority(body.priority)
        case SetShipByIn():
            return SetShipBy(body.hours)
        case RouteIn():
            return Route(list(body.warehouses), body.mode)
        case SetSplitIn():
            return SetSplit(body.allow_split, body.allow_partial)
        case TagIn():
            return Tag(list(body.tags))
    raise AssertionError(body)


class RuleIn(Strict):
    name: Text
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    when: Annotated[str, StringConstraints(max_length=MAX_LENGTH + 1)] = Field(
        examples=['order.channel == "web" && order.total > 300.0'], description="a CEL condition (docs/rules.md)"
    )
    then: Annotated[list[ActionIn], Field(min_length=1, max_length=20)]
    priority: Annotated[int, Field(ge=0, le=100_000)] = Field(100, description="lower runs first and wins")
    exclusive: bool = Field(False, description="once this rule fires, no rule after it applies")
    status: Literal["draft", "active"] = Field("draft", description="active: activate this version at once")
    active_from: AwareDatetime | None = None
    active_to: AwareDatetime | None = None

    def draft(self) -> RuleDraft:
        return RuleDraft(
            name=self.name,
            when=self.when,
            then=[action_of(a) for a in self.then],
            priority=self.priority,
            exclusive=self.exclusive,
            description=self.description,
            active_from=self.active_from,
            active_to=self.active_to,
        )


class RuleOut(BaseModel):
    rule_id: int
    version: int
    ref: str = Field(description="rule_id@version, as orders record it")
    status: RuleStatus
    name: str
    description: str
    when: str
    then: list[dict[str, object]]
    priority: int
    exclusive: bool
    active_from: datetime | None
    active_to: datetime | None

    @classmethod
    def of(cls, rule: RuleVersion) -> "RuleOut":
        return cls(
            rule_id=rule.rule_id,
            version=rule.version,
            ref=rule.ref,
            status=rule.status,
            name=rule.name,
            description=rule.description,
            when=rule.when,
            then=[action_to_json(a) for a in rule.then],
            priority=rule.priority,
            exclusive=rule.exclusive,
            active_from=rule.active_from,
            active_to=rule.active_to,
        )


class RulePage(BaseModel):
    items: list[RuleOut]
    next_cursor: int | None = None


class ActivateIn(Strict):
    version: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(None, description="default: the latest version")


class FiringOut(BaseModel):
    order_id: str
    rule: str
    did: list[str]
    overridden: list[str]
    at: datetime


class FiringPage(BaseModel):
    items: list[FiringOut]
    next_cursor: int | None = None


class SimulateIn(Strict):
    rule: RuleIn | None = Field(None, description="a draft to try; or name a saved rule_id (and version)")
    rule_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    version: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    last: Annotated[int, Field(ge=1, le=10_000)] = 500


class GiftNeed(BaseModel):
    sku: str
    units: int = Field(description="gift units the matching orders would have taken")
    available: int = Field(description="units available now, all warehouses")


class SimulationOut(BaseModel):
    rule: str
    orders_checked: int
    matched: int
    examples: list[str] = Field(description="order IDs it matched, newest first (at most 10)")
    actions: dict[str, int] = Field(description="per action: on how many orders it would have taken effect")
    gifts: list[GiftNeed]
    overrides: dict[str, int] = Field(description="active rules whose actions it would override: on how many orders")
    overridden_by: dict[str, int] = Field(description="active rules that would override it: on how many orders")


class TestIn(Strict):
    order: SubmitOrder
    rule: RuleIn | None = Field(None, description="a draft to evaluate with the active rules")


class FiringResult(BaseModel):
    rule: str
    name: str
    did: list[str]
    overridden: list[str]

    @classmethod
    def of(cls, firing: RuleFiring) -> "FiringResult":
        return cls(rule=firing.rule, name=firing.name, did=firing.did, overridden=firing.overridden)


class TestOut(BaseModel):
    fired: list[FiringResult]
    gifts: list[dict[str, object]]
    approval_reasons: list[str]
    hold: str | None
    hold_until: datetime | None
    priority: Priority
    ship_by: datetime
    allow_split: bool
    allow_partial: bool
    route: list[str]
    route_only: bool
    tags: list[str]
