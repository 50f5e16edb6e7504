"""stores and their sections, with stock levels; an audit's stock status

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stores",
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),  # the store_id audits carry
        sa.Column("name", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )
    op.create_table(
        "sections",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("store_id", sa.String(64), nullable=False),
        sa.Column("aisle", sa.String(64), nullable=False),  # audits of this store and aisle belong here
        sa.Column("name", sa.String(200)),
        sa.Column("critical", sa.Integer()),  # facings below which the section is critical
        sa.Column("target", sa.Integer()),  # facings below which it is low
        sa.Column("status", sa.String(16), nullable=False, server_default="unknown"),
        sa.Column("status_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.ForeignKeyConstraint(["tenant_id", "store_id"], ["stores.tenant_id", "stores.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "store_id", "aisle"),
    )
    op.add_column("audits", sa.Column("stock_status", sa.String(16)))
    op.add_column("audits", sa.Column("facings", sa.Integer()))


def downgrade() -> None:
    op.drop_column("audits", "facings")
    op.drop_column("audits", "stock_status")
    op.drop_table("sections")
    op.drop_table("stores")
