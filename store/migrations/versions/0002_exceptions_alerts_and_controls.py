"""exceptions alerts and controls

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 13:32:21.182112
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=100), nullable=False),
        sa.Column("exception_id", sa.String(length=120), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.order_id"], name=op.f("fk_alerts_order_id_orders")),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_alerts_raised", ["raised_at"], unique=False)

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lines", sa.JSON(), nullable=True))

    with op.batch_alter_table("order_exceptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("blocking", sa.Boolean(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("escalation_level", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("allowed_actions", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), server_default="", nullable=False))
        batch_op.create_index("ix_order_exceptions_open", ["resolved_at", "raised_at"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("at_risk", sa.Boolean(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("at_risk")

    with op.batch_alter_table("order_exceptions", schema=None) as batch_op:
        batch_op.drop_index("ix_order_exceptions_open")
        batch_op.drop_column("note")
        batch_op.drop_column("resolved_by")
        batch_op.drop_column("allowed_actions")
        batch_op.drop_column("escalation_level")
        batch_op.drop_column("blocking")

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("lines")

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_raised")
        batch_op.drop_index(batch_op.f("ix_alerts_order_id"))
        batch_op.drop_index(batch_op.f("ix_alerts_kind"))

    op.drop_table("alerts")
