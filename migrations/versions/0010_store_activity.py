"""store activity: what happened in a store, newest first (audits, alerts raised and cleared, levels)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("store_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),  # audit_done | alert_raised | alert_cleared | levels_changed
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", postgresql.JSONB(), nullable=False),
    )
    op.create_index("ix_activity_store_created", "activity",
                    ["tenant_id", "store_id", sa.text("created_at DESC"), sa.text("id DESC")])
    op.add_column("audits", sa.Column("missing_facings", sa.Integer()))


def downgrade() -> None:
    op.drop_column("audits", "missing_facings")
    op.drop_table("activity")
