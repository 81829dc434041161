"""``lead``."""

from __future__ import annotations

import random
from typing import Any

from crm_emulator import names
from crm_emulator.columns import (
    datetime_col,
    decimal,
    email,
    integer,
    lookup,
    memo,
    money_pair,
    numbered,
    phone,
    picklist,
    primary_key,
    standard,
    state,
    status,
    string,
    with_helpers,
)
from crm_emulator.rows import SPAN_SECONDS, Bundle, Org, day
from crm_emulator.schema import Table
from crm_emulator.tables.common import INDUSTRIES, currency_bundle, maybe, ownership_bundle, weighted

LEAD_STATE = state([(0, "Open", 1, "Open"), (1, "Qualified", 3, "Qualified"), (2, "Disqualified", 7, "Disqualified")])
LEAD_STATUS = status(
    [
        (1, "New", 0),
        (2, "Contacted", 0),
        (3, "Qualified", 1),
        (4, "Lost", 2),
        (5, "Cannot Contact", 2),
        (6, "No Longer Interested", 2),
        (7, "Canceled", 2),
    ]
)
LEAD_SOURCES = numbered(
    [
        "Advertisement",
        "Employee Referral",
        "External Referral",
        "Partner",
        "Public Relations",
        "Seminar",
        "Trade Show",
        "Web",
        "Word of Mouth",
        "Other",
    ]
)


def lead_table() -> Table:
    cols = [
        primary_key("leadid"),
        string("fullname", 160, primary_name=True, writable=False),
        string("firstname", 50),
        string("lastname", 50, required="ApplicationRequired"),
        string("subject", 300),
        string("companyname", 100),
        email("emailaddress1"),
        phone("telephone1"),
        string("jobtitle", 100),
        picklist("leadsourcecode", LEAD_SOURCES),
        picklist("leadqualitycode", numbered(["Hot", "Warm", "Cold"])),
        picklist("industrycode", INDUSTRIES),
        integer("numberofemployees", 0, 1000000000),
        lookup("parentaccountid", "account"),
        lookup("parentcontactid", "contact"),
        datetime_col("estimatedclosedate", "DateOnly"),
        lookup("transactioncurrencyid", "transactioncurrency"),
        decimal("exchangerate", 10, 0.0000000001, 100000000000, writable=False),
        *money_pair("estimatedamount", lo=0, hi=100000000000000),
        *money_pair("revenue", lo=0, hi=100000000000000),
        memo("description"),
        *standard(owned=True),
        LEAD_STATE,
        LEAD_STATUS,
    ]
    return Table(
        "lead",
        "leads",
        "Lead",
        "Leads",
        "leadid",
        "fullname",
        4,
        with_helpers(cols),
        description="Prospect or potential sales opportunity.",
        has_rows=True,
    )


def lead_bundles() -> list[Bundle]:
    def qualification(rng: random.Random, org: Org) -> tuple[Any, ...]:
        st = rng.choices((0, 1, 2), (0.6, 0.25, 0.15))[0]
        code = {0: rng.choice((1, 2)), 1: 3, 2: rng.choice((4, 5, 6, 7))}[st]
        return (
            st,
            code,
            maybe(rng, 0.2, rng.choice(names.JOB_TITLES)),
            maybe(rng, 0.2, weighted(rng, LEAD_SOURCES, 0.9)),
            maybe(rng, 0.3, rng.randint(1, 3)),
            maybe(rng, 0.5, weighted(rng, INDUSTRIES, 0.8)),
            maybe(rng, 0.5, int(10 ** rng.uniform(0, 4))),
            maybe(rng, 0.6, day(SPAN_SECONDS + rng.randrange(-300, 300) * 86400)),
            maybe(rng, 0.5, f"+1-555-{rng.randrange(1000, 9999)}"),
            maybe(rng, 0.7, " ".join(rng.sample(names.LOREM, 1))),
        )

    return [
        ownership_bundle(),
        Bundle(
            (
                "statecode",
                "statuscode",
                "jobtitle",
                "leadsourcecode",
                "leadqualitycode",
                "industrycode",
                "numberofemployees",
                "estimatedclosedate",
                "telephone1",
                "description",
            ),
            qualification,
        ),
        currency_bundle(("estimatedamount", 0.4, 1000, 1e6), ("revenue", 0.7, 1e5, 1e9)),
        Bundle(
            ("importsequencenumber", "timezoneruleversionnumber", "utcconversiontimezonecode", "overriddencreatedon"),
            lambda rng, org: (None, maybe(rng, 0.3, 4), None, None),
        ),
    ]
