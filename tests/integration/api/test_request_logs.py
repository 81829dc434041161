"""A request's log lines, in JSON, carry its request id and the caller's org and sandbox; no secret of the body
reaches them. In-process app over real SQLite, with the working fake source made to fail its explore."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowservice.domain.errors import SourceUnavailable
from flowservice.logging_setup import JsonFormatter
from flowservice.settings import Settings
from tests.fakes.source import FakeOrg, FakeSource
from tests.fixtures.server import Api, make_api, seed_body


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    built = make_api(Settings(data_dir=tmp_path / "data"), sources=FakeOrg())
    yield built
    assert built.container is not None
    built.container.close()


def test_a_failed_request_logs_its_request_id_and_the_callers_tenant_but_no_password(
    api: Api, captured: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = api.post("/connections", json=seed_body(password="Hunter2-Never-Logged"))
    assert created.status_code == 201, created.text

    def unavailable(_self: FakeSource) -> None:
        raise SourceUnavailable("the fake org is down")

    monkeypatch.setattr(FakeSource, "list_tables", unavailable)
    answer = api.get(
        f"/connections/{created.json()['id']}/explore",
        params={"objectType": "root"},
        headers={"x-request-id": "req-logs-1"},
    )
    assert answer.status_code == 503, answer.text
    assert answer.headers["x-request-id"] == "req-logs-1"
    entries = [json.loads(line) for line in captured.lines]
    failed = [e for e in entries if e.get("request_id") == "req-logs-1"]
    assert failed, entries
    assert all(e["org"] == api.org and e["sandbox"] == "prod" for e in failed)
    assert any("the fake org is down" in e["message"] for e in failed)
    assert not any("Hunter2-Never-Logged" in line for line in captured.lines)
