"""business rules: rules, their versions, firings; the rules_editor role; the approval threshold as a rule

Revision ID: 0013_rules
Revises: 0012_foresight
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from domain.rules import DEFAULT_APPROVAL_PRIORITY, DEFAULT_APPROVAL_RULE, threshold_condition

revision: str = "0013_rules"
down_revision: str | None = "0012_foresight"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLES = "role IN ('channel', 'handler', 'admin', 'viewer', 'partner')"
NEW_ROLES = "role IN ('channel', 'handler', 'admin', 'viewer', 'partner', 'rules_editor')"


def upgrade() -> None:
    rules = op.create_table(
        "rules",
        sa.Column("rule_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("active_version", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_rules")),
    )
    versions = op.create_table(
        "rule_versions",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("when", sa.Text(), nullable=False),
        sa.Column("then", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("exclusive", sa.Boolean(), nullable=False),
        sa.Column("active_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.rule_id"], name=op.f("fk_rule_versions_rule_id_rules")),
        sa.PrimaryKeyConstraint("rule_id", "version", name=op.f("pk_rule_versions")),
    )
    op.create_table(
        "rule_firings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=100), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("did", sa.JSON(), nullable=False),
        sa.Column("overridden", sa.JSON(), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_firings")),
        sa.UniqueConstraint("order_id", "rule_id", name=op.f("uq_rule_firings_order_id")),
    )
    op.create_index("ix_rule_firings_rule", "rule_firings", ["rule_id", "id"], unique=False)
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gift", sa.Boolean(), server_default="0", nullable=False))
    op.create_index("ix_orders_customer", "orders", ["customer_id"], unique=False)  # customer.order_count
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_api_keys_role_known"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_api_keys_role_known"), NEW_ROLES)
    _threshold_as_rule(rules, versions)


def _threshold_as_rule(rules: sa.Table, versions: sa.Table) -> None:
    """Once: the deployment's `ORDERFLOW_APPROVAL_THRESHOLDS` (or its defaults) becomes an active rule,
    so orders need approval exactly when they did before; from here on it is edited as a rule."""
    from pydantic import ValidationError

    from config import Settings

    try:
        thresholds = Settings().approval_thresholds
    except ValidationError:  # settings this process cannot check (another component's): the defaults
        thresholds = dict(Settings.model_fields["approval_thresholds"].default)
    if not thresholds:
        return
    now = datetime.now(UTC)
    rule_id = (
        op.get_bind()
        .execute(
            rules.insert()
            .values(
                name=DEFAULT_APPROVAL_RULE,
                status="active",
                latest_version=1,
                active_version=1,
                created_at=now,
                updated_at=now,
            )
            .returning(rules.c.rule_id)
        )
        .scalar_one()
    )
    op.bulk_insert(
        versions,
        [
            {
                "rule_id": rule_id,
                "version": 1,
                "name": DEFAULT_APPROVAL_RULE,
                "description": "Migrated from the approval_thresholds setting.",
                "when": threshold_condition(thresholds),
                "then": [{"type": "require_approval", "reason": "total over the approval threshold"}],
                "priority": DEFAULT_APPROVAL_PRIORITY,
                "exclusive": False,
                "active_from": None,
                "active_to": None,
                "created_by": "migration",
                "created_at": now,
            }
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_api_keys_role_known"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_api_keys_role_known"), OLD_ROLES)
    op.drop_index("ix_orders_customer", table_name="orders")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_column("gift")
    op.drop_index("ix_rule_firings_rule", table_name="rule_firings")
    op.drop_table("rule_firings")
    op.drop_table("rule_versions")
    op.drop_table("rules")
