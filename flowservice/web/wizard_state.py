"""The dataflow wizard's state, carried in the URL and in hidden fields (the server keeps none), and the pure
rules of its steps: the defaults, each step's checks, the mapping's compact form, the schedule's windows.

No I/O here: ``views/wizard.py`` calls the API and renders; this module is what it decides with.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

STEPS = ("details", "mapping", "schedule", "review")
STEP_TITLES = {"details": "Dataflow detail", "mapping": "Mapping", "schedule": "Scheduling", "review": "Review"}
FREQUENCIES = ("once", "minute", "hour", "day", "week")
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}
KINDS = ("ATTRIBUTE", "EXPRESSION", "STATIC")
CREATE_STEPS = ("sourceConnection", "dataSet", "targetConnection", "mappingSet", "flow")
CREATE_TITLES = {
    "sourceConnection": "POST /sourceConnections",
    "dataSet": "POST /catalog/dataSets",
    "targetConnection": "POST /targetConnections",
    "mappingSet": "POST /conversion/mappingSets",
    "flow": "POST /flows",
}
_BOOLEANS = ("partial", "diagnostics", "backfill")
_LISTS = ("tables", "created")


@dataclass(frozen=True)
class Draft:
    """Everything the wizard has been told so far. Booleans travel as ``yes``/``no`` (a checkbox sends
    nothing when unchecked, so a hidden ``no`` comes first and a checked box's ``yes`` overrides it)."""

    conn: str = ""
    tables: tuple[str, ...] = ()
    dataset: str = "new"
    """``new`` or ``existing``."""
    dataset_name: str = ""
    dataset_description: str = ""
    dataset_id: str = ""
    mode: str = "merge"
    partial: bool = False
    partial_pct: str = "5"
    diagnostics: bool = True
    name: str = ""
    description: str = ""
    mapping: str = ""
    """The compact mapping (``encode_mapping``) of a single table, or empty: every column as it is."""
    frequency: str = "once"
    interval: str = ""
    start: str = ""
    """``YYYY-MM-DDTHH:MM`` in UTC (a ``datetime-local`` input's value)."""
    backfill: bool = True
    delta: str = "modifiedon"
    created: tuple[str, ...] = ()
    """``table|step|id|fingerprint`` of what the create checklist has made (a retry reuses them)."""

    @classmethod
    def read(cls, values: Mapping[str, Sequence[str]]) -> Draft:
        """From a query string or form (``name → values``); ``tables`` may also be comma-separated."""
        found: dict[str, Any] = {}
        for f in fields(cls):
            got = [v for v in values.get(f.name, ()) if isinstance(v, str)]
            if not got:
                continue
            if f.name in _BOOLEANS:
                found[f.name] = "yes" in got
            elif f.name == "tables":
                names = [t.strip() for v in got for t in v.split(",")]
                found[f.name] = tuple(dict.fromkeys(t for t in names if t))
            elif f.name in _LISTS:
                found[f.name] = tuple(dict.fromkeys(v for v in got if v))
            else:
                found[f.name] = got[-1].strip()
        return cls(**found)

    def pairs(self, skip: Iterable[str] = ()) -> list[tuple[str, str]]:
        """The state as (name, value) pairs, for hidden fields and query strings; defaults are left out."""
        left_out = set(skip)
        out: list[tuple[str, str]] = []
        default = Draft()
        for f in fields(self):
            if f.name in left_out:
                continue
            value = getattr(self, f.name)
            if f.name in _LISTS:
                out += [(f.name, v) for v in value]
            elif value == getattr(default, f.name):
                continue
            elif f.name in _BOOLEANS:
                out.append((f.name, "yes" if value else "no"))
            else:
                out.append((f.name, str(value)))
        return out

    def query(self, **changes: Any) -> str:
        from urllib.parse import urlencode

        return urlencode(replace(self, **changes).pairs())

    @property
    def single(self) -> bool:
        return len(self.tables) == 1

    def dataset_name_for(self, table: str) -> str:
        return (self.dataset_name or table) if self.single else table

    def flow_name_for(self, table: str, account: str) -> str:
        return (self.name or default_flow_name(table, account)) if self.single else default_flow_name(table, account)

    def made(self, table: str) -> dict[str, tuple[str, str]]:
        """What the checklist made for ``table``: step → (id, fingerprint of the body it was made from)."""
        out: dict[str, tuple[str, str]] = {}
        for entry in self.created:
            parts = entry.split("|")
            if len(parts) == 4 and parts[0] == table and parts[1] in CREATE_STEPS:
                out[parts[1]] = (parts[2], parts[3])
        return out


def default_flow_name(table: str, account: str) -> str:
    return f"{table} from {account}" if account else f"{table} dataflow"


def fingerprint(body: Any) -> str:
    """A short digest of a request body: a kept id is reused only for the very body it was made from."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]


# -------------------------------------------------------------------------------------------- mapping
@dataclass(frozen=True)
class Row:
    """One mapping row of the form: ``source`` is a column (ATTRIBUTE), an expression or a constant."""

    kind: str
    source: str
    destination: str
    on: bool = True
    column_type: str = ""
    error: str = ""

    def api(self) -> dict[str, Any]:
        return {"sourceType": self.kind, "source": self.source, "destination": self.destination}


def identity_rows(columns: Sequence[Mapping[str, Any]]) -> list[Row]:
    """The recommendation: every column copied under its own name."""
    return [Row("ATTRIBUTE", str(c["name"]), str(c["name"]), True, str(c.get("type", ""))) for c in columns]


def encode_mapping(rows: Sequence[Row], columns: Sequence[Mapping[str, Any]]) -> str:
    """The mapped rows in compact JSON (``"col"`` for a column copied as it is, else ``[kind, source,
    destination]``), or empty when they are exactly the recommendation."""
    mapped = [r for r in rows if r.on]
    if [r.api() for r in mapped] == [r.api() for r in identity_rows(columns)]:
        return ""
    items: list[Any] = [
        r.source if r.kind == "ATTRIBUTE" and r.source == r.destination else [r.kind, r.source, r.destination]
        for r in mapped
    ]
    return json.dumps(items, separators=(",", ":"))


def decode_mapping(text: str, columns: Sequence[Mapping[str, Any]]) -> list[Row]:
    """The form's rows: the mapped ones in order, then the table's columns no mapping reads (unchecked)."""
    if not text:
        return identity_rows(columns)
    try:
        items = json.loads(text)
    except ValueError:
        return identity_rows(columns)
    types = {str(c["name"]): str(c.get("type", "")) for c in columns}
    rows = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            rows.append(Row("ATTRIBUTE", item, item, True, types.get(item, "")))
        elif isinstance(item, list) and len(item) == 3 and all(isinstance(v, str) for v in item):
            kind = item[0] if item[0] in KINDS else "ATTRIBUTE"
            rows.append(Row(kind, item[1], item[2], True, types.get(item[1], "") if kind == "ATTRIBUTE" else ""))
    used = {r.source for r in rows if r.kind == "ATTRIBUTE"}
    rows += [Row("ATTRIBUTE", n, n, False, t) for n, t in types.items() if n not in used]
    return rows


def rows_from_form(form: Mapping[str, str], count: int) -> list[Row]:
    """The rows a mapping form posted (``m.<i>.on|kind|source|destination``); blank new rows are dropped."""
    rows = []
    for i in range(count):
        source = form.get(f"m.{i}.source", "").strip()
        destination = form.get(f"m.{i}.destination", "").strip()
        kind = form.get(f"m.{i}.kind", "ATTRIBUTE")
        if not source and not destination:
            continue
        on = form.get(f"m.{i}.on") == "yes"
        rows.append(Row(kind if kind in KINDS else "ATTRIBUTE", source, destination, on, form.get(f"m.{i}.type", "")))
    return rows


def counters(rows: Sequence[Row]) -> dict[str, int]:
    mapped = [r for r in rows if r.on]
    return {
        "mapped": len(mapped),
        "unmapped": sum(1 for r in rows if not r.on),
        "expressions": sum(1 for r in mapped if r.kind == "EXPRESSION"),
        "errors": sum(1 for r in rows if r.error),
    }


# ------------------------------------------------------------------------------------------- schedule
@dataclass(frozen=True)
class RunTime:
    at: str
    """When the run fires, ISO 8601 UTC."""
    window: str
    """What it ingests, in words."""


def now_minute() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M")


def start_epoch(text: str) -> int | None:
    for form in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return int(dt.datetime.strptime(text, form).replace(tzinfo=dt.UTC).timestamp())
        except ValueError:
            continue
    return None


def iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_runs(start: int, frequency: str, interval: int | None, backfill: bool, count: int = 5) -> list[RunTime]:
    """The first ``count`` runs: ``startTime + k·period`` (with backfill the first, at startTime, ingests the
    history; without it the first ingests from startTime and fires one period later)."""
    if frequency == "once" or not interval:
        return [RunTime(iso(start), "everything up to the start time")]
    period = interval * UNIT_SECONDS[frequency]
    runs = []
    end = start if backfill else start + period
    for _ in range(count):
        window = "the history up to the start time" if end == start else f"{iso(end - period)} → {iso(end)}"
        runs.append(RunTime(iso(end), window))
        end += period
    return runs


def interval_minimum(schedule_spec: Mapping[str, Any], frequency: str) -> int | None:
    """The interval's minimum for ``frequency`` in the flow spec's ``scheduleSpec`` (its JSON Schema's nested
    ``if frequency == … then … else …``), so the wizard holds the API's own rule."""

    def walk(node: Any) -> int | None:
        if not isinstance(node, dict):
            return None
        interval = ((node.get("properties") or {}).get("interval") or {}) if isinstance(node, dict) else {}
        found = interval.get("minimum") if isinstance(interval, dict) else None
        condition = node.get("if")
        if isinstance(condition, dict):
            const = ((condition.get("properties") or {}).get("frequency") or {}).get("const")
            deeper = walk(node.get("then") if const == frequency else node.get("else"))
            found = deeper if deeper is not None else found
        return found if isinstance(found, int) else None

    return walk(schedule_spec.get("spec") or schedule_spec)


def schedule_params(draft: Draft) -> dict[str, Any]:
    start = start_epoch(draft.start) or int(dt.datetime.now(dt.UTC).timestamp())
    params: dict[str, Any] = {"startTime": start, "frequency": draft.frequency}
    if draft.frequency != "once":
        params["interval"] = int(draft.interval) if draft.interval.isdigit() else draft.interval
        params["backfill"] = draft.backfill
    return params


def schedule_in_words(draft: Draft) -> str:
    if draft.frequency == "once":
        return "Once, at the start time"
    unit = draft.frequency + ("s" if draft.interval != "1" else "")
    return f"Every {draft.interval} {unit}" + (", with backfill" if draft.backfill else ", without backfill")


# -------------------------------------------------------------------------------------------- checks
@dataclass
class Problems:
    """A step's errors by field (the summary lists them; each field names its own)."""

    by_field: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, message)

    def __bool__(self) -> bool:
        return bool(self.by_field)


def check_details(draft: Draft) -> Problems:
    problems = Problems()
    if draft.dataset == "existing":
        if not draft.single:
            problems.add("dataset", "Several tables need one new dataset each: a dataset takes the rows of one flow.")
        elif not draft.dataset_id:
            problems.add("dataset_id", "Pick the dataset to write to.")
    elif draft.single and not draft.dataset_name.strip():
        problems.add("dataset_name", "Give the new dataset a name.")
    if draft.mode not in ("merge", "append"):
        problems.add("mode", "Choose merge or append.")
    if draft.partial:
        try:
            pct = float(draft.partial_pct)
        except ValueError:
            pct = -1.0
        if not 0 < pct <= 100:
            problems.add("partial_pct", "The error threshold is a percentage above 0 and at most 100.")
    if draft.single and not draft.name.strip():
        problems.add("name", "Give the dataflow a name.")
    return problems


def check_schedule(draft: Draft, minimum: int | None) -> Problems:
    problems = Problems()
    if draft.frequency not in FREQUENCIES:
        problems.add("frequency", f"The frequency is one of {', '.join(FREQUENCIES)}.")
        return problems
    if start_epoch(draft.start) is None:
        problems.add("start", "Give the start time as a date and a time (UTC).")
    if draft.frequency != "once":
        if not draft.interval.isdigit():
            problems.add("interval", f"scheduleParams.interval must be an integer, got {draft.interval!r}")
        elif minimum is not None and int(draft.interval) < minimum:
            # the API's own words (domain/schedule.py), for the rule its flow spec publishes
            problems.add(
                "interval",
                f"scheduleParams.interval must be at least {minimum} when frequency is {draft.frequency}, "
                f"got {int(draft.interval)}",
            )
    if not draft.delta:
        problems.add("delta", "Pick the date/time column that orders the increments.")
    return problems


CSV_HEADER = ("source", "destination", "sourceType")
MAX_CSV_BYTES = 256 * 1024
MAX_CSV_ROWS = 2000


def mapping_csv(rows: Sequence[Row]) -> str:
    """The mapped rows as the mapping CSV (``source,destination,sourceType``): the template to edit offline."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows((r.source, r.destination, r.kind) for r in rows if r.on)
    return out.getvalue()


def rows_from_csv(data: bytes) -> list[Row]:
    """The rows of a mapping CSV: a header naming ``source`` and ``destination`` (``sourceType`` optional,
    ATTRIBUTE by default); raises ``ValueError`` with what is wrong, in words for the page."""
    if len(data) > MAX_CSV_BYTES:
        raise ValueError(f"The file is larger than {MAX_CSV_BYTES // 1024} KB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("The file is not UTF-8 text.") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    if "source" not in header or "destination" not in header:
        raise ValueError("The first line must name the columns source and destination (and optionally sourceType).")
    reader.fieldnames = header
    rows: list[Row] = []
    for number, record in enumerate(reader, start=2):
        if len(rows) >= MAX_CSV_ROWS:
            raise ValueError(f"The file has more than {MAX_CSV_ROWS} mappings.")
        source, destination = (record.get("source") or "").strip(), (record.get("destination") or "").strip()
        kind = (record.get("sourceType") or "ATTRIBUTE").strip().upper()
        if not source and not destination:
            continue
        if not source or not destination:
            raise ValueError(f"Line {number} needs both a source and a destination.")
        if kind not in KINDS:
            raise ValueError(f"Line {number}: sourceType must be one of {', '.join(KINDS)}, not {kind[:20]!r}.")
        rows.append(Row(kind, source, destination))
    if not rows:
        raise ValueError("The file has no mapping.")
    return rows
