"""customer search: orders by e-mail and by name, whatever their case (lower() expression indexes)

Revision ID: 0016_console_customer_search
Revises: 0015_returns
Create Date: 2026-12-07 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_console_customer_search"
down_revision: str | None = "0015_returns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (("ix_orders_customer_email_ci", "customer_email"), ("ix_orders_customer_name_ci", "customer_name"))


def upgrade() -> None:
    for name, column in INDEXES:
        op.create_index(name, "orders", [sa.text(f"lower({column})")])


def downgrade() -> None:
    for name, _ in reversed(INDEXES):
        op.drop_index(name, table_name="orders")
