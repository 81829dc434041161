"""The dataflow and run pages over HTTP, without a browser or JavaScript: in-process app, the working fake
source, runs executed by the container's worker (``test_runs.py`` drives the real stack in Chromium)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowservice.settings import Settings
from tests.fakes.source import FakeOrg, make_row
from tests.fixtures.server import make_api
from tests.integration.engine.conftest import Harness
from tests.ui.test_pages_http import csrf_of, sign_in


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    org = FakeOrg()
    api = make_api(
        Settings(data_dir=tmp_path / "data", commit_every_rows=25, page_size=10, run_stale_seconds=2), sources=org
    )
    harness = Harness(api, org)
    sign_in(api)
    yield harness
    assert api.container is not None
    api.container.close()


def test_a_finished_runs_page_renders_its_counters_and_chart_without_javascript_and_polls_no_more(
    harness: Harness,
) -> None:
    harness.org.add_table("account", rows=95)
    run = harness.run(harness.flow("account"))
    page = harness.api.http.get(f"/ui/s/prod/runs/{run['id']}")
    assert page.status_code == 200
    html = page.text
    assert '<dd data-counter="read">95</dd>' in html and '<dd data-counter="written">95</dd>' in html
    assert '<dd data-counter="commits">4</dd>' in html
    assert 'role="img" aria-label="Records read per second: peak' in html
    assert "hx-trigger" not in html.split('id="run-live"', 1)[1].split("</section>", 1)[0]
    fragment = harness.api.http.get(f"/ui/s/prod/runs/{run['id']}/live?was=inProgress", headers={"HX-Request": "true"})
    assert "hx-trigger" not in fragment.text
    assert 'id="run-status-live" hx-swap-oob="innerHTML">Run status: Succeeded' in fragment.text
    same = harness.api.http.get(f"/ui/s/prod/runs/{run['id']}/live?was=success", headers={"HX-Request": "true"})
    assert "run-status-live" not in same.text  # the live region speaks only when the status changes


def test_a_queued_runs_live_section_keeps_polling_every_second(harness: Harness) -> None:
    harness.org.add_table("account", rows=5)
    flow = harness.flow("account")
    created = harness.api.post("/runs", json={"flowId": flow.id}).json()  # queued, no worker has taken it
    html = harness.api.http.get(f"/ui/s/prod/runs/{created['id']}").text
    live = html.split('id="run-live"', 1)[1].split(">", 1)[0]
    assert 'hx-trigger="every 1s"' in live and f"/runs/{created['id']}/live?was=scheduled" in live
    assert "Queued" in html


def test_a_run_of_another_sandbox_is_a_404_page(harness: Harness) -> None:
    harness.org.add_table("account", rows=3)
    run = harness.run(harness.flow("account"))
    harness.container.identity.create_sandbox(harness.api.org, "dev")
    page = harness.api.http.get(f"/ui/s/dev/runs/{run['id']}")
    assert page.status_code == 404 and "Not found" in page.text


def test_row_errors_download_as_csv_and_jsonl_equal_to_the_apis_errors(harness: Harness) -> None:
    table = harness.org.add_table("account", rows=10)
    for n in range(3):
        table.rows[f"bad{n}"] = dict(make_row(table, 90 + n, modified=1), accountid=None)
    run = harness.run(harness.flow("account"), expect="partialSuccess")
    errors = harness.api.get(f"/runs/{run['id']}/errors").json()["errors"]
    assert len(errors) == 3
    page = harness.api.http.get(f"/ui/s/prod/runs/{run['id']}/errors?code=INGEST-1201-400&column=accountid")
    assert page.status_code == 200 and page.text.count('class="row-error"') == 3
    assert re.search(r"<code>INGEST-1201-400</code></a></th>\s*<td class=\"num\">3</td>", page.text)
    none = harness.api.http.get(f"/ui/s/prod/runs/{run['id']}/errors?column=name")
    assert 'class="row-error"' not in none.text
    jsonl = harness.api.http.get(f"/ui/s/prod/runs/{run['id']}/errors.jsonl")
    assert jsonl.headers["content-disposition"].startswith("attachment;")
    assert [json.loads(line) for line in jsonl.text.splitlines()] == errors
    csv_text = harness.api.http.get(f"/ui/s/prod/runs/{run['id']}/errors.csv").text
    assert csv_text.splitlines()[0] == "code,column,message,record" and len(csv_text.splitlines()) == 4


def test_run_actions_need_the_csrf_token(harness: Harness) -> None:
    harness.org.add_table("account", rows=3)
    flow = harness.flow("account")
    http = harness.api.http
    refused = http.post(f"/ui/s/prod/dataflows/{flow.id}/run", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert harness.api.get("/runs", params={"property": f"flowId=={flow.id}"}).json()["items"] == []
    token = csrf_of(http, "/ui/s/prod/dataflows")
    started = http.post(f"/ui/s/prod/dataflows/{flow.id}/run", data={"csrf_token": token}, follow_redirects=False)
    assert started.status_code == 303 and "started=" in started.headers["location"]
    assert len(harness.api.get("/runs", params={"property": f"flowId=={flow.id}"}).json()["items"]) == 1


def test_the_failures_filter_lists_only_flows_whose_last_run_failed(harness: Harness) -> None:
    harness.org.add_table("account", rows=10)
    good = harness.flow("account")
    harness.run(good)
    table = harness.org.add_table("contact", rows=10)
    table.rows["bad"] = dict(make_row(table, 99, modified=1), contactid=None)
    bad = harness.flow("contact", options={"partialIngestionPercent": 1})  # 1 of 11 rows is over 1 %
    harness.run(bad, expect="failed")
    everything = harness.api.http.get("/ui/s/prod/dataflows").text
    assert good.id in everything and bad.id in everything
    failures = harness.api.http.get("/ui/s/prod/dataflows?failures=1").text
    assert bad.id in failures and good.id not in failures
    searched = harness.api.http.get("/ui/s/prod/dataflows?q=contact").text
    assert bad.id in searched and good.id not in searched
