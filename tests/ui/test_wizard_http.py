"""The dataflow wizard over HTTP, without a browser (the in-process app, the working fake source, real SQLite
and Delta): each step's checks, the mapping's validate and preview, the create checklist and its retry.
``test_wizard.py`` drives the same screens in Chromium against the real stack."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from flowservice.settings import Settings
from tests.fakes.source import FakeOrg
from tests.fixtures.server import make_api
from tests.integration.engine.conftest import Harness
from tests.ui.test_pages_http import sign_in

NEW = "/ui/s/prod/dataflows/new"
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    org = FakeOrg()
    org.add_table("account", rows=5)
    org.add_table("contact", rows=3)
    api = make_api(Settings(data_dir=tmp_path / "data"), sources=org)
    harness = Harness(api, org)
    assert sign_in(api).status_code == 303
    yield harness
    assert api.container is not None
    api.container.close()


def form_of(html: str, form_id: str) -> list[tuple[str, str]]:
    """The hidden fields of the form ``form_id`` (what the browser would send back)."""
    start = html.index(f'id="{form_id}"')
    end = html.index("</form>", start)
    return [(n, v.replace("&amp;", "&")) for n, v in HIDDEN.findall(html[start:end])]


def as_form(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def count(harness: Harness, path: str) -> int:
    return int(harness.api.get(path, params={"count": "true"}).json()["count"])


def test_the_details_step_refuses_an_empty_name_and_the_schedule_step_the_apis_minimum(harness: Harness) -> None:
    http = harness.api.http
    start = {"conn": harness.connection_id, "tables": "account", "step": "details"}
    page = http.get(NEW, params=start)
    assert page.status_code == 200 and "<h1>New dataflow: details</h1>" in page.text
    assert 'value="account from Dynamics Connection"' in page.text  # the flow name's default
    empty = http.get(NEW, params={**start, "from": "details", "step": "mapping", "name": "  "})
    assert empty.status_code == 400 and "Give the dataflow a name." in empty.text and 'role="alert"' in empty.text
    query = {**start, "frequency": "minute", "interval": "10", "start": "2026-12-03T08:00", "from": "schedule"}
    refused = http.get(NEW, params={**query, "step": "review"})
    assert refused.status_code == 400
    assert "scheduleParams.interval must be at least 15 when frequency is minute, got 10" in refused.text
    shown = http.get(NEW, params={**query, "interval": "15", "step": "schedule"})
    assert shown.status_code == 200
    runs = shown.text[shown.text.index('class="data next-runs"') :]
    assert re.findall(r'<time datetime="([^"]+)">', runs)[:2] == ["2026-12-03T08:00:00Z", "2026-12-03T08:15:00Z"]


def test_the_mapping_step_validates_and_previews_through_the_api(harness: Harness) -> None:
    http = harness.api.http
    query = {"conn": harness.connection_id, "tables": "account", "name": "accounts", "step": "mapping"}
    page = http.get(NEW, params=query)
    assert page.status_code == 200 and "Mapped <strong>4</strong>" in page.text
    fields = form_of(page.text, "mapping-form")
    rows = {
        "m.0.on": "yes", "m.0.kind": "ATTRIBUTE", "m.0.source": "accountid", "m.0.destination": "accountid",
        "m.1.on": "yes", "m.1.kind": "EXPRESSION", "m.1.source": "lower(trim(nmae))", "m.1.destination": "label",
        "m.2.on": "yes", "m.2.kind": "ATTRIBUTE", "m.2.source": "modifiedon", "m.2.destination": "modifiedon",
    }  # fmt: skip
    body = [(n, v) for n, v in fields if n != "rows"] + [("rows", "3"), *rows.items()]
    invalid = http.post(f"{NEW}/mapping", data=as_form([*body, ("action", "validate")]))
    assert invalid.status_code == 400 and "unknown source column &#39;nmae&#39;" in invalid.text
    assert "/data/foundation/conversion/mappingSets/validate" in invalid.text  # the API calls drawer
    fixed = [(n, "lower(trim(name))" if n == "m.1.source" else v) for n, v in body]
    preview = http.post(f"{NEW}/mapping", data=as_form([*fixed, ("action", "preview")]))
    assert preview.status_code == 200, preview.text
    assert "Mapped rows" in preview.text and "<td>account 0</td>" in preview.text
    mapping_sets = harness.api.get("/data/foundation/conversion/mappingSets").json()["_page"]["totalCount"]
    assert count(harness, "/flows") == 0 and mapping_sets == 0  # validate and preview store nothing
    following = http.post(f"{NEW}/mapping", data=as_form([*fixed, ("action", "schedule")]), follow_redirects=False)
    assert following.status_code == 303 and "step=schedule" in following.headers["location"]
    assert "mapping=" in following.headers["location"]


def test_create_makes_the_five_calls_and_a_retry_after_a_failure_makes_no_duplicate(harness: Harness) -> None:
    http = harness.api.http
    taken = harness.api.post("/data/foundation/catalog/dataSets", json={"name": "accounts"}).json()[0]
    draft = {"conn": harness.connection_id, "tables": "account", "name": "accounts flow", "dataset_name": "accounts"}
    review = http.get(NEW, params={**draft, "step": "review"})
    assert review.status_code == 200 and "Edit mapping" in review.text
    fields = form_of(review.text, "create-form")
    failed = http.post(f"{NEW}/create", data=as_form(fields), follow_redirects=False)
    assert failed.status_code == 400 and "✗ Failed" in failed.text and "Retry" in failed.text
    assert count(harness, "/sourceConnections") == 1
    harness.api.delete("/data/foundation/catalog/dataSets/" + taken.rsplit("/", 1)[-1])
    retried = http.post(f"{NEW}/create", data=as_form(form_of(failed.text, "create-form")), follow_redirects=False)
    assert retried.status_code == 303, retried.text
    done = http.get(retried.headers["location"])
    assert done.status_code == 200 and done.text.count("✓ Done") == 5
    assert count(harness, "/sourceConnections") == 1 and count(harness, "/targetConnections") == 1
    [flow] = harness.api.get("/flows").json()["items"]
    assert flow["name"] == "accounts flow" and flow["options"] == {"errorDiagnosticsEnabled": True}
    assert f"/ui/s/prod/dataflows/{flow['id']}" in done.text


def test_several_tables_make_one_flow_each_and_a_retry_resumes_the_table_that_failed(harness: Harness) -> None:
    http = harness.api.http
    taken = harness.api.post("/data/foundation/catalog/dataSets", json={"name": "contact"}).json()[0]
    query = urlencode([("conn", harness.connection_id), ("tables", "account"), ("tables", "contact")])
    assert http.get(f"{NEW}?{query}&step=details").status_code == 200
    review = http.get(f"{NEW}?{query}&step=review&mode=append")
    assert review.status_code == 200, review.text
    failed = http.post(f"{NEW}/create", data=as_form(form_of(review.text, "create-form")))
    assert failed.status_code == 400 and failed.text.count("✓ Done") == 6  # account's five, contact's source
    harness.api.delete("/data/foundation/catalog/dataSets/" + taken.rsplit("/", 1)[-1])
    retried = http.post(f"{NEW}/create", data=as_form(form_of(failed.text, "create-form")))
    assert retried.status_code == 200 and retried.text.count("✓ Done") == 10
    assert count(harness, "/sourceConnections") == 2 and count(harness, "/targetConnections") == 2
    flows = harness.api.get("/flows").json()["items"]
    assert sorted(f["name"] for f in flows) == ["account from Dynamics Connection", "contact from Dynamics Connection"]
    target = harness.api.get(f"/targetConnections/{flows[0]['targetConnectionIds'][0]}").json()["items"][0]
    assert target["params"]["writeMode"] == "append"


def test_the_mapping_of_another_flow_can_be_imported(harness: Harness) -> None:
    other = [
        {"sourceType": "ATTRIBUTE", "source": "contactid", "destination": "contactid"},
        {"sourceType": "EXPRESSION", "source": "upper(name)", "destination": "shout"},
        {"sourceType": "ATTRIBUTE", "source": "modifiedon", "destination": "modifiedon"},
    ]
    flow = harness.flow("contact", mapping=other)
    mapping_id = harness.api.get(f"/flows/{flow.id}").json()["items"][0]["transformations"][1]["params"]["mappingId"]
    http = harness.api.http
    query = {"conn": harness.connection_id, "tables": "contact", "name": "contacts", "step": "mapping"}
    page = http.get(NEW, params=query)
    assert f'<option value="{mapping_id}">contact flow</option>' in page.text
    fields = [*form_of(page.text, "import-form"), ("import_from", mapping_id), ("action", "import")]
    imported = http.post(f"{NEW}/mapping", data=as_form(fields))
    assert imported.status_code == 200, imported.text
    assert 'value="upper(name)"' in imported.text and 'value="shout"' in imported.text
    assert "Mapped <strong>3</strong> · unmapped <strong>2</strong>" in imported.text  # name and revenue left out
    assert "✓ valid" in imported.text  # validated at once by the API


def test_the_mapping_downloads_as_a_csv_template_and_an_edited_csv_imports_back(harness: Harness) -> None:
    http = harness.api.http
    query = {"conn": harness.connection_id, "tables": "contact", "name": "contacts", "step": "mapping"}
    page = http.get(NEW, params=query)
    template = http.get(f"{NEW}/mapping.csv", params={k: v for k, v in query.items() if k != "step"})
    assert template.status_code == 200 and template.headers["content-type"].startswith("text/csv")
    assert 'filename="mapping-contact.csv"' in template.headers["content-disposition"]
    lines = template.text.splitlines()
    assert lines[0] == "source,destination,sourceType" and "contactid,contactid,ATTRIBUTE" in lines
    edited = "source,destination,sourceType\ncontactid,contactid,\nupper(name),shout,EXPRESSION\n"
    fields = [*form_of(page.text, "import-csv-form"), ("action", "import_csv")]
    imported = http.post(f"{NEW}/mapping", data=as_form(fields), files={"mapping_csv": ("m.csv", edited.encode())})
    assert imported.status_code == 200, imported.text
    assert 'value="upper(name)"' in imported.text and 'value="shout"' in imported.text
    assert "Mapped <strong>2</strong>" in imported.text and "✓ valid" in imported.text
    bad = http.post(f"{NEW}/mapping", data=as_form(fields), files={"mapping_csv": ("m.csv", b"from,to\nname,label\n")})
    assert 'role="alert"' in bad.text
    assert "The mapping CSV was not imported: The first line must name the columns source and destination" in bad.text
