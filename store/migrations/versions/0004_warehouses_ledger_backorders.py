"""warehouses ledger backorders

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-29 13:47:33.768104
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stock_ledger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("warehouse", sa.String(length=32), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("on_hand_change", sa.Integer(), nullable=False),
        sa.Column("reserved_change", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=160), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('receipt', 'adjustment', 'reservation', 'release', 'shipment')",
            name=op.f("ck_stock_ledger_kind_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_ledger")),
    )
    with op.batch_alter_table("stock_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_stock_ledger_sku", ["sku", "id"], unique=False)

    op.create_table(
        "backorders",
        sa.Column("order_id", sa.String(length=100), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("rush_first", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.order_id"], name=op.f("fk_backorders_order_id_orders")),
        sa.PrimaryKeyConstraint("order_id", "sku", name=op.f("pk_backorders")),
    )
    with op.batch_alter_table("backorders", schema=None) as batch_op:
        batch_op.create_index("ix_backorders_sku_queue", ["sku", "rush_first", "since"], unique=False)

    op.create_table(
        "receipts",
        sa.Column("receipt_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("warehouse", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["warehouse"], ["warehouses.code"], name=op.f("fk_receipts_warehouse_warehouses")),
        sa.PrimaryKeyConstraint("receipt_id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("warehouse", "reference", name=op.f("uq_receipts_warehouse")),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shipment_id", sa.String(length=120), nullable=True))

    # Reservations are keyed by allocation (one planned shipment) from here on. No release carried
    # reservations under the old key, so the table is rebuilt rather than migrated.
    op.drop_table("reservations")
    op.create_table(
        "reservations",
        sa.Column("allocation_id", sa.String(length=120), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=100), nullable=False),
        sa.Column("warehouse", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_reservations_quantity_positive")),
        sa.CheckConstraint("state IN ('active', 'released', 'consumed')", name=op.f("ck_reservations_state_known")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.order_id"], name=op.f("fk_reservations_order_id_orders")),
        sa.PrimaryKeyConstraint("allocation_id", "sku", name=op.f("pk_reservations")),
    )
    op.create_index(op.f("ix_reservations_order_id"), "reservations", ["order_id"], unique=False)

    with op.batch_alter_table("warehouses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("country", sa.String(length=2), server_default="CN", nullable=False))
        batch_op.add_column(sa.Column("region", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default="100", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("warehouses", schema=None) as batch_op:
        batch_op.drop_column("priority")
        batch_op.drop_column("region")
        batch_op.drop_column("country")

    op.drop_index(op.f("ix_reservations_order_id"), table_name="reservations")
    op.drop_table("reservations")
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.String(length=100), nullable=False),
        sa.Column("warehouse", sa.String(length=32), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.order_id"], name=op.f("fk_reservations_order_id_orders")),
        sa.PrimaryKeyConstraint("order_id", "warehouse", "sku", name=op.f("pk_reservations")),
    )

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("shipment_id")

    op.drop_table("receipts")
    with op.batch_alter_table("backorders", schema=None) as batch_op:
        batch_op.drop_index("ix_backorders_sku_queue")

    op.drop_table("backorders")
    with op.batch_alter_table("stock_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_ledger_sku")

    op.drop_table("stock_ledger")
