"""What a log line is about: the request, and the run, flow, org and sandbox it serves (context variables).

The API sets the request id and the caller's tenant, a worker the run's ids while it executes a claim; the log
formatter (``logging_setup``) reads them, so no call site has to pass them. A new thread starts with an empty
context: the threads a run starts to read its source run in a copy of the run's (``contextvars.copy_context``)."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("run_id", default=None)
flow_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("flow_id", default=None)
org: contextvars.ContextVar[str | None] = contextvars.ContextVar("org", default=None)
sandbox: contextvars.ContextVar[str | None] = contextvars.ContextVar("sandbox", default=None)

_FIELDS = {"run_id": run_id, "flow_id": flow_id, "org": org, "sandbox": sandbox}


def current() -> dict[str, str]:
    """The fields set in this context (the request id included), by their log names."""
    values = {name: var.get() for name, var in _FIELDS.items()}
    found = {name: value for name, value in values.items() if value}
    if request_id.get():
        found["request_id"] = request_id.get()
    return found


@contextmanager
def bound(**values: str) -> Iterator[None]:
    """Set some of ``run_id``, ``flow_id``, ``org``, ``sandbox`` for the block, then restore them."""
    tokens = [(_FIELDS[name], _FIELDS[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def set_tenant(org_id: str, sandbox_name: str) -> None:
    """The caller's tenant, for the rest of the current request (each request runs in a context of its own)."""
    org.set(org_id)
    sandbox.set(sandbox_name)
