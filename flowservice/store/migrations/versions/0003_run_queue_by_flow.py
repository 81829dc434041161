"""Run queue rows found by flow: deleting a flow cancels its queued and running runs.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_run_queue_flow_status", "run_queue", ["flow_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_run_queue_flow_status", table_name="run_queue")
