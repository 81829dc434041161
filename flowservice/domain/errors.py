"""The error tree. Every failure the product reports is one of these; the API turns them into the
Flow Service error body (``FLOW-NNNN-SSS``) in exactly one place (``api/errors.py``).

    FlowServiceError                      code, status, title, message
    ├── InvalidRequest          400       bad input: validation, unknown spec, bad filter, bad patch
    ├── Unauthorized            401       missing/invalid/expired token
    ├── Forbidden               403       api key or org does not match the token
    ├── NotFound                404       unknown id, or a resource of another org/sandbox
    ├── PreconditionFailed      412       If-Match does not match the current etag
    ├── UnsupportedMediaType    415       a body that is not application/json
    ├── PayloadTooLarge         413       a body over the configured limit
    ├── Conflict                400       the resource is used by others (e.g. a connection used by a flow)
    ├── TooManyRequests         429       the caller exceeded a limit; ``retry_after`` seconds go in Retry-After
    └── SourceError             4xx/5xx   the remote system failed; ``retryable`` says whether to try again
        ├── SourceAuthError     400       the source refused our credentials (not retryable)
        ├── SourceThrottled     429       the source throttled us beyond our retry budget (retryable)
        ├── SourceUnavailable   503       network error, timeout, 5xx after retries (retryable)
        └── SourceRefused       400       the request is not allowed (bad serviceUri, unknown table)

"Retry or give up" is decided once, at the edge that talks to the remote system (the source client);
everything above it only reports.
"""

from __future__ import annotations


class FlowServiceError(Exception):
    """Base of every error the product reports. ``code`` is the Flow Service ``NNNN`` number."""

    status: int = 500
    code: str = "1102"
    title: str = "Internal Error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        title: str | None = None,
        status: int | None = None,
        resource_id: str | None = None,
        resource_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if title is not None:
            self.title = title
        if status is not None:
            self.status = status
        self.resource_id = resource_id
        self.resource_type = resource_type


class InvalidRequest(FlowServiceError):
    status = 400
    code = "1100"
    title = "Invalid request"


class Unauthorized(FlowServiceError):
    status = 401
    code = "2115"
    title = "Invalid token"


class Forbidden(FlowServiceError):
    status = 403
    code = "2120"
    title = "Forbidden"


class NotFound(FlowServiceError):
    status = 404
    code = "1101"
    title = "Resource not found"


class PreconditionFailed(FlowServiceError):
    status = 412
    code = "1404"
    title = "Version not matching"


class UnsupportedMediaType(FlowServiceError):
    status = 415
    code = "1405"
    title = "Unsupported media type"


class PayloadTooLarge(FlowServiceError):
    status = 413
    code = "1405"
    title = "Payload too large"


class Conflict(FlowServiceError):
    status = 400
    code = "1418"
    title = "Invalid request"


class NotSupported(FlowServiceError):
    """An operation of Adobe's catalogue that this server does not offer: named, with the reason, never a bare 404."""

    status = 501
    code = "1100"
    title = "Not supported here"


class TooManyRequests(FlowServiceError):
    status = 429
    code = "1103"
    title = "Too many requests"

    def __init__(self, message: str, *, retry_after: int = 1, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class SourceError(FlowServiceError):
    """The source system failed. ``retryable`` is set by the source client, which owns the retry policy."""

    status = 502
    code = "1102"
    title = "Source error"
    retryable = False


class SourceAuthError(SourceError):
    status = 400
    code = "1100"
    title = "Source authentication failed"


class SourceThrottled(SourceError):
    status = 429
    code = "1103"
    title = "Source throttled"
    retryable = True


class SourceUnavailable(SourceError):
    status = 503
    code = "1103"
    title = "Source unavailable"
    retryable = True


class SourceRefused(SourceError):
    status = 400
    code = "1100"
    title = "Invalid request"
