"""hardening: secrets encrypted at rest, webhook secret rotation and signing scheme, partner-bound keys

Revision ID: 0010_hardening
Revises: 0009_console
Create Date: 2026-12-07 01:30:00

Existing secrets stay readable as they are (store/crypto.py reads unsealed values); `orderflow-secrets
reencrypt` seals them once ORDERFLOW_SECRET_KEYS is set.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_hardening"
down_revision: str | None = "0009_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.String(length=200), type_=sa.Text(), existing_nullable=False)
        batch_op.add_column(sa.Column("previous_secret", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("signing_scheme", sa.String(length=16), server_default="orderflow", nullable=False)
        )
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.String(length=200), type_=sa.Text(), existing_nullable=False)
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partner_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("partner_id")
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.Text(), type_=sa.String(length=200), existing_nullable=False)
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.drop_column("signing_scheme")
        batch_op.drop_column("previous_secret_expires_at")
        batch_op.drop_column("previous_secret")
        batch_op.alter_column("secret", existing_type=sa.Text(), type_=sa.String(length=200), existing_nullable=False)
