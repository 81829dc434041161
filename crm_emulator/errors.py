"""Dataverse error bodies and the codes the reference documents.

Handlers raise :class:`DataverseError`; the app turns it into ``{"error": {"code", "message"}}`` with the
OData headers, so every failure looks like the real service's, never like a Python traceback.
"""

from __future__ import annotations

from typing import Any

import orjson

# Codes from the reference (§5.4, §6.2, §6.3) and, where the reference has none, a documented choice.
INVALID_ARGUMENT = "0x80040203"
UNEXPECTED = "0x80040216"
RECORD_NOT_FOUND = "0x80040217"
UNSUPPORTED_QUERY = "0x80060888"
NOT_FOUND_SEGMENT = "0x8006088a"
EXPIRED_VERSION_STAMP = "0x80044352"
THROTTLE_REQUESTS = "0x80072322"
THROTTLE_EXECUTION_TIME = "0x80072321"
THROTTLE_CONCURRENCY = "0x80072326"
NOT_ORG_MEMBER = "0x80072560"

EXPIRED_DELTA_MESSAGE = "Version stamp associated with the client has expired. Please perform a full sync."

THROTTLE_MESSAGES = {
    "requests": (THROTTLE_REQUESTS, "Number of requests exceeded the limit of 6000 over time window of 300 seconds."),
    "execution_time": (
        THROTTLE_EXECUTION_TIME,
        "Combined execution time of incoming requests exceeded limit of 1,200,000  milliseconds over time window "
        "of 300 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again "
        "later.",
    ),
    "concurrency": (THROTTLE_CONCURRENCY, "Number of concurrent requests exceeded the limit of 52."),
}


class DataverseError(Exception):
    """An error the Web API answers with its documented body."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> bytes:
        return error_body(self.code, self.message)


def error_body(code: str, message: str, **extra: Any) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, **extra}})


def bad_request(message: str, code: str = INVALID_ARGUMENT) -> DataverseError:
    return DataverseError(400, code, message)


def unsupported(message: str) -> DataverseError:
    """Something Dataverse may accept but the emulator does not model: fail loudly, never answer wrongly."""
    return DataverseError(400, UNSUPPORTED_QUERY, f"{message} (not supported by the crm_emulator)")


def property_not_found(name: str, type_name: str) -> DataverseError:
    return DataverseError(
        400, INVALID_ARGUMENT, f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{type_name}'."
    )


def segment_not_found(segment: str) -> DataverseError:
    return DataverseError(404, NOT_FOUND_SEGMENT, f"Resource not found for the segment '{segment}'.")
