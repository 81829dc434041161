"""Choice (option-set) metadata: the labels of picklist, state, status and multi-select columns, read from the
org's attribute metadata, never from ``FormattedValue`` annotations (which would double every page's payload and
come in one language only).

One query per metadata class present in a table (the Web API cannot cast to ``EnumAttributeMetadata``, reference
§3.2): ``…/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet,
GlobalOptionSet``, and the same for ``State``, ``Status`` and ``MultiSelectPicklist``; at most four requests per
table, each one bounded response. A column using a global option set gets the set's options (``GlobalOptionSet``)
and is marked global; local sets come from ``OptionSet``.

The org's base language is ``organizations.languagecode`` (one request); an org that does not answer it falls
back to each label's ``UserLocalizedLabel`` (the caller's language).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from flowservice.domain.errors import FlowServiceError, InvalidRequest

from .http import DataverseHttp

#: AttributeTypeName → the metadata class whose cast query carries its options.
CHOICE_CLASSES: dict[str, str] = {
    "PicklistType": "PicklistAttributeMetadata",
    "StateType": "StateAttributeMetadata",
    "StatusType": "StatusAttributeMetadata",
    "MultiSelectPicklistType": "MultiSelectPicklistAttributeMetadata",
}
#: Classes whose columns may use a global option set (state and status sets are always the table's own).
_MAY_BE_GLOBAL = frozenset({"PicklistAttributeMetadata", "MultiSelectPicklistAttributeMetadata"})
USER_LANGUAGE = 0  # the key of a label in the caller's language (``UserLocalizedLabel``)


@dataclass(frozen=True)
class ChoiceOptions:
    """The options of one choice column: value → {language code → label}."""

    table: str
    column: str
    option_set: str
    is_global: bool
    labels: Mapping[int, Mapping[int, str]]

    def in_language(self, language: int | None) -> dict[int, str]:
        """value → label in ``language`` (the caller's label when ``None`` or when the option lacks it)."""
        out: dict[int, str] = {}
        for value, by_language in self.labels.items():
            text = by_language.get(language) if language is not None else None
            if text is None:
                text = by_language.get(USER_LANGUAGE)
            if text is None and by_language:
                text = next(iter(by_language.values()))
            if text is not None:
                out[value] = text
        return out


def _labels(label: Any) -> dict[int, str]:
    out: dict[int, str] = {}
    if not isinstance(label, Mapping):
        return out
    for localized in label.get("LocalizedLabels") or ():
        if isinstance(localized, Mapping) and isinstance(localized.get("LanguageCode"), int):
            if isinstance(localized.get("Label"), str):
                out[int(localized["LanguageCode"])] = localized["Label"]
    user = label.get("UserLocalizedLabel")
    if isinstance(user, Mapping) and isinstance(user.get("Label"), str):
        out[USER_LANGUAGE] = user["Label"]
    return out


def parse_attribute(table: str, item: Mapping[str, Any]) -> ChoiceOptions | None:
    """One cast-query item as its options, or ``None`` when it has no option set."""
    name = item.get("LogicalName")
    glob = item.get("GlobalOptionSet")
    local = item.get("OptionSet")
    chosen = glob if isinstance(glob, Mapping) and glob.get("Options") is not None else local
    if not isinstance(name, str) or not isinstance(chosen, Mapping):
        return None
    labels: dict[int, dict[int, str]] = {}
    for option in chosen.get("Options") or ():
        if isinstance(option, Mapping) and isinstance(option.get("Value"), int):
            labels[int(option["Value"])] = _labels(option.get("Label"))
    # Boolean-like two-option sets have TrueOption/FalseOption instead of Options; they are not choices here.
    is_global = bool(chosen.get("IsGlobal")) or chosen is glob
    return ChoiceOptions(table, name, str(chosen.get("Name") or name), is_global, labels)


def fetch_option_sets(http: DataverseHttp, table: str, types: Iterable[str]) -> dict[str, ChoiceOptions]:
    """The options of every choice column of ``table`` whose ``AttributeTypeName`` is in ``types`` (pass
    ``CHOICE_CLASSES`` for all): one request per class present."""
    base = f"EntityDefinitions(LogicalName='{table}')/Attributes"
    classes = dict.fromkeys(CHOICE_CLASSES[t] for t in types if t in CHOICE_CLASSES)
    out: dict[str, ChoiceOptions] = {}
    for cls in classes:
        expand = "OptionSet,GlobalOptionSet" if cls in _MAY_BE_GLOBAL else "OptionSet"
        params = {"$select": "LogicalName", "$expand": expand}
        doc, _ = http.get_json(http.url(f"{base}/Microsoft.Dynamics.CRM.{cls}", params))
        for item in doc.get("value") or ():
            if isinstance(item, Mapping):
                options = parse_attribute(table, item)
                if options is not None:
                    out[options.column] = options
    return out


def base_language(http: DataverseHttp) -> int | None:
    """The org's base language (``organizations.languagecode``), or ``None`` when the org does not say."""
    try:
        doc, _ = http.get_json(http.url("organizations", {"$select": "languagecode"}))
    except FlowServiceError:
        return None
    for row in doc.get("value") or ():
        if isinstance(row, Mapping) and isinstance(row.get("languagecode"), int):
            return int(row["languagecode"])
    return None


def check_language(http: DataverseHttp, language: int) -> None:
    """Refuse a label language the org has not provisioned (``RetrieveProvisionedLanguages``): its labels would
    silently be another language's. An org that does not answer the function is trusted."""
    try:
        doc, _ = http.get_json(http.url("RetrieveProvisionedLanguages"))
    except FlowServiceError:
        return
    provisioned = doc.get("RetrieveProvisionedLanguages") if isinstance(doc, Mapping) else None
    if isinstance(provisioned, list) and provisioned and language not in provisioned:
        raise InvalidRequest(
            f"labelLanguage {language} is not a language of this Dynamics org (it has "
            f"{', '.join(str(p) for p in provisioned)})."
        )


def fingerprint(option_sets: Mapping[str, ChoiceOptions], language: int | None) -> str:
    """A short digest of the labels a read uses: a run whose digest differs from its cursor's rewrites the rows."""
    canonical = {name: sorted(o.in_language(language).items()) for name, o in sorted(option_sets.items())}
    return hashlib.sha256(orjson.dumps(canonical)).hexdigest()[:16]
