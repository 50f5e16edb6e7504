"""leases: the worker process holding each running job, and each process's heartbeat

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("claimed_by", sa.String(128)))  # host:pid of the process that claimed it
    op.create_table(
        "worker_heartbeats",
        sa.Column("worker_id", sa.String(128), primary_key=True),  # host:pid
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_jobs_running_started", "jobs", ["started_at"], postgresql_where=sa.text("status = 'running'"))


def downgrade() -> None:
    op.drop_index("ix_jobs_running_started", table_name="jobs")
    op.drop_table("worker_heartbeats")
    op.drop_column("jobs", "claimed_by")
