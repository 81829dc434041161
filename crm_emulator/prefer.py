"""The ``Prefer`` request header: page size, change tracking, annotations, ``return=representation``."""

from __future__ import annotations

from dataclasses import dataclass, field


def _split(header: str) -> list[str]:
    """Split a Prefer header on commas that are not inside double quotes."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [p.strip() for p in out if p.strip()]


FORMATTED = "OData.Community.Display.V1.FormattedValue"
NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"
LOGICAL_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"


@dataclass
class Preferences:
    max_page_size: int | None = None
    track_changes: bool = False
    annotations: list[str] = field(default_factory=list)
    annotations_raw: str | None = None
    representation: bool = False

    def wants(self, term: str) -> bool:
        """OData include-annotations matching: ``*``, exact terms, ``Namespace.*`` and ``-term`` exclusions."""
        verdict = False
        for pattern in self.annotations:
            negative = pattern.startswith("-")
            p = pattern[1:] if negative else pattern
            hit = (
                p == "*"
                or p == term
                or (p.endswith(".*") and term.startswith(p[:-1]))
                or (p.endswith("*") and term.startswith(p[:-1]))
            )
            if hit:
                if negative:
                    return False
                verdict = True
        return verdict

    @property
    def any_annotations(self) -> bool:
        return any(self.wants(t) for t in (FORMATTED, NAVIGATION, LOGICAL_NAME))


def parse_prefer(values: list[str]) -> Preferences:
    prefs = Preferences()
    for header in values:
        for item in _split(header):
            name, _, value = item.partition("=")
            name = name.strip().lower()
            value = value.strip().strip('"').strip("'")
            if name == "odata.maxpagesize":
                try:
                    prefs.max_page_size = int(value)
                except ValueError:
                    continue
            elif name == "odata.track-changes":
                prefs.track_changes = True
            elif name == "odata.include-annotations":
                prefs.annotations_raw = value
                prefs.annotations = [a.strip() for a in value.split(",") if a.strip()]
            elif name == "return" and value == "representation":
                prefs.representation = True
    return prefs
