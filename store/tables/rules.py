"""Business rules, their versions, and where they fired."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import TS, Base


class RuleRow(Base):
    """A business rule: its versions are in rule_versions; `active_version` is the one that runs."""

    __tablename__ = "rules"
    rule_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # draft | active | archived
    latest_version: Mapped[int] = mapped_column(Integer)
    active_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)


class RuleVersionRow(Base):
    """One immutable version of a rule, as saved."""

    __tablename__ = "rule_versions"
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.rule_id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    when: Mapped[str] = mapped_column(Text)
    then: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    priority: Mapped[int] = mapped_column(Integer)
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    active_from: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    active_to: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(TS)


class RuleFiringRow(Base):
    """A rule version that fired on an order, written by the order's confirm step (once per order)."""

    __tablename__ = "rule_firings"
    __table_args__ = (Index("ix_rule_firings_rule", "rule_id", "id"), UniqueConstraint("order_id", "rule_id"))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(100))
    rule_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    did: Mapped[list[str]] = mapped_column(JSON)
    overridden: Mapped[list[str]] = mapped_column(JSON)
    fired_at: Mapped[datetime] = mapped_column(TS)
