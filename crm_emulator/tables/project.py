"""``cr6f1_project``: a custom table without change tracking; many rows share one ``modifiedon``."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from crm_emulator.columns import (
    STATE_ACTIVE,
    STATUS_ACTIVE,
    boolean,
    datetime_col,
    decimal,
    lookup,
    money_pair,
    numbered,
    picklist,
    primary_key,
    standard,
    string,
    with_helpers,
)
from crm_emulator.rows import SPAN_SECONDS, Bundle, Org, day
from crm_emulator.schema import Table
from crm_emulator.tables.common import currency_bundle, lifecycle_bundle, maybe, ownership_bundle

PROJECT_STATUS = numbered(["Planned", "In Progress", "On Hold", "Completed", "Cancelled"], 100000000)


def project_table() -> Table:
    cols = [
        primary_key("cr6f1_projectid"),
        string("cr6f1_name", 200, primary_name=True, custom=True),
        string("cr6f1_code", 20, custom=True),
        lookup("cr6f1_accountid", "account", custom=True),
        picklist("cr6f1_status", PROJECT_STATUS, custom=True),
        datetime_col("cr6f1_startdate", "DateOnly", custom=True),
        decimal("cr6f1_progress", 2, 0, 100, custom=True),
        boolean("cr6f1_ishighpriority", custom=True),
        lookup("transactioncurrencyid", "transactioncurrency"),
        decimal("exchangerate", 10, 0.0000000001, 100000000000, writable=False),
        *money_pair("cr6f1_budget", lo=0, hi=100000000000000, custom=True),
        *standard(owned=True),
        STATE_ACTIVE,
        STATUS_ACTIVE,
    ]
    return Table(
        "cr6f1_project",
        "cr6f1_projects",
        "Project",
        "Projects",
        "cr6f1_projectid",
        "cr6f1_name",
        10042,
        with_helpers(cols),
        change_tracking=False,
        can_change_tracking=True,
        custom=True,
        description="Customer projects (custom table without change tracking).",
        has_rows=True,
    )


def project_bundles() -> list[Bundle]:
    def progress(rng: random.Random, org: Org) -> tuple[Any, ...]:
        status_value = rng.choices([v for v, _ in PROJECT_STATUS], (0.2, 0.4, 0.1, 0.25, 0.05))[0]
        return (
            status_value,
            maybe(rng, 0.1, day(rng.randrange(SPAN_SECONDS))),
            Decimal(rng.randrange(0, 10001)) / 100,
            rng.random() < 0.15,
        )

    return [
        ownership_bundle(),
        Bundle(("cr6f1_status", "cr6f1_startdate", "cr6f1_progress", "cr6f1_ishighpriority"), progress),
        currency_bundle(("cr6f1_budget", 0.2, 1000, 2e6)),
        lifecycle_bundle(0.05),
    ]
