"""The data tables of the emulated org: their columns (as Dataverse defines them) and how rows are generated
(bundles here; the big tables' row fields are written as JSON by :mod:`crm_emulator.heads`).

``account`` is deliberately wide (130+ attributes, 100+ Web API properties) and covers every attribute type of
the reference §3.3/§3.5; ``cr6f1_project`` is a custom table without change tracking whose ``modifiedon``
values are shared by many rows, for watermark tests.
"""

from __future__ import annotations

from crm_emulator.heads import account_heads, contact_heads, lead_heads, opportunity_heads, project_heads
from crm_emulator.rows import TableSpec
from crm_emulator.tables.account import account_bundles, account_table
from crm_emulator.tables.activities import (
    PARTIES_PER_ACTIVITY,
    accountleads_row,
    accountleads_table,
    activityparty_row,
    activityparty_table,
    activitypointer_row,
    activitypointer_table,
)
from crm_emulator.tables.common import CURRENCIES
from crm_emulator.tables.contact import contact_bundles, contact_table
from crm_emulator.tables.lead import lead_bundles, lead_table
from crm_emulator.tables.opportunity import opportunity_bundles, opportunity_table
from crm_emulator.tables.project import project_bundles, project_table
from crm_emulator.tables.system import (
    businessunit_row,
    businessunit_table,
    systemuser_row,
    systemuser_table,
    team_row,
    team_table,
    transactioncurrency_row,
    transactioncurrency_table,
)
from crm_emulator.tables.wide import wide_row, wide_table

#: Opt-in groups of tables with rows (``EmulatorConfig.extra_tables``): off, the org is as it always was.
WIDE = "wide"
ACTIVITIES = "activities"
EXTRA_TABLE_GROUPS = frozenset({WIDE, ACTIVITIES})


def data_specs(extra: frozenset[str] = frozenset()) -> list[TableSpec]:
    """The tables that hold rows, with their size as a function of ``--scale`` (the number of accounts), plus
    the opt-in groups in ``extra`` (appended, so the default tables keep their ordinals)."""
    unknown = extra - EXTRA_TABLE_GROUPS
    if unknown:
        raise ValueError(f"unknown table groups: {', '.join(sorted(unknown))}")
    return [*_default_specs(), *_extra_specs(extra)]


def _extra_specs(extra: frozenset[str]) -> list[TableSpec]:
    specs: list[TableSpec] = []
    if WIDE in extra:
        specs.append(TableSpec(wide_table(), lambda s: max(20, min(400, s // 4)), wide_row))
    if ACTIVITIES in extra:
        specs += [
            TableSpec(accountleads_table(), lambda s: max(10, s // 2), accountleads_row),
            TableSpec(activitypointer_table(), activities, activitypointer_row),
            TableSpec(activityparty_table(), lambda s: PARTIES_PER_ACTIVITY * activities(s), activityparty_row),
        ]
    return specs


def activities(scale: int) -> int:
    """Rows of ``activitypointer`` at a scale (each has ``PARTIES_PER_ACTIVITY`` parties)."""
    return max(20, scale // 2)


def _default_specs() -> list[TableSpec]:
    return [
        TableSpec(account_table(), lambda s: s, bundles=account_bundles(), heads=account_heads),
        TableSpec(contact_table(), lambda s: 2 * s, bundles=contact_bundles(), heads=contact_heads),
        TableSpec(lead_table(), lambda s: max(1, s // 2), bundles=lead_bundles(), heads=lead_heads),
        TableSpec(
            opportunity_table(), lambda s: max(1, s // 2), bundles=opportunity_bundles(), heads=opportunity_heads
        ),
        TableSpec(systemuser_table(), lambda s: min(1000, max(10, s // 100)), systemuser_row),
        TableSpec(team_table(), lambda s: 8, team_row),
        TableSpec(businessunit_table(), lambda s: 5, businessunit_row),
        TableSpec(transactioncurrency_table(), lambda s: len(CURRENCIES), transactioncurrency_row),
        TableSpec(project_table(), lambda s: max(250, s // 4), bundles=project_bundles(), heads=project_heads),
    ]
