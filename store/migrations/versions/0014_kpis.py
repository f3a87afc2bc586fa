"""indexes for the KPIs (GET /v1/kpis): people's actions and completions by time, exceptions by
raised time, orders by warehouse and by carrier

Revision ID: 0014_kpis
Revises: 0013_rules
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_kpis"
down_revision: str | None = "0013_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_order_events_occurred", "order_events", ["occurred_at", "status"]),
    ("ix_order_exceptions_raised", "order_exceptions", ["raised_at"]),
    ("ix_reservations_warehouse", "reservations", ["warehouse", "order_id"]),
    ("ix_shipments_carrier", "shipments", ["carrier", "order_id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
