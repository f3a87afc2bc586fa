"""console: customer search (orders by customer ID, or e-mail or name in any case, newest first, in index
order), orders by external ID across channels, and orders at risk by ship_by

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

FOLDED = (("ix_orders_customer_email_ci", "customer_email"), ("ix_orders_customer_name_ci", "customer_name"))


def upgrade() -> None:
    op.drop_index("ix_orders_customer", table_name="orders")
    op.create_index("ix_orders_customer", "orders", ["customer_id", "created_at", "order_id"])
    for name, column in FOLDED:
        op.create_index(name, "orders", [sa.text(f"lower({column})"), "created_at", "order_id"])
    op.create_index("ix_orders_at_risk", "orders", ["at_risk", "ship_by", "order_id"])
    op.create_index("ix_orders_external_id", "orders", ["external_id"])


def downgrade() -> None:
    op.drop_index("ix_orders_external_id", table_name="orders")
    op.drop_index("ix_orders_at_risk", table_name="orders")
    for name, _ in reversed(FOLDED):
        op.drop_index(name, table_name="orders")
    op.drop_index("ix_orders_customer", table_name="orders")
    op.create_index("ix_orders_customer", "orders", ["customer_id"])
