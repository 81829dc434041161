"""Clients, sandboxes and resources.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("org", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("secret_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name="pk_clients"),
    )
    op.create_index("ix_clients_org", "clients", ["org"])
    op.create_table(
        "sandboxes",
        sa.Column("org", sa.String(255), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org", "name", name="pk_sandboxes"),
    )
    op.create_table(
        "resources",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("org", sa.String(255), nullable=False),
        sa.Column("sandbox", sa.String(64), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.Column("secrets", sa.LargeBinary(), nullable=True),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "id", name="pk_resources"),
    )
    op.create_index("ix_resources_tenant_kind", "resources", ["org", "sandbox", "kind", "created_at"])


def downgrade() -> None:
    op.drop_table("resources")
    op.drop_table("sandboxes")
    op.drop_table("clients")
