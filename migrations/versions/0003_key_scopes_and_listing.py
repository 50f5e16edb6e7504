"""API key scopes, expiry and last use; audits carry their status; indexes for listing audits newest first

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # keys made before scopes existed could submit and read: they keep exactly that
    op.add_column("api_keys", sa.Column("scopes", postgresql.ARRAY(sa.String(16)), nullable=False,
                                        server_default="{submit,read}"))
    op.add_column("api_keys", sa.Column("name", sa.String(64), nullable=True))
    op.add_column("api_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_keys", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    # an audit's status, kept by the worker in the transaction that changes its jobs, so a
    # list can filter on it and the last job finishing is one commit with the audit's change
    op.add_column("audits", sa.Column("status", sa.String(16), nullable=False, server_default="queued"))
    op.add_column("audits", sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("""
        UPDATE audits SET status = s.status, finished_at = s.finished_at FROM (
            SELECT audit_id,
                   CASE WHEN count(*) FILTER (WHERE status IN ('queued', 'running')) > 0 THEN
                            CASE WHEN count(*) FILTER (WHERE status <> 'queued') > 0 THEN 'running' ELSE 'queued' END
                        WHEN count(*) FILTER (WHERE status = 'failed') = count(*) THEN 'failed'
                        WHEN count(*) FILTER (WHERE status = 'failed') > 0 THEN 'partial'
                        ELSE 'done' END AS status,
                   CASE WHEN count(*) FILTER (WHERE status IN ('queued', 'running')) = 0
                        THEN max(finished_at) END AS finished_at
            FROM jobs GROUP BY audit_id) AS s
        WHERE audits.id = s.audit_id
    """)
    op.create_index("ix_audits_tenant_created", "audits", ["tenant_id", sa.text("created_at DESC"),
                                                           sa.text("id DESC")])
    op.create_index("ix_audits_tenant_store_created", "audits", ["tenant_id", "store_id",
                                                                 sa.text("created_at DESC")])


def downgrade() -> None:
    op.drop_index("ix_audits_tenant_store_created", table_name="audits")
    op.drop_index("ix_audits_tenant_created", table_name="audits")
    op.drop_column("audits", "finished_at")
    op.drop_column("audits", "status")
    for column in ("last_used_at", "expires_at", "name", "scopes"):
        op.drop_column("api_keys", column)
