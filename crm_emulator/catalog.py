"""Every table of the org: the data tables plus metadata-only definitions (≥ 500 in all, like a real org).

Metadata-only tables have real-looking definitions and standard columns but no rows, which is what most tables
of a fresh Dynamics 365 org look like. Some are private, intersect, activity, elastic or virtual tables so that
discovery filters (``IsPrivate``, ``IsIntersect``, ``TableType``, ``ChangeTrackingEnabled``…) have something to
separate.
"""

from __future__ import annotations

from crm_emulator.columns import STATE_ACTIVE, STATUS_ACTIVE, lookup, memo, primary_key, standard, string, with_helpers
from crm_emulator.rows import TableSpec
from crm_emulator.schema import Table
from crm_emulator.tables import data_specs
from crm_emulator.tables.file_attachments import fileattachment_table

# (logical name, entity set, object type code, flags) — flags: p private, i intersect, a activity, o org-owned,
# n no change tracking possible, t change tracking on, v virtual, e elastic, c custom
SYSTEM_TABLES = """
activitypointer activitypointers 4200 a,t
annotation annotations 5 t
appointment appointments 4201 a,t
email emails 4202 a,t
fax faxes 4204 a
letter letters 4207 a
phonecall phonecalls 4210 a,t
task tasks 4212 a,t
socialactivity socialactivities 4216 a
recurringappointmentmaster recurringappointmentmasters 4251 a
activityparty activityparties 135 p
campaign campaigns 4400 t
campaignactivity campaignactivities 4402 a
campaignresponse campaignresponses 4401 a
list lists 4300 t
listmember listmembers 4301 i
competitor competitors 123 t
connection connections 3234 t
connectionrole connectionroles 3231 o
contract contracts 1010 t
contractdetail contractdetails 1011 t
incident incidents 112 t
incidentresolution incidentresolutions 4206 a
invoice invoices 1090 t
invoicedetail invoicedetails 1091 t
quote quotes 1084 t
quotedetail quotedetails 1085 t
salesorder salesorders 1088 t
salesorderdetail salesorderdetails 1089 t
product products 1024 o,t
pricelevel pricelevels 1022 o,t
productpricelevel productpricelevels 1026 o,t
uom uoms 1055 o
uomschedule uomschedules 1056 o
discount discounts 1013 o
discounttype discounttypes 1080 o
territory territories 2013 o
queue queues 2020 t
queueitem queueitems 2029 o
role roles 1036 o
privilege privileges 1023 o,n
organization organizations 1019 o,n
position positions 50 o
solution solutions 7100 o,n
solutioncomponent solutioncomponents 7103 o,n
publisher publishers 7101 o,n
workflow workflows 4703 t
asyncoperation asyncoperations 4700 n
plugintype plugintypes 4602 o,n
pluginassembly pluginassemblies 4605 o,n
sdkmessage sdkmessages 4606 o,n
sdkmessageprocessingstep sdkmessageprocessingsteps 4608 n
savedquery savedqueries 1039 o,t
userquery userqueries 4230 t
systemform systemforms 1030 o,n
webresource webresourceset 9333 o,n
sitemap sitemaps 4709 o,n
report reports 9100 t
template templates 2010 t
kbarticle kbarticles 127 t
knowledgearticle knowledgearticles 9953 t
goal goals 9600 t
metric metrics 9603 o
sla slas 9750 t
slakpiinstance slakpiinstances 9752 t
entitlement entitlements 9700 t
bookableresource bookableresources 1150 t
bookableresourcebooking bookableresourcebookings 1145 t
characteristic characteristics 1141 t
equipment equipments 4000 o
service services 4001 o
site sites 4009 o
calendar calendars 4003 o,n
calendarrule calendarrules 4004 o,n
customeraddress customeraddresses 1071 t
customerrelationship customerrelationships 4502 t
duplicaterule duplicaterules 4414 t
importfile importfiles 4412 n
importdata importdataset 4413 n
import imports 4410 n
importlog importlogs 4423 n
audit audits 4567 p,t
principalobjectaccess principalobjectaccessset 11 p,n
subscription subscriptions 29 p,n
systemuserroles systemuserrolescollection 44 i
teammembership teammemberships 23 i
teamroles teamrolescollection 40 i
accountleads accountleadscollection 16 i
contactleads contactleadscollection 22 i
contactinvoices contactinvoicescollection 17 i
contactquotes contactquotescollection 18 i
contactorders contactorderscollection 19 i
campaignitem campaignitems 4404 i
competitorproduct competitorproducts 1006 i
leadcompetitors leadcompetitorscollection 24 i
opportunitycompetitors opportunitycompetitorscollection 25 i
productassociation productassociations 1025 t
productsubstitute productsubstitutes 1028 t
opportunityproduct opportunityproducts 1083 t
opportunityclose opportunitycloses 4208 a
orderclose ordercloses 4209 a
quoteclose quotecloses 4211 a
serviceappointment serviceappointments 4214 a,t
mailbox mailboxes 9606 t
emailserverprofile emailserverprofiles 9605 o
environmentvariabledefinition environmentvariabledefinitions 380 o,t
environmentvariablevalue environmentvariablevalues 381 o,t
connectionreference connectionreferences 10011 t
processsession processsessions 4710 n
processstage processstages 4724 n
sharepointsite sharepointsites 9502 t
sharepointdocumentlocation sharepointdocumentlocations 9508 t
feedback feedback 9958 t
post posts 8000 n
postcomment postcomments 8005 n
postlike postlikes 8006 n
msdyn_aievent msdyn_aievents 10100 c,e
msdyn_telemetryevent msdyn_telemetryevents 10101 c,e
msdyn_customerasset msdyn_customerassets 10102 c,t
msdyn_workorder msdyn_workorders 10103 c,t
msdyn_workordertype msdyn_workordertypes 10104 c,t
msdyn_incidenttype msdyn_incidenttypes 10105 c,t
msdyn_functionallocation msdyn_functionallocations 10106 c,t
msdyn_salesinsightssettings msdyn_salesinsightssettingses 10107 c
msdyn_externalorder msdyn_externalorders 10108 c,v
msdyn_externalinvoice msdyn_externalinvoices 10109 c,v
adx_website adx_websites 10110 c
adx_webpage adx_webpages 10111 c
"""

PREFIXES = ("msdyn", "mspp", "msfp", "msevtmgt", "adx", "cr6f1", "new", "mspcat", "msdynmkt", "msdyncrm")
NOUNS = (
    "agreement",
    "allocation",
    "approval",
    "assignment",
    "attachment",
    "batch",
    "budget",
    "campaignplan",
    "capacity",
    "certificate",
    "channel",
    "checklist",
    "configuration",
    "conversation",
    "costcenter",
    "coupon",
    "dashboard",
    "delivery",
    "document",
    "estimate",
    "evaluation",
    "expense",
    "feature",
    "forecast",
    "fulfillment",
    "incentive",
    "inspection",
    "integration",
    "inventory",
    "journal",
    "license",
    "location",
    "milestone",
    "notification",
    "offer",
    "partner",
    "payment",
    "playbook",
    "policy",
    "portfolio",
    "preference",
    "pricing",
    "program",
    "promotion",
    "question",
    "rating",
    "receipt",
    "region",
    "reminder",
    "request",
    "requirement",
    "reservation",
    "resource",
    "review",
    "route",
    "schedule",
    "scorecard",
    "segment",
    "session",
    "setting",
    "shipment",
    "signal",
    "skill",
    "snapshot",
    "survey",
    "template",
    "timeentry",
    "transaction",
    "trip",
    "warranty",
)
TARGET_TABLE_COUNT = 560


def _plural(name: str) -> str:
    if name.endswith("y") and not name.endswith(("ay", "ey", "oy")):
        return name[:-1] + "ies"
    if name.endswith(("s", "x", "ch", "sh")):
        return name + "es"
    return name + "s"


def _metadata_only(logical: str, entity_set: str, otc: int, flags: set[str]) -> Table:
    base = logical.split("_", 1)[-1]
    display = base.replace("msdyn", "").title()
    pk = f"{logical}id"
    name_col = "subject" if "a" in flags else ("name" if "c" not in flags else f"{logical.split('_')[0]}_name")
    intersect = "i" in flags
    cols = [primary_key(pk)]
    if intersect:
        cols += [lookup(f"{logical}_left", "account", writable=False), string("versionnumber_text", 50)]
        cols = cols[:1] + list(cols[1:2])
        name_col = ""
    else:
        cols += [string(name_col, 200, primary_name=True), memo("description")]
    owned = "o" not in flags and not intersect
    std = standard(owned=owned) if not intersect else standard(owned=False)[:8]
    cols += std
    if not intersect:
        cols += [STATE_ACTIVE, STATUS_ACTIVE]
    return Table(
        logical,
        entity_set,
        display,
        _plural(display),
        pk,
        name_col or None,
        otc,
        with_helpers(cols),
        change_tracking="t" in flags,
        can_change_tracking="n" not in flags and not intersect,
        custom="c" in flags,
        private="p" in flags,
        intersect=intersect,
        activity="a" in flags,
        ownership="OrganizationOwned" if "o" in flags else ("None" if intersect else "UserOwned"),
        table_type="Elastic" if "e" in flags else ("Virtual" if "v" in flags else "Standard"),
        valid_for_advanced_find=not ("p" in flags or intersect or "n" in flags),
        description=f"{display} records.",
    )


def metadata_only_tables(existing: set[str]) -> list[Table]:
    tables: list[Table] = []
    for line in SYSTEM_TABLES.strip().splitlines():
        logical, entity_set, otc, flag_text = line.split()
        if logical not in existing:
            tables.append(_metadata_only(logical, entity_set, int(otc), set(flag_text.split(","))))
    n = 0
    seen = existing | {t.logical_name for t in tables}
    while len(tables) + len(existing) < TARGET_TABLE_COUNT:
        prefix = PREFIXES[n % len(PREFIXES)]
        noun = NOUNS[(n // len(PREFIXES)) % len(NOUNS)]
        logical = f"{prefix}_{noun}"
        n += 1
        if logical in seen:
            continue
        seen.add(logical)
        flags = {"c"}
        if n % 3 == 0:
            flags.add("t")
        if n % 17 == 0:
            flags.add("p")
        if n % 41 == 0:
            flags.add("e")
        tables.append(_metadata_only(logical, _plural(logical), 10200 + n, flags))
    return tables


class Catalog:
    """All table definitions, by logical name and by entity set name."""

    def __init__(self, groups: frozenset[str] = frozenset()) -> None:
        self.specs: list[TableSpec] = data_specs(groups)
        data = [s.table for s in self.specs]
        extra = metadata_only_tables({t.logical_name for t in data})
        files = [t.logical_name for t in data if any(c.type_name == "FileType" for c in t.columns)]
        extra.append(fileattachment_table(tuple(files)))  # rows computed from the file columns (files.py)
        self.tables: list[Table] = sorted(data + extra, key=lambda t: t.logical_name)
        self.by_logical = {t.logical_name: t for t in self.tables}
        self.by_set = {t.entity_set: t for t in self.tables}
        self.by_metadata_id = {t.metadata_id: t for t in self.tables}
        self.specs += [TableSpec(t, lambda s: 0) for t in extra]
