"""The small system tables: ``systemuser``, ``team``, ``businessunit``, ``transactioncurrency``."""

from __future__ import annotations

from typing import Any

from crm_emulator import names
from crm_emulator.columns import (
    boolean,
    decimal,
    email,
    guid,
    integer,
    lookup,
    memo,
    picklist,
    primary_key,
    standard,
    state,
    status,
    string,
    with_helpers,
)
from crm_emulator.heads import created_at, person
from crm_emulator.ids import mix64
from crm_emulator.rows import EPOCH, Org, ts, ts_text
from crm_emulator.schema import Table
from crm_emulator.tables.common import CURRENCIES


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
