"""Fair sharing of runs: each queued run knows its base connection (the per-connection limit), the counts of
running runs by org and by connection are index lookups, and ``run_shares`` remembers when each org and
connection was last served (the fair order, and the row whose lock serialises an org's claims).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# a run's flow → its first source connection → that connection's base connection, read from the documents
_SOURCE = {
    "postgresql": "((f.doc::jsonb) -> 'sourceConnectionIds' ->> 0)",
    "sqlite": "json_extract(f.doc, '$.sourceConnectionIds[0]')",
}
_BASE = {"postgresql": "((s.doc::jsonb) ->> 'baseConnectionId')", "sqlite": "json_extract(s.doc, '$.baseConnectionId')"}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("run_queue", sa.Column("connection_id", sa.String(64), nullable=False, server_default=""))
    op.create_index("ix_run_queue_org_status", "run_queue", ["org", "status"])
    op.create_index("ix_run_queue_connection_id_status", "run_queue", ["connection_id", "status"])
    op.create_table(
        "run_shares",
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("served_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_run_shares"),
    )
    # runs queued or running before this revision get their connection, so the limit counts them too
    op.execute(
        f"UPDATE run_queue SET connection_id = COALESCE((SELECT {_BASE[dialect]} FROM resources f "
        f"JOIN resources s ON s.kind = 'sourceConnections' AND s.id = {_SOURCE[dialect]} "
        "WHERE f.kind = 'flows' AND f.id = run_queue.flow_id), '') WHERE status IN ('queued', 'running')"
    )


def downgrade() -> None:
    op.drop_table("run_shares")
    op.drop_index("ix_run_queue_connection_id_status", table_name="run_queue")
    op.drop_index("ix_run_queue_org_status", table_name="run_queue")
    with op.batch_alter_table("run_queue") as batch:
        batch.drop_column("connection_id")
