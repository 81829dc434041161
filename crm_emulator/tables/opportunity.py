"""``opportunity``."""

from __future__ import annotations

import random
from typing import Any

from crm_emulator import names
from crm_emulator.columns import (
    customer,
    datetime_col,
    decimal,
    integer,
    lookup,
    memo,
    money_pair,
    numbered,
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
from crm_emulator.tables.common import DEFAULT_ONLY, currency_bundle, maybe, ownership_bundle

OPP_STATE = state([(0, "Open", 1, "Open"), (1, "Won", 3, "Won"), (2, "Lost", 4, "Lost")])
OPP_STATUS = status([(1, "In Progress", 0), (2, "On Hold", 0), (3, "Won", 1), (4, "Canceled", 2), (5, "Out-Sold", 2)])


def opportunity_table() -> Table:
    cols = [
        primary_key("opportunityid"),
        string("name", 300, primary_name=True, required="ApplicationRequired"),
        customer("customerid"),
        lookup("parentaccountid", "account"),
        lookup("parentcontactid", "contact"),
        lookup("originatingleadid", "lead"),
        lookup("transactioncurrencyid", "transactioncurrency"),
        decimal("exchangerate", 10, 0.0000000001, 100000000000, writable=False),
        *money_pair("estimatedvalue", lo=0, hi=100000000000000),
        *money_pair("actualvalue", lo=0, hi=100000000000000),
        *money_pair("budgetamount", lo=0, hi=100000000000000),
        integer("closeprobability", 0, 100),
        datetime_col("estimatedclosedate", "DateOnly"),
        datetime_col("actualclosedate", "DateOnly"),
        picklist("opportunityratingcode", numbered(["Hot", "Warm", "Cold"])),
        picklist("salesstagecode", DEFAULT_ONLY),
        picklist("salesstage", numbered(["Qualify", "Develop", "Propose", "Close"], 0)),
        picklist(
            "purchasetimeframe", numbered(["Immediate", "This Quarter", "Next Quarter", "This Year", "Unknown"], 0)
        ),
        string("stepname", 200),
        memo("description"),
        *standard(owned=True),
        OPP_STATE,
        OPP_STATUS,
    ]
    return Table(
        "opportunity",
        "opportunities",
        "Opportunity",
        "Opportunities",
        "opportunityid",
        "name",
        3,
        with_helpers(cols),
        description="Potential revenue-generating event, or sale to an account, "
        "which needs to be tracked through a sales process to completion.",
        has_rows=True,
    )


def opportunity_bundles() -> list[Bundle]:
    def pipeline(rng: random.Random, org: Org) -> tuple[Any, ...]:
        st = rng.choices((0, 1, 2), (0.55, 0.25, 0.2))[0]
        code = {0: rng.choices((1, 2), (0.9, 0.1))[0], 1: 3, 2: rng.choice((4, 5))}[st]
        stage = rng.randint(0, 3)
        closed = day(rng.randrange(SPAN_SECONDS)) if st else None
        return (
            st,
            code,
            maybe(rng, 0.1, rng.choice((10, 20, 40, 60, 80, 90, 100))),
            maybe(rng, 0.2, day(SPAN_SECONDS + rng.randrange(-400, 200) * 86400)),
            closed,
            maybe(rng, 0.3, rng.randint(1, 3)),
            maybe(rng, 0.9, 1),
            stage,
            maybe(rng, 0.4, rng.randint(0, 4)),
            f"{stage + 1}-{('qualify', 'develop', 'propose', 'close')[stage]}",
            maybe(rng, 0.7, " ".join(rng.sample(names.LOREM, 1))),
        )

    return [
        ownership_bundle(),
        currency_bundle(
            ("estimatedvalue", 0.1, 500, 5e6), ("actualvalue", 0.7, 500, 5e6), ("budgetamount", 0.6, 1e3, 1e7)
        ),
        Bundle(
            (
                "statecode",
                "statuscode",
                "closeprobability",
                "estimatedclosedate",
                "actualclosedate",
                "opportunityratingcode",
                "salesstagecode",
                "salesstage",
                "purchasetimeframe",
                "stepname",
                "description",
            ),
            pipeline,
        ),
        Bundle(
            ("importsequencenumber", "timezoneruleversionnumber", "utcconversiontimezonecode", "overriddencreatedon"),
            lambda rng, org: (None, maybe(rng, 0.3, 4), None, None),
        ),
    ]
