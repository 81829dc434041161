"""Logging in text or JSON lines. Secrets never reach a log: nothing logs request bodies or parameters.

A JSON line carries what it is about from the context (``domain.log_context``): the request id, and the run,
flow, org and sandbox, so that one run's or one tenant's lines can be found whichever process wrote them."""

from __future__ import annotations

import json
import logging
import time

from flowservice.domain import log_context


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(log_context.current())
        for key in ("run_id", "flow_id", "org", "sandbox", "rows", "request_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(fmt: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for chatty in ("httpx", "httpcore", "msal", "urllib3", "alembic"):  # one line per request is noise, not news
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
