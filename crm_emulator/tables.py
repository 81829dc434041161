"""The data tables of the emulated org: their columns (as Dataverse defines them) and how rows are generated
(bundles here; the big tables' row fields are written as JSON by :mod:`crm_emulator.heads`).

``account`` is deliberately wide (130+ attributes, 100+ Web API properties) and covers every attribute type of
the reference §3.3/§3.5; ``cr6f1_project`` is a custom table without change tracking whose ``modifiedon``
values are shared by many rows, for watermark tests.
"""

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
    state,
    status,
    string,
    url,
    with_helpers,
)
from crm_emulator.heads import (
    account_heads,
    contact_heads,
    created_at,
    lead_heads,
    opportunity_heads,
    person,
    project_heads,
)
from crm_emulator.ids import mix64
from crm_emulator.rows import EPOCH, SPAN_SECONDS, Bundle, Org, TableSpec, day, ts, ts_text
from crm_emulator.schema import Column, Table

# --- option sets -------------------------------------------------------------------------------------------
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


def _weighted(rng: random.Random, items: list[tuple[int, str]], skew: float = 1.2) -> int:
    weights = [1 / (n + 1) ** skew for n in range(len(items))]
    return rng.choices([v for v, _ in items], weights)[0]


def _maybe(rng: random.Random, p_null: float, value: Any) -> Any:
    return None if rng.random() < p_null else value


def _money(rng: random.Random, lo: float, hi: float) -> Decimal:
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
            _maybe(rng, 0.3, rng.choice((0, 4))),
            _maybe(rng, 0.8, rng.choice((4, 35, 85, 110, 190))),
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
            amount = _maybe(rng, p_null, _money(rng, lo, hi))
            out += [amount, None if amount is None else (amount / rate).quantize(Decimal("0.0001"))]
        return tuple(out)

    return Bundle(tuple(cols), make)


def _address_bundle(prefix: str, p_null: float, full: bool) -> Bundle:
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
                _maybe(rng, 0.7, f"Suite {rng.randrange(100, 999)}"),
                _maybe(rng, 0.97, f"Building {rng.choice('ABCDEF')}"),
                region,
                _maybe(rng, 0.8, f"{city} County"),
                _maybe(rng, 0.85, "Headquarters"),
                _maybe(rng, 0.5, f"+1-555-{rng.randrange(1000, 9999)}"),
                _maybe(rng, 0.4, rng.randint(1, 4)),
                _maybe(rng, 0.6, rng.randint(1, 7)),
                offset,
            ]
        return tuple(out)

    return Bundle(tuple(cols), make)


# --- account -----------------------------------------------------------------------------------------------
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
            _maybe(rng, 0.25, _weighted(rng, INDUSTRIES, 0.8)),
            _maybe(rng, 0.5, rng.choice((1, 2))),
            _maybe(rng, 0.1, _weighted(rng, CUSTOMER_TYPES, 1.0)),
            _maybe(rng, 0.9, 1),
            _maybe(rng, 0.9, 1),
            _maybe(rng, 0.9, 1),
            _maybe(rng, 0.9, 1),
            _maybe(rng, 0.9, 1),
            _maybe(rng, 0.5, 1),
            _maybe(rng, 0.6, rng.randint(1, 4)),
            _maybe(rng, 0.8, str(rng.randrange(1000, 9999))),
            _maybe(rng, 0.3, size),
            _maybe(rng, 0.9, "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=rng.randint(2, 4)))),
            _maybe(rng, 0.92, rng.choice(("NYSE", "NASDAQ", "LSE", "XETRA", "TSE"))),
            _maybe(rng, 0.4, rng.randint(0, 100)),
            _maybe(rng, 0.55, ",".join(map(str, lines))),
            _maybe(rng, 0.7, rng.choice(("lead", "contact", "account", "campaign"))),
        )

    def preferences(rng: random.Random, org: Org) -> tuple[Any, ...]:
        flags = [rng.random() < p for p in (0.1, 0.05, 0.3, 0.05, 0.15, 0.02)]
        return (
            *flags,
            rng.random() < 0.9,
            rng.random() < 0.01,
            rng.random() < 0.01,
            False,
            _maybe(rng, 0.2, _weighted(rng, CONTACT_METHODS, 1.5)),
            _maybe(rng, 0.7, f"+1-555-{rng.randrange(1000, 9999)}"),
            _maybe(rng, 0.95, f"+1-555-{rng.randrange(1000, 9999)}"),
            _maybe(rng, 0.8, f"+1-555-{rng.randrange(1000, 9999)}"),
            _maybe(rng, 0.85, f"sales{rng.randrange(1, 9)}@example.com"),
            _maybe(rng, 0.97, f"support{rng.randrange(1, 9)}@example.com"),
            _maybe(rng, 0.98, f"ftp://ftp{rng.randrange(1, 9)}.example.com"),
            _maybe(rng, 0.7, org.pick("systemuser", rng.getrandbits(24))),
            _maybe(rng, 0.6, ts(SPAN_SECONDS - rng.randrange(SPAN_SECONDS // 2))),
            _maybe(rng, 0.95, ts(rng.randrange(SPAN_SECONDS))),
        )

    def contract(rng: random.Random, org: Org) -> tuple[Any, ...]:
        founded = day(-rng.randrange(0, 60 * 365 * 86400)) if rng.random() < 0.6 else None
        start = ts(rng.randrange(SPAN_SECONDS)) if rng.random() < 0.5 else None
        renewal = day(SPAN_SECONDS + rng.randrange(0, 700 * 86400)) if start and rng.random() < 0.8 else None
        audit = ts(rng.randrange(SPAN_SECONDS)) if rng.random() < 0.3 else None
        process = "919e14d1-6489-4852-abd0-a63a6ecaac5d" if rng.random() < 0.4 else None
        stage = f"{rng.getrandbits(32):08x}-88ff-4e6d-a5c4-f8d5a3c1b2e0" if process else None
        path = f"{stage}" if stage else None
        description = _maybe(rng, 0.6, " ".join(rng.sample(names.LOREM, rng.randint(1, 3))))
        notes = _maybe(rng, 0.85, "\n".join(rng.sample(names.LOREM, rng.randint(2, 5))))
        return (founded, start, renewal, audit, process, stage, path, description, notes, None)

    return [
        ownership_bundle(),
        _address_bundle("address1", 0.08, full=True),
        _address_bundle("address2", 0.8, full=False),
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
                _maybe(rng, 0.5, rng.randint(1, 4)),
                _maybe(rng, 0.7, Decimal(rng.randrange(0, 3000)) / 100),
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


# --- contact -----------------------------------------------------------------------------------------------
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
            _maybe(rng, 0.9, rng.choice(names.FIRST_NAMES)),
            _maybe(rng, 0.5, f"+1-555-{rng.randrange(1000, 9999)}"),
            _maybe(rng, 0.3, rng.choice(names.JOB_TITLES)),
            _maybe(rng, 0.4, rng.randint(1, 2)),
            _maybe(rng, 0.6, rng.randint(1, 4)),
            _maybe(rng, 0.3, _weighted(rng, CONTACT_METHODS, 1.5)),
            rng.random() < 0.1,
            rng.random() < 0.05,
            _maybe(rng, 0.7, rng.randint(0, 4)),
            _maybe(rng, 0.8, " ".join(rng.sample(names.LOREM, 1))),
        )

    return [
        ownership_bundle(),
        _address_bundle("address1", 0.2, full=False),
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


# --- lead --------------------------------------------------------------------------------------------------
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
            _maybe(rng, 0.2, rng.choice(names.JOB_TITLES)),
            _maybe(rng, 0.2, _weighted(rng, LEAD_SOURCES, 0.9)),
            _maybe(rng, 0.3, rng.randint(1, 3)),
            _maybe(rng, 0.5, _weighted(rng, INDUSTRIES, 0.8)),
            _maybe(rng, 0.5, int(10 ** rng.uniform(0, 4))),
            _maybe(rng, 0.6, day(SPAN_SECONDS + rng.randrange(-300, 300) * 86400)),
            _maybe(rng, 0.5, f"+1-555-{rng.randrange(1000, 9999)}"),
            _maybe(rng, 0.7, " ".join(rng.sample(names.LOREM, 1))),
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
            lambda rng, org: (None, _maybe(rng, 0.3, 4), None, None),
        ),
    ]


# --- opportunity -------------------------------------------------------------------------------------------
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
            _maybe(rng, 0.1, rng.choice((10, 20, 40, 60, 80, 90, 100))),
            _maybe(rng, 0.2, day(SPAN_SECONDS + rng.randrange(-400, 200) * 86400)),
            closed,
            _maybe(rng, 0.3, rng.randint(1, 3)),
            _maybe(rng, 0.9, 1),
            stage,
            _maybe(rng, 0.4, rng.randint(0, 4)),
            f"{stage + 1}-{('qualify', 'develop', 'propose', 'close')[stage]}",
            _maybe(rng, 0.7, " ".join(rng.sample(names.LOREM, 1))),
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
            lambda rng, org: (None, _maybe(rng, 0.3, 4), None, None),
        ),
    ]


# --- systemuser, team, businessunit, transactioncurrency ---------------------------------------------------
def systemuser_table() -> Table:
    cols = [
        primary_key("systemuserid"),
        string("fullname", 200, primary_name=True, writable=False),
        string("firstname", 64),
        string("lastname", 64),
        string("domainname", 1024, required="SystemRequired"),
        email("internalemailaddress"),
        string("title", 128),
        boolean("isdisabled", "Disabled", "Enabled", writable=False),
        boolean("islicensed"),
        picklist(
            "accessmode",
            [
                (0, "Read-Write"),
                (1, "Administrative"),
                (2, "Read"),
                (3, "Support User"),
                (4, "Non-interactive"),
                (5, "Delegated Admin"),
            ],
        ),
        picklist(
            "caltype",
            [
                (0, "Professional"),
                (1, "Administrative"),
                (2, "Basic"),
                (3, "Device Professional"),
                (4, "Device Basic"),
                (5, "Essential"),
            ],
        ),
        lookup("businessunitid", "businessunit", required="SystemRequired"),
        guid("azureactivedirectoryobjectid", writable=False),
        guid("applicationid"),
        *standard(owned=False),
    ]
    return Table(
        "systemuser",
        "systemusers",
        "User",
        "Users",
        "systemuserid",
        "fullname",
        8,
        with_helpers(cols),
        description="Person with access to the Microsoft CRM system and who owns objects in the Microsoft "
        "CRM database.",
        ownership="BusinessOwned",
        has_rows=True,
    )


def systemuser_row(i: int, h: int, org: Org) -> dict[str, Any]:
    first, last = person(h)
    created = created_at(i, org.counts["systemuser"], h) // 10
    if i == 0:
        first, last = "Emulator", "Admin"
    if i == 1:
        first, last = "# crm-emulator", "app"
    domain = f"{first.lower()}.{last.lower()}@crmemulator.onmicrosoft.com".replace(" ", "")
    return {
        "fullname": f"{first} {last}",
        "firstname": first,
        "lastname": last,
        "domainname": domain,
        "internalemailaddress": domain,
        "title": names.JOB_TITLES[(h >> 7) % len(names.JOB_TITLES)] if i > 1 else None,
        "isdisabled": i > 1 and (h >> 12) & 15 == 0,
        "islicensed": i != 1,
        "accessmode": 4 if i == 1 else 0,
        "caltype": 0,
        "_businessunitid_value": org.ref("businessunit", 0 if i < 2 else (h >> 20) % org.counts["businessunit"]),
        "azureactivedirectoryobjectid": f"{mix64(h) & 0xFFFFFFFF:08x}-0000-4000-8000-{i:012x}",
        "applicationid": None,
        "_createdby_value": org.ref("systemuser", 0),
        "_modifiedby_value": org.ref("systemuser", 0),
        "createdon": ts_text(created),
        "modifiedon": ts_text(created + (h >> 40) % 86400),
        "versionnumber": org.version("systemuser", i, h),
    }


def team_table() -> Table:
    cols = [
        primary_key("teamid"),
        string("name", 160, primary_name=True),
        picklist("teamtype", [(0, "Owner"), (1, "Access"), (2, "Security Group"), (3, "Office Group")]),
        boolean("isdefault", writable=False),
        lookup("businessunitid", "businessunit"),
        lookup("administratorid", "systemuser"),
        memo("description"),
        *standard(owned=False),
    ]
    return Table(
        "team",
        "teams",
        "Team",
        "Teams",
        "teamid",
        "name",
        9,
        with_helpers(cols),
        description="Collection of system users that routinely collaborate.",
        ownership="BusinessOwned",
        has_rows=True,
    )


TEAM_NAMES = (
    "crmemulator",
    "Sales EMEA",
    "Sales Americas",
    "Customer Service",
    "Marketing",
    "Partners",
    "Finance",
    "Operations",
)


def team_row(i: int, h: int, org: Org) -> dict[str, Any]:
    return {
        "name": TEAM_NAMES[i % len(TEAM_NAMES)] + (f" {i // len(TEAM_NAMES)}" if i >= len(TEAM_NAMES) else ""),
        "teamtype": 0,
        "isdefault": i == 0,
        "_businessunitid_value": org.ref("businessunit", 0),
        "_administratorid_value": org.ref("systemuser", 0),
        "description": None,
        "_createdby_value": org.ref("systemuser", 0),
        "_modifiedby_value": org.ref("systemuser", 0),
        "createdon": ts(3600 * i),
        "modifiedon": ts(3600 * i),
        "versionnumber": org.version("team", i, h),
    }


def businessunit_table() -> Table:
    cols = [
        primary_key("businessunitid"),
        string("name", 160, primary_name=True),
        lookup("parentbusinessunitid", "businessunit"),
        boolean("isdisabled", writable=False),
        string("divisionname", 100),
        *standard(owned=False)[:8],
    ]
    return Table(
        "businessunit",
        "businessunits",
        "Business Unit",
        "Business Units",
        "businessunitid",
        "name",
        10,
        with_helpers(cols),
        description="Business, division, or department in the Microsoft Dynamics CRM database.",
        ownership="BusinessOwned",
        has_rows=True,
    )


def businessunit_row(i: int, h: int, org: Org) -> dict[str, Any]:
    return {
        "name": "crmemulator" if i == 0 else ("EMEA", "Americas", "APAC", "Services")[(i - 1) % 4],
        "_parentbusinessunitid_value": None if i == 0 else org.ref("businessunit", 0),
        "isdisabled": False,
        "divisionname": None,
        "_createdby_value": org.ref("systemuser", 0),
        "_modifiedby_value": org.ref("systemuser", 0),
        "createdon": EPOCH,
        "modifiedon": EPOCH,
        "versionnumber": org.version("businessunit", i, h),
    }


def transactioncurrency_table() -> Table:
    cols = [
        primary_key("transactioncurrencyid"),
        string("currencyname", 100, primary_name=True),
        string("isocurrencycode", 5),
        string("currencysymbol", 13),
        decimal("exchangerate", 10, 0.0000000001, 100000000000),
        integer("currencyprecision", 0, 4),
        state([(0, "Active", 1, "Active"), (1, "Inactive", 2, "Inactive")]),
        status([(1, "Active", 0), (2, "Inactive", 1)]),
        *standard(owned=False)[:8],
    ]
    return Table(
        "transactioncurrency",
        "transactioncurrencies",
        "Currency",
        "Currencies",
        "transactioncurrencyid",
        "currencyname",
        9105,
        with_helpers(cols),
        description="Currency in which a financial transaction is carried out.",
        ownership="OrganizationOwned",
        has_rows=True,
    )


def transactioncurrency_row(i: int, h: int, org: Org) -> dict[str, Any]:
    iso, name, symbol, rate = CURRENCIES[i % len(CURRENCIES)]
    return {
        "currencyname": name,
        "isocurrencycode": iso,
        "currencysymbol": symbol,
        "exchangerate": float(rate),
        "currencyprecision": 2,
        "statecode": 0,
        "statuscode": 1,
        "_createdby_value": org.ref("systemuser", 0),
        "_modifiedby_value": org.ref("systemuser", 0),
        "createdon": EPOCH,
        "modifiedon": EPOCH,
        "versionnumber": org.version("transactioncurrency", i, h),
    }


# --- cr6f1_project (custom, no change tracking) ------------------------------------------------------------
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
            _maybe(rng, 0.1, day(rng.randrange(SPAN_SECONDS))),
            Decimal(rng.randrange(0, 10001)) / 100,
            rng.random() < 0.15,
        )

    return [
        ownership_bundle(),
        Bundle(("cr6f1_status", "cr6f1_startdate", "cr6f1_progress", "cr6f1_ishighpriority"), progress),
        currency_bundle(("cr6f1_budget", 0.2, 1000, 2e6)),
        lifecycle_bundle(0.05),
    ]


def data_specs() -> list[TableSpec]:
    """The tables that hold rows, with their size as a function of ``--scale`` (the number of accounts)."""
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
