"""``account``: deliberately wide (every attribute type of the reference §3.3/§3.5) and the benchmarks' table."""

from __future__ import annotations

import random
from decimal import Decimal
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
    entity_name,
    file,
    guid,
    image,
    integer,
    lookup,
    memo,
    money_pair,
    multiselect,
    numbered,
    phone,
    picklist,
    primary_key,
    standard,
    string,
    url,
    with_helpers,
)
from crm_emulator.rows import SPAN_SECONDS, Bundle, Org, day, ts
from crm_emulator.schema import Column, Table
from crm_emulator.tables.common import (
    CONTACT_METHODS,
    CUSTOMER_TYPES,
    DEFAULT_ONLY,
    INDUSTRIES,
    SERVICE_LINES,
    address_bundle,
    currency_bundle,
    lifecycle_bundle,
    maybe,
    ownership_bundle,
    weighted,
)


def account_table() -> Table:
    address1 = [
        string("address1_line1", 250),
        string("address1_line2", 250),
        string("address1_line3", 250),
        string("address1_city", 80),
        string("address1_stateorprovince", 50),
        string("address1_postalcode", 20),
        string("address1_country", 80),
        string("address1_county", 50),
        string("address1_name", 200),
        phone("address1_telephone1"),
        double("address1_latitude", 5, -90, 90),
        double("address1_longitude", 5, -180, 180),
        picklist("address1_addresstypecode", numbered(["Bill To", "Ship To", "Primary", "Other"])),
        picklist(
            "address1_shippingmethodcode",
            numbered(["Airborne", "DHL", "FedEx", "UPS", "Postal Mail", "Full Load", "Will Call"]),
        ),
        integer("address1_utcoffset", -1500, 1500, format="TimeZone"),
    ]
    address2 = [
        string("address2_line1", 250),
        string("address2_city", 80),
        string("address2_postalcode", 20),
        string("address2_country", 80),
        double("address2_latitude", 5, -90, 90),
        double("address2_longitude", 5, -180, 180),
    ]
    cols: list[Column] = [
        primary_key("accountid"),
        string(
            "name",
            160,
            primary_name=True,
            required="ApplicationRequired",
            description="Type the company or business name.",
        ),
        string("accountnumber", 20),
        email("emailaddress1"),
        phone("telephone1"),
        url("websiteurl"),
        lookup("primarycontactid", "contact"),
        lookup("parentaccountid", "account"),
        lookup("originatingleadid", "lead"),
        customer("cr6f1_billingcustomerid", custom=True),
        lookup("masterid", "account", writable=False),
        image("entityimage"),
        string("entityimage_url", 200, attribute_of="entityimage", writable=False, format="Url"),
        Column("entityimage_timestamp", "BigIntType", attribute_of="entityimage", writable=False),
        guid("entityimageid", writable=False),
        file("cr6f1_contractfile", custom=True),
        string("cr6f1_contractfile_name", 200, attribute_of="cr6f1_contractfile", writable=False, custom=True),
        guid("cr6f1_externalid", custom=True),
        *address1,
        *address2,
        lookup("transactioncurrencyid", "transactioncurrency"),
        decimal("exchangerate", 10, 0.0000000001, 100000000000, writable=False),
        *money_pair("revenue", lo=0, hi=100000000000000),
        *money_pair("creditlimit", lo=0, hi=100000000000000),
        *money_pair("marketcap", lo=0, hi=100000000000000),
        *money_pair("aging30", lo=0, hi=100000000000000),
        *money_pair("openrevenue", lo=0, hi=100000000000000),
        boolean("creditonhold"),
        picklist("paymenttermscode", numbered(["Net 30", "2% 10, Net 30", "Net 45", "Net 60"])),
        decimal("cr6f1_discountrate", 2, 0, 100, custom=True),
        picklist("industrycode", INDUSTRIES),
        picklist("accountcategorycode", numbered(["Preferred Customer", "Standard"])),
        picklist("customertypecode", CUSTOMER_TYPES),
        picklist("accountratingcode", DEFAULT_ONLY),
        picklist("accountclassificationcode", DEFAULT_ONLY),
        picklist("businesstypecode", DEFAULT_ONLY),
        picklist("customersizecode", DEFAULT_ONLY),
        picklist("territorycode", DEFAULT_ONLY),
        picklist("shippingmethodcode", DEFAULT_ONLY),
        picklist("ownershipcode", numbered(["Public", "Private", "Subsidiary", "Other"])),
        string("sic", 20),
        integer("numberofemployees", 0, 1000000000),
        string("tickersymbol", 10),
        string("stockexchange", 20),
        integer("cr6f1_score", 0, 100, custom=True),
        multiselect("cr6f1_servicelines", SERVICE_LINES, custom=True),
        entity_name("cr6f1_originentity", custom=True),
        boolean("donotemail", "Do Not Allow", "Allow"),
        boolean("donotphone", "Do Not Allow", "Allow"),
        boolean("donotfax", "Do Not Allow", "Allow"),
        boolean("donotpostalmail", "Do Not Allow", "Allow"),
        boolean("donotbulkemail", "Do Not Allow", "Allow"),
        boolean("donotsendmm", "Do Not Send", "Send"),
        boolean("followemail", "Allow", "Do Not Allow"),
        boolean("participatesinworkflow"),
        boolean("merged", writable=False),
        boolean("isprivate", writable=False),
        picklist("preferredcontactmethodcode", CONTACT_METHODS),
        phone("telephone2"),
        phone("telephone3"),
        phone("fax"),
        email("emailaddress2"),
        email("emailaddress3"),
        url("ftpsiteurl"),
        lookup("preferredsystemuserid", "systemuser"),
        datetime_col("lastusedincampaign", writable=False),
        datetime_col("lastonholdtime", writable=False),
        datetime_col("cr6f1_foundedon", "DateOnly", custom=True),
        datetime_col("cr6f1_contractstart", "TimeZoneIndependent", custom=True),
        datetime_col("cr6f1_renewaldate", "DateOnly", custom=True),
        datetime_col("cr6f1_lastauditat", "TimeZoneIndependent", custom=True),
        guid("processid"),
        guid("stageid"),
        string("traversedpath", 1250),
        memo("description"),
        memo("cr6f1_notes", 4000, custom=True),
        string("yominame", 160),
        *standard(owned=True),
        STATE_ACTIVE,
        STATUS_ACTIVE,
    ]
    return Table(
        "account",
        "accounts",
        "Account",
        "Accounts",
        "accountid",
        "name",
        1,
        with_helpers(cols),
        description="Business that represents a customer or potential customer. The company that is billed in "
        "business transactions.",
        has_rows=True,
        metadata_id_override="70816501-edb9-4740-a16c-6a5efbc05d84",
    )


def account_bundles() -> list[Bundle]:
    def classification(rng: random.Random, org: Org) -> tuple[Any, ...]:
        size = int(10 ** rng.uniform(0, 5))
        lines = sorted(rng.sample([v for v, _ in SERVICE_LINES], rng.randint(1, 3)))
        return (
            maybe(rng, 0.25, weighted(rng, INDUSTRIES, 0.8)),
            maybe(rng, 0.5, rng.choice((1, 2))),
            maybe(rng, 0.1, weighted(rng, CUSTOMER_TYPES, 1.0)),
            maybe(rng, 0.9, 1),
            maybe(rng, 0.9, 1),
            maybe(rng, 0.9, 1),
            maybe(rng, 0.9, 1),
            maybe(rng, 0.9, 1),
            maybe(rng, 0.5, 1),
            maybe(rng, 0.6, rng.randint(1, 4)),
            maybe(rng, 0.8, str(rng.randrange(1000, 9999))),
            maybe(rng, 0.3, size),
            maybe(rng, 0.9, "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=rng.randint(2, 4)))),
            maybe(rng, 0.92, rng.choice(("NYSE", "NASDAQ", "LSE", "XETRA", "TSE"))),
            maybe(rng, 0.4, rng.randint(0, 100)),
            maybe(rng, 0.55, ",".join(map(str, lines))),
            maybe(rng, 0.7, rng.choice(("lead", "contact", "account", "campaign"))),
        )

    def preferences(rng: random.Random, org: Org) -> tuple[Any, ...]:
        flags = [rng.random() < p for p in (0.1, 0.05, 0.3, 0.05, 0.15, 0.02)]
        return (
            *flags,
            rng.random() < 0.9,
            rng.random() < 0.01,
            rng.random() < 0.01,
            False,
            maybe(rng, 0.2, weighted(rng, CONTACT_METHODS, 1.5)),
            maybe(rng, 0.7, f"+1-555-{rng.randrange(1000, 9999)}"),
            maybe(rng, 0.95, f"+1-555-{rng.randrange(1000, 9999)}"),
            maybe(rng, 0.8, f"+1-555-{rng.randrange(1000, 9999)}"),
            maybe(rng, 0.85, f"sales{rng.randrange(1, 9)}@example.com"),
            maybe(rng, 0.97, f"support{rng.randrange(1, 9)}@example.com"),
            maybe(rng, 0.98, f"ftp://ftp{rng.randrange(1, 9)}.example.com"),
            maybe(rng, 0.7, org.pick("systemuser", rng.getrandbits(24))),
            maybe(rng, 0.6, ts(SPAN_SECONDS - rng.randrange(SPAN_SECONDS // 2))),
            maybe(rng, 0.95, ts(rng.randrange(SPAN_SECONDS))),
        )

    def contract(rng: random.Random, org: Org) -> tuple[Any, ...]:
        founded = day(-rng.randrange(0, 60 * 365 * 86400)) if rng.random() < 0.6 else None
        start = ts(rng.randrange(SPAN_SECONDS)) if rng.random() < 0.5 else None
        renewal = day(SPAN_SECONDS + rng.randrange(0, 700 * 86400)) if start and rng.random() < 0.8 else None
        audit = ts(rng.randrange(SPAN_SECONDS)) if rng.random() < 0.3 else None
        process = "919e14d1-6489-4852-abd0-a63a6ecaac5d" if rng.random() < 0.4 else None
        stage = f"{rng.getrandbits(32):08x}-88ff-4e6d-a5c4-f8d5a3c1b2e0" if process else None
        path = f"{stage}" if stage else None
        description = maybe(rng, 0.6, " ".join(rng.sample(names.LOREM, rng.randint(1, 3))))
        notes = maybe(rng, 0.85, "\n".join(rng.sample(names.LOREM, rng.randint(2, 5))))
        return (founded, start, renewal, audit, process, stage, path, description, notes, None)

    return [
        ownership_bundle(),
        address_bundle("address1", 0.08, full=True),
        address_bundle("address2", 0.8, full=False),
        currency_bundle(
            ("revenue", 0.3, 10000, 5e9),
            ("creditlimit", 0.6, 1000, 5e6),
            ("marketcap", 0.85, 1e6, 5e11),
            ("aging30", 0.9, 10, 1e6),
            ("openrevenue", 0.5, 100, 1e6),
        ),
        Bundle(
            ("creditonhold", "paymenttermscode", "cr6f1_discountrate"),
            lambda rng, org: (
                rng.random() < 0.04,
                maybe(rng, 0.5, rng.randint(1, 4)),
                maybe(rng, 0.7, Decimal(rng.randrange(0, 3000)) / 100),
            ),
        ),
        Bundle(
            (
                "industrycode",
                "accountcategorycode",
                "customertypecode",
                "accountratingcode",
                "accountclassificationcode",
                "businesstypecode",
                "customersizecode",
                "territorycode",
                "shippingmethodcode",
                "ownershipcode",
                "sic",
                "numberofemployees",
                "tickersymbol",
                "stockexchange",
                "cr6f1_score",
                "cr6f1_servicelines",
                "cr6f1_originentity",
            ),
            classification,
        ),
        Bundle(
            (
                "donotemail",
                "donotphone",
                "donotfax",
                "donotpostalmail",
                "donotbulkemail",
                "donotsendmm",
                "followemail",
                "participatesinworkflow",
                "merged",
                "isprivate",
                "preferredcontactmethodcode",
                "telephone2",
                "telephone3",
                "fax",
                "emailaddress2",
                "emailaddress3",
                "ftpsiteurl",
                "_preferredsystemuserid_value",
                "lastusedincampaign",
                "lastonholdtime",
            ),
            preferences,
        ),
        Bundle(
            (
                "cr6f1_foundedon",
                "cr6f1_contractstart",
                "cr6f1_renewaldate",
                "cr6f1_lastauditat",
                "processid",
                "stageid",
                "traversedpath",
                "description",
                "cr6f1_notes",
                "yominame",
            ),
            contract,
        ),
        lifecycle_bundle(),
    ]
