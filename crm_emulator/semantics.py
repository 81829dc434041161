"""CRM semantics a connector must read from metadata, opt-in with ``EmulatorConfig.crm_semantics``.

With it on the org has a second language (every ``Label`` gets a ``LocalizedLabels`` entry per provisioned
language; ``UserLocalizedLabel`` stays in the base language), choice columns that share their options across
tables use global option sets (``GlobalOptionSetDefinitions``), and ``organizations`` serves the org's one row
(``organizationid``, ``languagecode``, ``version``) so that clients can find the base language and notice an org
reset. Off, the metadata is exactly what it always was (1033 only, local option sets).
"""

from __future__ import annotations

import uuid
from typing import Any

from crm_emulator.schema import Column, Table, metadata_id

#: Global option sets: name -> the (table, column) pairs that use it.
GLOBAL_OPTION_SETS: dict[str, tuple[tuple[str, str], ...]] = {
    "industrycode": (("account", "industrycode"), ("lead", "industrycode")),
    "preferredcontactmethodcode": (
        ("account", "preferredcontactmethodcode"),
        ("contact", "preferredcontactmethodcode"),
    ),
}

#: A few real German labels; any other label gets a visible marker, so a test can tell the languages apart.
GERMAN = {
    "Active": "Aktiv",
    "Inactive": "Inaktiv",
    "Open": "Offen",
    "Won": "Gewonnen",
    "Lost": "Verloren",
    "Qualified": "Qualifiziert",
    "Disqualified": "Disqualifiziert",
    "Hot": "Heiß",
    "Warm": "Warm",
    "Cold": "Kalt",
    "Yes": "Ja",
    "No": "Nein",
    "Any": "Beliebig",
    "Email": "E-Mail",
    "Phone": "Telefon",
    "Fax": "Fax",
    "Mail": "Post",
    "Account": "Firma",
    "Accounts": "Firmen",
    "Contact": "Kontakt",
    "Contacts": "Kontakte",
    "Lead": "Lead",
    "Leads": "Leads",
    "Industry": "Branche",
    "Status": "Status",
    "Status Reason": "Statusgrund",
    "Accounting": "Buchhaltung",
    "Consulting": "Beratung",
    "Default Value": "Standardwert",
}

ORG_VERSION = "9.2.24101.00187"


def translate(text: str, language: int) -> str:
    if language == 1033:
        return text
    if language == 1031:
        return GERMAN.get(text, f"{text} (de)")
    return f"{text} ({language})"


def localize(value: Any, languages: tuple[int, ...]) -> Any:
    """A copy of a metadata value whose every ``Label`` lists one ``LocalizedLabel`` per language; the
    ``UserLocalizedLabel`` is the base (first) language's, as for a user who kept the org's language."""
    if isinstance(value, list):
        return [localize(v, languages) for v in value]
    if not isinstance(value, dict):
        return value
    if "LocalizedLabels" in value and "UserLocalizedLabel" in value:
        labels = value["LocalizedLabels"]
        if not labels:
            return {"LocalizedLabels": [], "UserLocalizedLabel": None}
        first = labels[0]
        out = []
        for lang in languages:
            one = dict(first)
            one["Label"] = translate(first["Label"], lang)
            one["LanguageCode"] = lang
            one["MetadataId"] = metadata_id("label", first["MetadataId"], str(lang))
            out.append(one)
        return {"LocalizedLabels": out, "UserLocalizedLabel": dict(out[0])}
    return {k: localize(v, languages) for k, v in value.items()}


def apply_global_option_sets(tables: dict[str, Table]) -> None:
    """Make the listed columns share their global option set (same name, same MetadataId)."""
    for name, uses in GLOBAL_OPTION_SETS.items():
        for table_name, column_name in uses:
            table = tables.get(table_name)
            col = table.by_name.get(column_name) if table else None
            if col is not None:
                col.option_set_name = name
                col.global_option_set = True


def global_option_set_columns(tables: dict[str, Table]) -> dict[str, Column]:
    """One column per global option set (its options are the set's), by option set name."""
    found: dict[str, Column] = {}
    for table in tables.values():
        for col in table.columns:
            if col.global_option_set and col.option_set_name and col.option_set_name not in found:
                found[col.option_set_name] = col
    return found


class OrgLifecycle:
    """The org's identity, which an admin reset or copy changes (``/_emulator/org/reset``).

    ``delta_floor`` is the first change-tracking version of the current org: delta tokens issued before it
    answer 0x80044352, as an expired token does (reference §5.4)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.generation = 0
        self.delta_floor = 0
        self.version = ORG_VERSION
        self.kind = "none"

    @property
    def organization_id(self) -> str:
        suffix = "" if self.generation == 0 else f"-{self.generation}"
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"org-{self.seed}{suffix}.crmemulator"))

    def reset(self, next_version: int, kind: str) -> None:
        self.generation += 1
        self.delta_floor = next_version
        major, minor, build, rev = self.version.split(".")
        self.version = f"{major}.{minor}.{build}.{int(rev) + 1:05d}"
        self.kind = kind

    def public(self) -> dict[str, Any]:
        return {
            "organizationid": self.organization_id,
            "version": self.version,
            "generation": self.generation,
            "last_change": self.kind,
            "delta_floor": self.delta_floor,
        }
