"""re-scan runs: scope, model version, counters, state; photos a run could not re-scan

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rescan_runs",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id")),  # null: every tenant (ops)
        sa.Column("store_id", sa.String(64)),
        sa.Column("since", sa.DateTime(timezone=True)),
        sa.Column("until", sa.DateTime(timezone=True)),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),  # running | paused | cancelled | completed
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False, server_default="0"),  # had a result of this version
        sa.Column("done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer(), nullable=False, server_default="0"),
        # feeding: messages sent and handled (in flight = sent - handled), the keyset cursor of this pass
        sa.Column("sent", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("handled", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("pass_sent", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cursor", sa.UUID()),
        sa.Column("created_by", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("progress_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_rescan_runs_state", "rescan_runs", ["state"])
    op.create_table(
        "rescan_failures",
        sa.Column("run_id", sa.UUID(), sa.ForeignKey("rescan_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("job_id", sa.UUID(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_results_version_job", "results", ["model_version", "job_id"])


def downgrade() -> None:
    op.drop_index("ix_results_version_job", table_name="results")
    op.drop_table("rescan_failures")
    op.drop_table("rescan_runs")
