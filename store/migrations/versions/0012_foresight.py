"""foresight: inbound stock, demand history, forecasts, projections, stock alerts

Revision ID: 0012_foresight
Revises: 0010_hardening
Create Date: 2026-12-07 01:54:19.568901
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_foresight"
down_revision: str | None = "0010_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "demand_daily",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("warehouse", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sku", "warehouse", "day", name=op.f("pk_demand_daily")),
    )
    op.create_table(
        "demand_forecasts",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("warehouse", sa.String(length=32), nullable=False),
        sa.Column("pattern", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("daily", sa.JSON(), nullable=False),
        sa.Column("sigma", sa.Float(), nullable=False),
        sa.Column("mae", sa.Float(), nullable=False),
        sa.Column("bias", sa.Float(), nullable=False),
        sa.Column("adi", sa.Float(), nullable=False),
        sa.Column("cv2", sa.Float(), nullable=False),
        sa.Column("history_days", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sku", "warehouse", name=op.f("pk_demand_forecasts")),
    )
    op.create_table(
        "stock_alerts",
        sa.Column("alert_id", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("warehouse", sa.String(length=32), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_stock_alerts")),
    )
    with op.batch_alter_table("stock_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_stock_alerts_open", ["warehouse", "sku", "cleared_at"], unique=False)

    op.create_table(
        "stock_projections",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("warehouse", sa.String(length=32), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("backordered", sa.Integer(), nullable=False),
        sa.Column("inbound", sa.Integer(), nullable=False),
        sa.Column("next_inbound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stockout_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sure_stockout_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("at_risk", sa.Boolean(), nullable=False),
        sa.Column("open_orders", sa.Integer(), nullable=False),
        sa.Column("lead_time_days", sa.Float(), nullable=False),
        sa.Column("lead_time_sd_days", sa.Float(), nullable=False),
        sa.Column("lead_time_demand", sa.Float(), nullable=False),
        sa.Column("safety_stock", sa.Integer(), nullable=False),
        sa.Column("reorder_point", sa.Integer(), nullable=False),
        sa.Column("suggested_quantity", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sku", "warehouse", name=op.f("pk_stock_projections")),
    )
    with op.batch_alter_table("stock_projections", schema=None) as batch_op:
        batch_op.create_index("ix_stock_projections_risk", ["at_risk", "stockout_at"], unique=False)

    op.create_table(
        "inbound",
        sa.Column("inbound_id", sa.String(length=40), nullable=False),
        sa.Column("warehouse", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("expected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'partly_received', 'received', 'closed')", name=op.f("ck_inbound_status_known")
        ),
        sa.ForeignKeyConstraint(["warehouse"], ["warehouses.code"], name=op.f("fk_inbound_warehouse_warehouses")),
        sa.PrimaryKeyConstraint("inbound_id", name=op.f("pk_inbound")),
        sa.UniqueConstraint("warehouse", "reference", name=op.f("uq_inbound_warehouse")),
    )
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_status_expected", ["status", "expected_at"], unique=False)

    op.create_table(
        "inbound_lines",
        sa.Column("inbound_id", sa.String(length=40), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_inbound_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["inbound_id"], ["inbound.inbound_id"], name=op.f("fk_inbound_lines_inbound_id_inbound")
        ),
        sa.PrimaryKeyConstraint("inbound_id", "sku", name=op.f("pk_inbound_lines")),
    )
    with op.batch_alter_table("inbound_lines", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_lines_sku", ["sku"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_lines_sku")

    op.drop_table("inbound_lines")
    with op.batch_alter_table("inbound", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_status_expected")

    op.drop_table("inbound")
    with op.batch_alter_table("stock_projections", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_projections_risk")

    op.drop_table("stock_projections")
    with op.batch_alter_table("stock_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_alerts_open")

    op.drop_table("stock_alerts")
    op.drop_table("demand_forecasts")
    op.drop_table("demand_daily")
