"""direct uploads: jobs awaiting their photo have no dimensions yet; unconfirmed ones indexed; the
worker checks the SHA-256 of a photo whose S3 server kept no checksum

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("jobs", "width", existing_type=sa.Integer(), nullable=True)
    op.alter_column("jobs", "height", existing_type=sa.Integer(), nullable=True)
    op.add_column("jobs", sa.Column("photo_checksum_pending", sa.Boolean(), nullable=False,
                                    server_default=sa.false()))
    # the reaper looks for unconfirmed uploads every few seconds: a small index, of those alone
    op.create_index("ix_audits_awaiting_upload", "audits", ["created_at"],
                    postgresql_where=sa.text("status = 'awaiting_upload'"))


def downgrade() -> None:
    op.drop_index("ix_audits_awaiting_upload", table_name="audits")
    op.drop_column("jobs", "photo_checksum_pending")
    op.execute("UPDATE jobs SET width = 0, height = 0 WHERE width IS NULL OR height IS NULL")
    op.alter_column("jobs", "height", existing_type=sa.Integer(), nullable=False)
    op.alter_column("jobs", "width", existing_type=sa.Integer(), nullable=False)
