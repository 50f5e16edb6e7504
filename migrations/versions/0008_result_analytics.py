"""results.analytics: shelf rows, groups, facings and gaps, computed with the detections

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("results", sa.Column("analytics", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("results", "analytics")
