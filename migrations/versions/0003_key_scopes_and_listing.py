"""API key scopes, expiry and last use; an index for listing a tenant's audits newest first

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
    op.create_index("ix_audits_tenant_created", "audits", ["tenant_id", sa.text("created_at DESC"),
                                                           sa.text("id DESC")])
    op.create_index("ix_audits_tenant_store_created", "audits", ["tenant_id", "store_id",
                                                                 sa.text("created_at DESC")])


def downgrade() -> None:
    op.drop_index("ix_audits_tenant_store_created", table_name="audits")
    op.drop_index("ix_audits_tenant_created", table_name="audits")
    for column in ("last_used_at", "expires_at", "name", "scopes"):
        op.drop_column("api_keys", column)
