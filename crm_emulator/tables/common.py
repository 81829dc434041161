"""Option sets, value helpers and the bundles several tables share (ownership, lifecycle, money, addresses)."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from crm_emulator import names
from crm_emulator.columns import numbered
from crm_emulator.rows import SPAN_SECONDS, Bundle, Org, ts

INDUSTRIES = numbered(
    [
        "Accounting",
        "Agriculture and Non-petrol Natural Resource Extraction",
        "Broadcasting Printing and Publishing",
        "Brokers",
        "Building Supply Retail",
        "Business Services",
        "Consulting",
        "Consumer Services",
        "Design, Direction and Creative Management",
        "Distributors, Dispatchers and Processors",
        "Doctor's Offices and Clinics",
        "Durable Manufacturing",
        "Eating and Drinking Places",
        "Entertainment Retail",
        "Equipment Rental and Leasing",
        "Financial",
        "Food and Tobacco Processing",
        "Inbound Capital Intensive Processing",
        "Inbound Repair and Services",
        "Insurance",
        "Legal Services",
        "Non-Durable Merchandise Retail",
        "Outbound Consumer Service",
        "Petrochemical Extraction and Distribution",
        "Service Retail",
        "SIG Affiliations",
        "Social Services",
        "Special Outbound Trade Contractors",
        "Specialty Realty",
        "Transportation",
        "Utility Creation and Distribution",
        "Vehicle Retail",
        "Wholesale",
    ]
)
CUSTOMER_TYPES = numbered(
    [
        "Competitor",
        "Consultant",
        "Customer",
        "Investor",
        "Partner",
        "Influencer",
        "Press",
        "Prospect",
        "Reseller",
        "Supplier",
        "Vendor",
        "Other",
    ]
)
DEFAULT_ONLY = [(1, "Default Value")]
CONTACT_METHODS = numbered(["Any", "Email", "Phone", "Fax", "Mail"])
SERVICE_LINES = numbered(
    ["Consulting", "Implementation", "Support", "Training", "Managed Services", "Licensing"], 100000000
)
CURRENCIES = (
    ("USD", "US Dollar", "$", Decimal("1.0000000000")),
    ("EUR", "Euro", "€", Decimal("0.9200000000")),
    ("GBP", "Pound Sterling", "£", Decimal("0.7900000000")),
)


def weighted(rng: random.Random, items: list[tuple[int, str]], skew: float = 1.2) -> int:
    weights = [1 / (n + 1) ** skew for n in range(len(items))]
    return rng.choices([v for v, _ in items], weights)[0]


def maybe(rng: random.Random, p_null: float, value: Any) -> Any:
    return None if rng.random() < p_null else value


def money(rng: random.Random, lo: float, hi: float) -> Decimal:
    """Log-uniform amounts: many small values, a long tail of large ones."""
    value = lo * (hi / lo) ** rng.random()
    return Decimal(round(value, 2)).quantize(Decimal("0.0001"))


# --- shared bundles ----------------------------------------------------------------------------------------
def ownership_bundle() -> Bundle:
    cols = (
        "_ownerid_value",
        "_owninguser_value",
        "_owningteam_value",
        "_owningbusinessunit_value",
        "_createdby_value",
        "_modifiedby_value",
        "_createdonbehalfby_value",
        "_modifiedonbehalfby_value",
    )

    def make(rng: random.Random, org: Org) -> tuple[Any, ...]:
        bu = org.ref("businessunit", 0)
        creator = org.pick("systemuser", rng.getrandbits(24))
        modifier = creator if rng.random() < 0.6 else org.pick("systemuser", rng.getrandbits(24))
        if rng.random() < 0.1:
            team = org.ref("team", rng.randrange(org.counts["team"]))
            return (team, None, team, bu, creator, modifier, None, None)
        user = org.pick("systemuser", rng.getrandbits(24))
        delegate = org.pick("systemuser", rng.getrandbits(24)) if rng.random() < 0.03 else None
        return (user, user, None, bu, creator, modifier, delegate, None)

    return Bundle(cols, make)


def lifecycle_bundle(p_inactive: float = 0.12) -> Bundle:
    cols = (
        "statecode",
        "statuscode",
        "importsequencenumber",
        "timezoneruleversionnumber",
        "utcconversiontimezonecode",
        "overriddencreatedon",
    )

    def make(rng: random.Random, org: Org) -> tuple[Any, ...]:
        inactive = rng.random() < p_inactive
        imported = rng.random() < 0.15
        return (
            1 if inactive else 0,
            2 if inactive else 1,
            rng.randrange(1, 40) if imported else None,
            maybe(rng, 0.3, rng.choice((0, 4))),
            maybe(rng, 0.8, rng.choice((4, 35, 85, 110, 190))),
            ts(rng.randrange(SPAN_SECONDS // 3)) if imported and rng.random() < 0.5 else None,
        )

    return Bundle(cols, make)


def currency_bundle(*money_cols: tuple[str, float, float, float]) -> Bundle:
    """Currency, exchange rate and money columns with their ``_base`` twins, coherent with each other."""
    cols = ["_transactioncurrencyid_value", "exchangerate"]
    for name, *_ in money_cols:
        cols += [name, f"{name}_base"]

    def make(rng: random.Random, org: Org) -> tuple[Any, ...]:
        k = rng.choices(range(len(CURRENCIES)), (0.7, 0.2, 0.1))[0]
        rate = CURRENCIES[k][3]
        out: list[Any] = [org.ref("transactioncurrency", k), rate]
        for _, p_null, lo, hi in money_cols:
            amount = maybe(rng, p_null, money(rng, lo, hi))
            out += [amount, None if amount is None else (amount / rate).quantize(Decimal("0.0001"))]
        return tuple(out)

    return Bundle(tuple(cols), make)


def address_bundle(prefix: str, p_null: float, full: bool) -> Bundle:
    cols = [
        f"{prefix}_line1",
        f"{prefix}_city",
        f"{prefix}_postalcode",
        f"{prefix}_country",
        f"{prefix}_latitude",
        f"{prefix}_longitude",
    ]
    if full:
        cols += [
            f"{prefix}_line2",
            f"{prefix}_line3",
            f"{prefix}_stateorprovince",
            f"{prefix}_county",
            f"{prefix}_name",
            f"{prefix}_telephone1",
            f"{prefix}_addresstypecode",
            f"{prefix}_shippingmethodcode",
            f"{prefix}_utcoffset",
        ]

    def make(rng: random.Random, org: Org) -> tuple[Any, ...]:
        if rng.random() < p_null:
            return (None,) * len(cols)
        city, region, country, postal, lat, lon, offset = rng.choice(names.CITIES)
        line1 = f"{rng.randrange(1, 9999)} {rng.choice(names.STREETS)}"
        out: list[Any] = [
            line1,
            city,
            f"{postal}{rng.randrange(10, 99)}",
            country,
            round(lat + rng.uniform(-0.2, 0.2), 5),
            round(lon + rng.uniform(-0.2, 0.2), 5),
        ]
        if full:
            out += [
                maybe(rng, 0.7, f"Suite {rng.randrange(100, 999)}"),
                maybe(rng, 0.97, f"Building {rng.choice('ABCDEF')}"),
                region,
                maybe(rng, 0.8, f"{city} County"),
                maybe(rng, 0.85, "Headquarters"),
                maybe(rng, 0.5, f"+1-555-{rng.randrange(1000, 9999)}"),
                maybe(rng, 0.4, rng.randint(1, 4)),
                maybe(rng, 0.6, rng.randint(1, 7)),
                offset,
            ]
        return tuple(out)

    return Bundle(tuple(cols), make)
