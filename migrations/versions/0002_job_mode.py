"""jobs.mode: fast or accurate, chosen per audit (default accurate)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("mode", sa.String(length=16), server_default="accurate", nullable=False))


def downgrade() -> None:
    op.drop_column("jobs", "mode")
