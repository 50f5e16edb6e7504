"""row levels: a section's critical and target facings per shelf row; an audit's facings per row

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sections", sa.Column("row_levels", postgresql.JSONB(), nullable=True))
    op.add_column("audits", sa.Column("row_facings", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("audits", "row_facings")
    op.drop_column("sections", "row_levels")
