"""model_health: drift statistics per tenant and store, and the serving models' accuracy

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_health",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("signal", sa.String(32), nullable=False),  # facings_per_photo | mean_confidence | map50
        sa.Column("tenant_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("store_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("mode", sa.String(16), nullable=False, server_default=""),
        sa.Column("version", sa.String(64), nullable=False, server_default=""),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("signal", "tenant_id", "store_id", "mode"),
    )


def downgrade() -> None:
    op.drop_table("model_health")
