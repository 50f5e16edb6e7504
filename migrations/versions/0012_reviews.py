"""reviews: a person's corrections of a job's detections, one row per save (the newest is current)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("job_id", sa.UUID(), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(64)),  # the result whose detections were corrected
        sa.Column("boxes", postgresql.JSONB(), nullable=False),  # [{"class": ..., "box": [x1, y1, x2, y2]}]
        sa.Column("changes", postgresql.JSONB(), nullable=False),  # kept / moved / added / removed
        sa.Column("reviewed_by", sa.String(64), nullable=False),  # the key's prefix (and name)
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("job_id", "revision"),
    )
    op.create_index("ix_reviews_tenant_created", "reviews", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_table("reviews")
