"""per-order KPI facts (order_kpi_facts), maintained by the projection, backfilled here; people's
timeline entries by time (a partial index)

Revision ID: 0015_kpi_facts
Revises: 0014_kpis
Create Date: 2026-12-07 02:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store import kpi_facts

revision: str = "0015_kpi_facts"
down_revision: str | None = "0014_kpis"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PEOPLE_ONLY = "actor LIKE 'key:%'"


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
    op.create_index(
        "ix_order_events_people",
        "order_events",
        ["occurred_at", "actor", "order_id"],
        sqlite_where=sa.text(PEOPLE_ONLY),
        postgresql_where=sa.text(PEOPLE_ONLY),
    )
    kpi_facts.backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_order_events_people", table_name="order_events")
    op.drop_index("ix_order_kpi_facts_completed", table_name="order_kpi_facts")
    op.drop_index("ix_order_kpi_facts_received", table_name="order_kpi_facts")
    op.drop_table("order_kpi_facts")
