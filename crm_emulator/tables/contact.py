"""``contact``."""

from __future__ import annotations

import random
from typing import Any

from crm_emulator import names
from crm_emulator.columns import (
    STATE_ACTIVE,
    STATUS_ACTIVE,
    boolean,
    customer,
    datetime_col,
    decimal,
    double,
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
    string,
    with_helpers,
)
from crm_emulator.rows import Bundle, Org
from crm_emulator.schema import Table
from crm_emulator.tables.common import (
    CONTACT_METHODS,
    address_bundle,
    currency_bundle,
    lifecycle_bundle,
    maybe,
    ownership_bundle,
    weighted,
)


def contact_table() -> Table:
    cols = [
        primary_key("contactid"),
        string("fullname", 160, primary_name=True, writable=False),
        string("firstname", 50),
        string("lastname", 50, required="ApplicationRequired"),
        string("middlename", 50),
        email("emailaddress1"),
        phone("telephone1"),
        phone("mobilephone"),
        string("jobtitle", 100),
        customer("parentcustomerid"),
        datetime_col("birthdate", "DateOnly"),
        string("address1_line1", 250),
        string("address1_city", 80),
        string("address1_postalcode", 20),
        string("address1_country", 80),
        double("address1_latitude", 5, -90, 90),
        double("address1_longitude", 5, -180, 180),
        picklist("gendercode", numbered(["Male", "Female"])),
        picklist("familystatuscode", numbered(["Single", "Married", "Divorced", "Widowed"])),
        picklist("preferredcontactmethodcode", CONTACT_METHODS),
        boolean("donotemail", "Do Not Allow", "Allow"),
        boolean("donotphone", "Do Not Allow", "Allow"),
        integer("numberofchildren", 0, 1000000000),
        lookup("transactioncurrencyid", "transactioncurrency"),
        decimal("exchangerate", 10, 0.0000000001, 100000000000, writable=False),
        *money_pair("creditlimit", lo=0, hi=100000000000000),
        *money_pair("annualincome", lo=0, hi=100000000000000),
        memo("description"),
        *standard(owned=True),
        STATE_ACTIVE,
        STATUS_ACTIVE,
    ]
    return Table(
        "contact",
        "contacts",
        "Contact",
        "Contacts",
        "contactid",
        "fullname",
        2,
        with_helpers(cols),
        description="Person with whom a business unit has a relationship, such as customer, supplier, and colleague.",
        has_rows=True,
    )


def contact_bundles() -> list[Bundle]:
    def person(rng: random.Random, org: Org) -> tuple[Any, ...]:
        return (
            maybe(rng, 0.9, rng.choice(names.FIRST_NAMES)),
            maybe(rng, 0.5, f"+1-555-{rng.randrange(1000, 9999)}"),
            maybe(rng, 0.3, rng.choice(names.JOB_TITLES)),
            maybe(rng, 0.4, rng.randint(1, 2)),
            maybe(rng, 0.6, rng.randint(1, 4)),
            maybe(rng, 0.3, weighted(rng, CONTACT_METHODS, 1.5)),
            rng.random() < 0.1,
            rng.random() < 0.05,
            maybe(rng, 0.7, rng.randint(0, 4)),
            maybe(rng, 0.8, " ".join(rng.sample(names.LOREM, 1))),
        )

    return [
        ownership_bundle(),
        address_bundle("address1", 0.2, full=False),
        Bundle(
            (
                "middlename",
                "mobilephone",
                "jobtitle",
                "gendercode",
                "familystatuscode",
                "preferredcontactmethodcode",
                "donotemail",
                "donotphone",
                "numberofchildren",
                "description",
            ),
            person,
        ),
        currency_bundle(("creditlimit", 0.8, 100, 1e5), ("annualincome", 0.7, 20000, 5e5)),
        lifecycle_bundle(0.08),
    ]
