"""spreadsheet imports

Revision ID: 0008_imports
Revises: 0007_partners_deliveries
Create Date: 2026-11-29 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_imports"
down_revision: str | None = "0007_partners_deliveries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("import_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("import_id", name=op.f("pk_imports")),
    )
    op.create_table(
        "import_orders",
        sa.Column("import_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=100), nullable=True),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("order", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["import_id"], ["imports.import_id"], name=op.f("fk_import_orders_import_id_imports")),
        sa.PrimaryKeyConstraint("import_id", "seq", name=op.f("pk_import_orders")),
    )
    op.create_index("ix_import_orders_outcome", "import_orders", ["import_id", "outcome"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_import_orders_outcome", table_name="import_orders")
    op.drop_table("import_orders")
    op.drop_table("imports")
