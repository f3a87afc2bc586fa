"""per-order KPI facts (order_kpi_facts) and their hourly rollup (kpi_rollup), maintained by the
projection, backfilled here; people's timeline entries by time (a partial index)

Revision ID: 0016_kpi_facts
Revises: 0015_returns
Create Date: 2026-12-07 02:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store import kpi_facts

revision: str = "0016_kpi_facts"
down_revision: str | None = "0015_returns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PEOPLE_ONLY = "actor LIKE 'key:%'"
COUNTERS = (
    "orders",
    "touched",
    "touch_address_changed",
    "touch_approval",
    "touch_cancelled",
    "touch_exception_resolved",
    "touch_hold",
    "errored",
    "error_address_rejected",
    "error_delivery_failed",
    "error_order_invalid",
    "error_step_failed",
    "error_system_cancelled",
    "shipped",
    "delivered",
    "on_time",
    "late_shipped",
    "late_shipped_warned",
    "first_units",
    "allocated_units",
    "warned",
    "completed",
)


def upgrade() -> None:
    op.create_table(
        "order_kpi_facts",
        sa.Column("order_id", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_hour", sa.Integer(), nullable=False),
        sa.Column("ship_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shipped_hours", sa.Float(), nullable=True),
        sa.Column("delivered_hours", sa.Float(), nullable=True),
        sa.Column("touches", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("units_ordered", sa.Integer(), nullable=False),
        sa.Column("units_first_allocation", sa.Integer(), nullable=True),
        sa.Column("warning_lead_hours", sa.Float(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_hour", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.order_id"], name=op.f("fk_order_kpi_facts_order_id_orders")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_kpi_facts")),
    )
    op.create_index("ix_order_kpi_facts_received", "order_kpi_facts", ["received_at"])
    op.create_index("ix_order_kpi_facts_completed", "order_kpi_facts", ["completed_at"])
    for index, column in (
        ("shipped", "shipped_hours"),
        ("delivered", "delivered_hours"),
        ("lead", "warning_lead_hours"),
    ):
        op.create_index(
            f"ix_order_kpi_facts_{index}",
            "order_kpi_facts",
            [column, "received_at", "channel"],
            sqlite_where=sa.text(f"{column} IS NOT NULL"),
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )
    op.create_index(
        "ix_order_kpi_facts_hour", "order_kpi_facts", ["received_hour", "shipped_hours", "received_at", "channel"]
    )
    op.create_index(
        "ix_order_kpi_facts_open",
        "order_kpi_facts",
        ["received_at", "ship_by", "status", "warning_lead_hours", "received_hour", "channel"],
        sqlite_where=sa.text("shipped_at IS NULL"),
        postgresql_where=sa.text("shipped_at IS NULL"),
    )
    op.create_table(
        "kpi_rollup",
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in COUNTERS),
        sa.PrimaryKeyConstraint("hour", "channel", name=op.f("pk_kpi_rollup")),
    )
    op.create_index(
        "ix_order_events_people",
        "order_events",
        ["occurred_at", "actor", "order_id"],
        sqlite_where=sa.text(PEOPLE_ONLY),
        postgresql_where=sa.text(PEOPLE_ONLY),
    )
    kpi_facts.backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table("kpi_rollup")
    for index in ("open", "hour", "lead", "delivered", "shipped"):
        op.drop_index(f"ix_order_kpi_facts_{index}", table_name="order_kpi_facts")
    op.drop_index("ix_order_events_people", table_name="order_events")
    op.drop_index("ix_order_kpi_facts_completed", table_name="order_kpi_facts")
    op.drop_index("ix_order_kpi_facts_received", table_name="order_kpi_facts")
    op.drop_table("order_kpi_facts")
