"""planograms: a section's expected layout; an audit's compliance with it

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sections", sa.Column("planogram", postgresql.JSONB(), nullable=True))
    op.add_column("audits", sa.Column("compliance", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("audits", "compliance")
    op.drop_column("sections", "planogram")
