"""An N:N intersect table and the activity tables with rows (``--activity-tables``, off by default).

* ``accountleads`` (entity set ``accountleadscollection``): the intersect table of the account–lead N:N
  relationship. As Dataverse defines intersect tables (reference §1.4), it has its own key
  (``accountleadid``), the two related ids as plain ``Uniqueidentifier`` columns (not lookups), and
  ``versionnumber``; no name, no owner, no ``modifiedon``; ``IsIntersect`` is true.
* ``activitypointer``: the base table of every activity (key ``activityid``), with ``activitytypecode`` and a
  polymorphic ``regardingobjectid``.
* ``activityparty``: the party list of activities (sender, recipients, attendees), one row per party, each
  pointing at its activity (``activityid``) and at its party (``partyid``: an account, contact, lead or user).

Without the flag these tables stay metadata-only, so the default org is unchanged.
"""

from __future__ import annotations

from typing import Any

from crm_emulator.columns import (
    STATE_ACTIVE,
    STATUS_ACTIVE,
    bigint,
    boolean,
    datetime_col,
    entity_name,
    guid,
    integer,
    lookup,
    memo,
    picklist,
    primary_key,
    standard,
    string,
    with_helpers,
)
from crm_emulator.rows import Org, ts_text
from crm_emulator.schema import Column, Table

ACTIVITY_TYPES = ("email", "phonecall", "task", "appointment")
#: ``participationtypemask`` values (Dataverse's ActivityParty participation types).
PARTICIPATION = [
    (1, "Sender"),
    (2, "To Recipient"),
    (3, "CC Recipient"),
    (4, "BCC Recipient"),
    (5, "Required attendee"),
    (6, "Optional attendee"),
    (7, "Organizer"),
    (8, "Regarding"),
    (9, "Owner"),
    (10, "Resource"),
    (11, "Customer"),
]
PARTY_TARGETS = ("account", "contact", "lead", "systemuser")
#: Parties per activity: a sender, one or two recipients, sometimes a CC.
PARTIES_PER_ACTIVITY = 3


def accountleads_table() -> Table:
    cols: list[Column] = [
        primary_key("accountleadid"),
        guid("accountid", writable=False),
        guid("leadid", writable=False),
        bigint("versionnumber", writable=False, description="Version Number"),
    ]
    return Table(
        "accountleads",
        "accountleadscollection",
        "Account Leads",
        "Account Leads",
        "accountleadid",
        None,
        16,
        cols,
        change_tracking=False,
        can_change_tracking=False,
        intersect=True,
        ownership="None",
        valid_for_advanced_find=False,
        description="Intersect table of the account–lead relationship.",
        has_rows=True,
    )


def accountleads_row(i: int, h: int, org: Org) -> dict[str, Any]:
    return {
        "accountid": org.pick("account", h),
        "leadid": org.ref("lead", i % org.counts["lead"]),
        "versionnumber": org.version("accountleads", i, h),
    }


def activitypointer_table() -> Table:
    cols = [
        primary_key("activityid"),
        string("subject", 400, primary_name=True),
        memo("description"),
        entity_name("activitytypecode", writable=False),
        lookup("regardingobjectid", "account", "contact", "lead", "opportunity"),
        datetime_col("scheduledstart"),
        datetime_col("scheduledend"),
        integer("actualdurationminutes", 0, 2147483647),
        picklist("prioritycode", [(0, "Low"), (1, "Normal"), (2, "High")]),
        boolean("isregularactivity", writable=False),
        STATE_ACTIVE,
        STATUS_ACTIVE,
        *standard(owned=True),
    ]
    return Table(
        "activitypointer",
        "activitypointers",
        "Activity",
        "Activities",
        "activityid",
        "subject",
        4200,
        with_helpers(cols),
        activity=True,
        description="Task performed, or to be performed, by a user (the base of every activity).",
        has_rows=True,
    )


def activitypointer_row(i: int, h: int, org: Org) -> dict[str, Any]:
    kind = ACTIVITY_TYPES[i % len(ACTIVITY_TYPES)]
    created = 86400 * 200 + 1800 * i
    regarding = PARTY_TARGETS[(h >> 3) % 3]
    return {
        "subject": f"{kind.title()} {i:05d}",
        "description": None,
        "activitytypecode": kind,
        "_regardingobjectid_value": org.pick(regarding, h >> 8),
        "scheduledstart": ts_text(created + 86400),
        "scheduledend": ts_text(created + 86400 + 1800),
        "actualdurationminutes": 30 if i % 5 else None,
        "prioritycode": (h >> 20) % 3,
        "isregularactivity": True,
        "statecode": 0,
        "statuscode": 1,
        "_createdby_value": org.ref("systemuser", 0),
        "_modifiedby_value": org.ref("systemuser", 0),
        "createdon": ts_text(created),
        "modifiedon": ts_text(created + (h >> 40) % 3600),
        "versionnumber": org.version("activitypointer", i, h),
        "_ownerid_value": org.ref("systemuser", 0),
        "_owninguser_value": org.ref("systemuser", 0),
        "_owningbusinessunit_value": org.ref("businessunit", 0),
    }


def activityparty_table() -> Table:
    cols = [
        primary_key("activitypartyid"),
        lookup("activityid", "activitypointer", writable=False),
        lookup("partyid", *PARTY_TARGETS),
        picklist("participationtypemask", PARTICIPATION),
        string("addressused", 320),
        boolean("ispartydeleted", writable=False),
        bigint("versionnumber", writable=False, description="Version Number"),
    ]
    return Table(
        "activityparty",
        "activityparties",
        "Activity Party",
        "Activity Parties",
        "activitypartyid",
        None,
        135,
        with_helpers(cols),
        change_tracking=False,
        can_change_tracking=False,
        ownership="None",
        description="Person or group associated with an activity (an activity's party list).",
        has_rows=True,
    )


def activityparty_row(i: int, h: int, org: Org) -> dict[str, Any]:
    activity, slot = divmod(i, PARTIES_PER_ACTIVITY)
    target = "systemuser" if slot == 0 else PARTY_TARGETS[(h >> 5) % 3]
    party = org.ref("systemuser", 0) if slot == 0 else org.pick(target, h >> 9)
    return {
        "_activityid_value": org.ref("activitypointer", activity),
        "_partyid_value": party,
        "participationtypemask": (1, 2, 3)[slot],
        "addressused": f"{target}.{party[:8]}@crmemulator.example" if slot else None,
        "ispartydeleted": False,
        "versionnumber": org.version("activityparty", i, h),
    }
