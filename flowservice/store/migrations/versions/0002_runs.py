"""The run queue, fired schedule windows and row errors.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_queue",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("flow_id", sa.String(64), nullable=False),
        sa.Column("org", sa.String(255), nullable=False),
        sa.Column("sandbox", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_run_queue"),
    )
    op.create_index("ix_run_queue_status_created", "run_queue", ["status", "created_at"])
    op.create_index(
        "uq_run_queue_running_flow", "run_queue", ["flow_id"], unique=True,
        sqlite_where=sa.text("status = 'running'"), postgresql_where=sa.text("status = 'running'"),
    )
    op.create_table(
        "fired_windows",
        sa.Column("flow_id", sa.String(64), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("flow_id", "window_end", name="pk_fired_windows"),
    )
    op.create_table(
        "run_errors",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_run_errors"),
    )


def downgrade() -> None:
    op.drop_table("run_errors")
    op.drop_table("fired_windows")
    op.drop_table("run_queue")
