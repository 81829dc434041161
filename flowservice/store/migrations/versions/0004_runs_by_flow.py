"""An index of run documents by flow, newest first: a flow's ``lastRunDetails`` is one index lookup.

Revision ID: 0004
Revises: 0002
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# the expressions must stay those of store/resources.py's _LATEST_RUN, which the planner matches
_FLOW = {"postgresql": "((doc::jsonb) ->> 'flowId')", "sqlite": "json_extract(doc, '$.flowId')"}


def upgrade() -> None:
    flow = _FLOW[op.get_bind().dialect.name]
    op.execute(f"CREATE INDEX ix_resources_runs_by_flow ON resources (org, sandbox, {flow}, created_at, id) "
               "WHERE kind = 'runs'")


def downgrade() -> None:
    op.execute("DROP INDEX ix_resources_runs_by_flow")
