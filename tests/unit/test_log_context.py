"""JSON log lines carry what the context says they are about (request, run, flow, org, sandbox), and a bound
context is restored after its block."""

from __future__ import annotations

import json
import logging

from flowservice.domain import log_context
from flowservice.logging_setup import JsonFormatter


def line(message: str) -> dict[str, str]:
    record = logging.LogRecord("flowservice.test", logging.INFO, __file__, 1, message, None, None)
    return dict(json.loads(JsonFormatter().format(record)))


def test_a_json_line_outside_any_context_carries_no_context_fields() -> None:
    entry = line("plain")
    assert entry["message"] == "plain"
    assert not {"request_id", "run_id", "flow_id", "org", "sandbox"} & set(entry)


def test_a_json_line_inside_a_run_names_its_run_flow_org_and_sandbox_and_the_block_restores_them() -> None:
    token = log_context.request_id.set("req-42")
    try:
        with log_context.bound(run_id="r1", flow_id="f1", org="ACME@AdobeOrg", sandbox="prod"):
            inside = line("working")
        after = line("done")
    finally:
        log_context.request_id.reset(token)
    assert {k: inside[k] for k in ("request_id", "run_id", "flow_id", "org", "sandbox")} == {
        "request_id": "req-42",
        "run_id": "r1",
        "flow_id": "f1",
        "org": "ACME@AdobeOrg",
        "sandbox": "prod",
    }
    assert after["request_id"] == "req-42"
    assert "run_id" not in after and "org" not in after
