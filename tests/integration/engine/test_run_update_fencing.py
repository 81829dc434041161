"""A caller's PUT /runs/{id} while the run goes: it is fenced like the engine's writes, so the engine's later
updates keep the caller's name, and a caller's PUT built on a document the engine has since changed is
refused with 412 instead of writing old metrics back."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from flowservice.domain.errors import PreconditionFailed
from flowservice.domain.tenancy import Principal, Tenant
from flowservice.ports import CommitResult
from tests.integration.engine.conftest import Harness
from tests.integration.engine.test_fencing import HookedLake, engine_with, in_thread, run_doc, start_run


def put(harness: Harness, run_id: str, body: dict[str, Any], etag: str) -> Any:
    return harness.api.request("PUT", f"/runs/{run_id}", json=body, headers={"If-Match": etag})


def test_a_put_during_a_run_survives_the_engines_later_updates_and_a_stale_one_gets_412(harness: Harness) -> None:
    harness.org.add_table("account", rows=60)
    flow = harness.flow("account", mode="append")
    run_id = start_run(harness, flow)
    claim = harness.container.queue.claim("w", 60)
    assert claim is not None
    paused, resume = threading.Event(), threading.Event()

    def freeze_after_first(n: int, _: dict[str, Any], __: CommitResult) -> None:
        if n == 1:
            paused.set()
            assert resume.wait(30)

    lake = HookedLake(harness.container.lake, after=freeze_after_first)
    thread, outcome = in_thread(lambda: engine_with(harness, lake, 10).execute(claim))
    assert paused.wait(30)

    during = run_doc(harness, run_id)
    assert during["state"] == "inProgress"
    renamed = put(harness, run_id, {"name": "Renamed mid-run"}, during["etag"])
    assert renamed.status_code == 200, renamed.text
    resume.set()
    thread.join(30)

    assert outcome["status"] == "success"
    final = run_doc(harness, run_id)
    assert final["name"] == "Renamed mid-run"  # the engine's later writes kept the caller's field
    assert final["metrics"]["statusSummary"]["status"] == "success"
    assert final["metrics"]["recordSummary"]["outputRecordCount"] == 60
    assert final["etag"] != renamed.json()["etag"]  # the engine wrote after the PUT

    stale = put(harness, run_id, {"name": "Based on the mid-run document"}, renamed.json()["etag"])
    assert stale.status_code == 412
    after = run_doc(harness, run_id)
    assert after["name"] == "Renamed mid-run" and after["metrics"] == final["metrics"]


def test_an_engine_write_based_on_the_document_before_a_put_is_refused_so_the_put_is_not_lost(
    harness: Harness,
) -> None:
    harness.org.add_table("account", rows=5)
    flow = harness.flow("account")
    run_id = start_run(harness, flow)
    claim = harness.container.queue.claim("w", 60)
    assert claim is not None
    before = run_doc(harness, run_id)  # what the engine read
    assert put(harness, run_id, {"name": "Caller's"}, before["etag"]).status_code == 200
    documents = harness.container.run_engine.progress.documents
    with pytest.raises(PreconditionFailed):
        documents.update_run(claim, {**before, "state": "inProgress"}, before["etag"])
    assert run_doc(harness, run_id)["name"] == "Caller's"

    # the engine's own path (read, change, swap on the etag read) keeps the name
    assert engine_with(harness, harness.container.lake, 10).execute(claim) == "success"
    final = run_doc(harness, run_id)
    assert final["name"] == "Caller's" and final["metrics"]["statusSummary"]["status"] == "success"


class PutDuringWrite:
    """The run resources, with a caller's PUT landing just before the first write made through them."""

    def __init__(self, harness: Harness, name: str) -> None:
        self.harness, self.name, self.real = harness, name, harness.container.runs.resources
        self.fired = False

    def update(self, kind: str, tenant: Tenant, id: str, doc: dict[str, Any], secrets: Any, *, if_etag: Any) -> Any:
        if not self.fired:
            self.fired = True
            current = self.real.get(kind, tenant, id)
            assert current is not None
            caller = Principal(client_id=self.harness.api.client_id, org=tenant.org)
            self.harness.container.runs.update(tenant, caller, id, {"name": self.name}, current.etag)
        return self.real.update(kind, tenant, id, doc, secrets, if_etag=if_etag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_put_landing_between_a_retriggers_read_and_write_is_kept(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.org.add_table("account", rows=30)
    flow = harness.flow("account")
    harness.org.faults.fail_after_pages = 1
    failed = harness.run(flow, expect="failed")
    monkeypatch.setattr(harness.container.runs, "resources", PutDuringWrite(harness, "Named meanwhile"))
    retried = harness.api.post(f"/runs/{failed['id']}/action", params={"op": "re-trigger"})
    assert retried.status_code == 200, retried.text
    run = run_doc(harness, failed["id"])
    assert run["name"] == "Named meanwhile" and run["metrics"]["statusSummary"]["status"] == "scheduled"
