"""KPI rollup: kpi_counts, the orders' KPI marks, exceptions' first acknowledgement; backfilled

Revision ID: 0017_kpi_rollup
Revises: 0016_console_customer_search
Create Date: 2026-12-07 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_kpi_rollup"
down_revision: str | None = "0016_console_customer_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "kpi_counts",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("span", sa.SmallInteger(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=140), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "span", "period", "name", "bin", name=op.f("pk_kpi_counts")),
    )
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("kpi_hour", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("kpi_flags", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("kpi_new", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("kpi_settled", sa.Boolean(), server_default="0", nullable=False))
        batch.add_column(sa.Column("kpi_shipped_at", TS, nullable=True))
        batch.add_column(sa.Column("kpi_delivered_at", TS, nullable=True))
        batch.add_column(sa.Column("kpi_warned_at", TS, nullable=True))
        batch.add_column(sa.Column("kpi_units_ordered", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("kpi_units_first", sa.Integer(), nullable=True))
    op.create_index(
        "ix_orders_kpi_open",
        "orders",
        ["created_at", "kpi_hour", "kpi_flags", "ship_by", "kpi_units_ordered", "kpi_units_first", "kpi_settled"],
        sqlite_where=sa.text("kpi_settled = 0"),
        postgresql_where=sa.text("kpi_settled = false"),
    )
    with op.batch_alter_table("order_exceptions") as batch:
        batch.add_column(sa.Column("acknowledged_at", TS, nullable=True))
        batch.add_column(sa.Column("kpi_new", sa.Integer(), server_default="0", nullable=False))

    from store.kpi_backfill import backfill_on

    backfill_on(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("order_exceptions") as batch:
        batch.drop_column("kpi_new")
        batch.drop_column("acknowledged_at")
    op.drop_index("ix_orders_kpi_open", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        for name in (
            "kpi_units_first",
            "kpi_units_ordered",
            "kpi_warned_at",
            "kpi_delivered_at",
            "kpi_shipped_at",
            "kpi_settled",
            "kpi_new",
            "kpi_flags",
            "kpi_hour",
        ):
            batch.drop_column(name)
    op.drop_table("kpi_counts")
