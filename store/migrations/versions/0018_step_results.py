"""step_results: what a step of an order answered the first time it ran

Revision ID: 0018_step_results
Revises: 0017_kpi_rollup
Create Date: 2026-12-07 05:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_step_results"
down_revision: str | None = "0017_kpi_rollup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "step_results",
        sa.Column("order_id", sa.String(length=100), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "step", name=op.f("pk_step_results")),
    )


def downgrade() -> None:
    op.drop_table("step_results")
