"""Listing pushed into SQL answers exactly as the grammar does in Python, on SQLite and PostgreSQL; and a flow's
``lastRunDetails`` costs one indexed lookup, however many runs the tenant has."""

from __future__ import annotations

import uuid
from typing import Any, cast

import orjson
import pytest
from sqlalchemy import Table, event, insert

from flowservice.domain import listing
from flowservice.domain.tenancy import Tenant
from flowservice.services.resources import newest_first
from flowservice.store.queue import next_in_line
from flowservice.store.tables import ResourceRow, RunQueueRow
from tests.fixtures.server import Api

# leaves of every kind the grammar meets: text (ASCII, other scripts, the Kelvin sign that lower-cases to
# ASCII, control characters), numbers (int, float, big), booleans, null, arrays on the path and at the leaf
VALUES: list[Any] = [
    "Lead",
    "lead",
    "LEAD ",
    "Ünïcode",
    "\u212a",
    "k",
    "a\nb",
    "10",
    "9",
    "",
    10,
    9.5,
    10.0,
    -3,
    2**60,
    True,
    False,
    None,
    [],
    ["lead", "x"],
    [1, 20],
    {"a": 1},
]
QUERIES = [
    *[[("property", f"v=={x}")] for x in ("lead", "LEAD", "k", "10", "10.0", "true", "null", "x", "a", "9.5")],
    *[[("property", f"v!={x}")] for x in ("lead", "10", "true", "null", "k")],
    *[[("property", f"v{op}{x}")] for op in (">", "<", ">=", "<=") for x in ("9", "lead", "10", "inf", "z")],
    [("property", "v==lead,10,true")],
    [("property", "nested.w==lead")],
    [("property", "nested.w>5")],
    [("property", "list[].w==lead")],
    [("property", "v==lead"), ("property", "n>3")],
    [("property", 'v=="lead"')],
    [("property", "v==10"), ("orderby", "-createdAt")],
    [("orderby", "createdAt"), ("limit", "7")],
    [("orderby", "-v")],
    [("orderby", "v,-n")],
    [("limit", "5")],
    [("limit", "5"), ("continuationToken", listing.encode_token(5))],
    [("limit", "5"), ("continuationToken", listing.encode_token(1000))],
    [("property", "n>=2"), ("limit", "3"), ("continuationToken", listing.encode_token(3))],
    [("count", "true")],
    [("count", "true"), ("property", "v==lead")],
    [("property", "id!=x")],
]


def _seed(api: Api) -> tuple[Tenant, list[dict[str, Any]]]:
    assert api.container is not None
    resources = api.container.flows.resources
    tenant = Tenant(api.org, "prod")
    docs = []
    prefix = uuid.uuid4().hex[:8]  # PostgreSQL keeps its rows between test runs
    for n, value in enumerate(VALUES * 2):
        # few distinct createdAt values, so that ties by id are exercised too
        doc = {"v": value, "n": n % 5, "nested": {"w": value}, "list": [{"w": value}], "createdAt": 1000 + n % 4}
        docs.append(resources.add("widgets", tenant, f"{prefix}-{n}", doc, {}).doc)
    resources.add("widgets", Tenant("OTHER@AdobeOrg", "prod"), f"{prefix}-other", {"v": "lead"}, {})
    return tenant, docs


def test_listing_in_sql_answers_every_query_as_the_grammar_does(any_api: Api) -> None:
    tenant, docs = _seed(any_api)
    assert any_api.container is not None
    resources = any_api.container.flows.resources
    for params in QUERIES:
        query = listing.parse_list_query(params)
        expected = listing.apply(query, docs, default_order=newest_first)
        got = resources.page("widgets", tenant, query, newest_first)
        assert [d["id"] for d in got.items] == [d["id"] for d in expected.items], params
        assert got.items == expected.items, params
        assert got.next_offset == expected.next_offset, params
        if query.count_only:
            assert got.total == expected.total, params


def _bulk_runs(api: Api, flow_id: str, count: int) -> str:
    """``count`` finished runs of ``flow_id`` written in one transaction; returns the newest run's id."""
    assert api.container is not None
    engine = api.container.engine
    resources, queue = cast(Table, ResourceRow.__table__), cast(Table, RunQueueRow.__table__)
    rows, queued = [], []
    for n in range(count):
        run_id = str(uuid.uuid4())
        doc = {
            "id": run_id,
            "flowId": flow_id,
            "createdAt": 1_000 + n,
            "metrics": {
                "durationSummary": {"startedAtUTC": 1_000 + n, "completedAtUTC": 2_000 + n},
                "statusSummary": {"status": "success"},
            },
        }
        rows.append(
            {
                "kind": "runs",
                "id": run_id,
                "org": api.org,
                "sandbox": "prod",
                "doc": orjson.dumps(doc).decode(),
                "secrets": None,
                "etag": '"e"',
                "created_at": 1_000 + n,
                "updated_at": 1_000 + n,
                "seq": 0,
            }
        )
        queued.append(
            {
                "run_id": run_id,
                "flow_id": flow_id,
                "org": api.org,
                "sandbox": "prod",
                "status": "done",
                "attempt": 1,
                "claimed_by": None,
                "heartbeat_at": 0,
                "created_at": 1_000 + n,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(resources), rows)
        conn.execute(insert(queue).values(queued_seq=next_in_line(conn.dialect)), queued)
    return run_id


def test_a_flow_get_with_thousands_of_runs_reads_one_run(any_api: Api) -> None:
    assert any_api.container is not None
    tenant = Tenant(any_api.org, "prod")
    resources = any_api.container.flows.resources
    flow = resources.add("flows", tenant, str(uuid.uuid4()), {"name": "busy", "state": "enabled"}, {})
    quiet = resources.add("flows", tenant, str(uuid.uuid4()), {"name": "quiet", "state": "enabled"}, {})
    newest = _bulk_runs(any_api, flow.id, 3_000)
    _bulk_runs(any_api, str(uuid.uuid4()), 1_000)  # another flow's runs, in the same tenant

    statements: list[str] = []
    engine = any_api.container.engine

    def before(_conn, _cursor, statement, _params, _context, _many) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    loads = orjson.loads
    decoded: list[int] = []

    def counting_loads(raw: Any) -> Any:  # every document the store reads is decoded once
        decoded.append(len(raw))
        return loads(raw)

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("flowservice.store.resources.orjson.loads", counting_loads)
            answer = any_api.get(f"/flows/{flow.id}")
            quiet_answer = any_api.get(f"/flows/{quiet.id}")
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert answer.status_code == 200 and quiet_answer.status_code == 200
    last = answer.json()["items"][0]["lastRunDetails"]
    assert last == {"id": newest, "state": "success", "startedAtUTC": 3_999, "completedAtUTC": 4_999}
    assert "lastRunDetails" not in quiet_answer.json()["items"][0]
    # two GETs: each reads its flow and at most one run, in two statements
    assert len(decoded) <= 3
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) <= 4


def test_a_flow_list_shows_each_flow_s_last_run_and_filters_on_it(any_api: Api) -> None:
    assert any_api.container is not None
    tenant = Tenant(any_api.org, "prod")
    resources = any_api.container.flows.resources
    busy = resources.add("flows", tenant, str(uuid.uuid4()), {"name": "busy", "state": "enabled"}, {})
    resources.add("flows", tenant, str(uuid.uuid4()), {"name": "quiet", "state": "enabled"}, {})
    newest = _bulk_runs(any_api, busy.id, 50)
    listed = any_api.get("/flows").json()["items"]
    assert {f["name"]: f.get("lastRunDetails", {}).get("id") for f in listed} == {"busy": newest, "quiet": None}
    filtered = any_api.get("/flows", params={"property": "lastRunDetails.state==success"}).json()["items"]
    assert [f["name"] for f in filtered] == ["busy"]
