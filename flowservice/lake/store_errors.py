"""What an object store's failure means, in words an operator can act on.

delta-rs reports a store's refusal as an ``OSError`` whose text is a chain of causes with the request's URL
and the store's XML answer. The common causes (wrong credentials, no such bucket, an endpoint that does not
answer) are told apart here once, for the start-up check and for a run's error. A run's error is read by
tenants, so it names the cause but no bucket, path or endpoint; the server log keeps the full text.
"""

from __future__ import annotations

from flowservice.domain.errors import FlowServiceError

_CAUSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "403 Forbidden", "lacked the necessary"),
        "it refused the server's credentials (check the lake's access key and secret)",
    ),
    (("NoSuchBucket",), "its bucket does not exist (check FLOWSERVICE_LAKE_ROOT)"),
    (
        ("Connection refused", "tcp connect error", "dns error", "timed out", "error sending request"),
        "its endpoint does not answer (check FLOWSERVICE_LAKE_S3_ENDPOINT_URL and the network)",
    ),
)


class LakeUnavailable(FlowServiceError):
    """The lake's storage cannot be used: nothing was read or written. Retrying helps only once an operator
    has fixed the cause (or the store is back)."""

    status = 503
    code = "1103"
    title = "Lake storage unavailable"


def cause(text: str) -> str | None:
    """The operator's reading of a store failure's text, or None when it is none of the known causes."""
    for needles, meaning in _CAUSES:
        if any(needle in text for needle in needles):
            return meaning
    return None


def lake_unavailable(exc: BaseException) -> LakeUnavailable:
    """The tenant-safe error of a failed read or write of the lake's storage."""
    reason = cause(str(exc)) or "it failed (the server log has the details)"
    return LakeUnavailable(
        f"The lake's storage could not be used: {reason}. An operator must fix the lake's settings or store; "
        "then re-trigger the run to continue from its last commit (no commit is ever written twice)."
    )
