"""The start-up check of a lake on S3-compatible storage: the store must refuse a second put-if-absent.

delta-rs commits a table version by writing ``_delta_log/NNN.json`` with ``If-None-Match: *``
(``aws_conditional_put=etag``). A store that ignores the header lets two writers both "create" the same
version, the second silently replacing the first: a lost commit that every writer believes landed. So before
serving, the server puts a probe object twice with that header and requires the second put to be refused
with 412 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html), then deletes it.
The same two requests also tell, in plain words, a wrong bucket, wrong credentials or an endpoint that does
not answer.

The requests are signed here (AWS Signature Version 4, path-style URLs like delta-rs's default) with the
lake's static credentials: from its storage options, else the standard ``AWS_*`` variables. Without static
credentials (an instance role), the check cannot sign and says so; ``FLOWSERVICE_LAKE_S3_CHECK_CONDITIONAL_PUT
=false`` skips it for a store known to honour the header. The secret is never logged or put in a message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import uuid
from collections.abc import Mapping
from urllib.parse import quote, urlparse

import httpx

from flowservice.lake.store_errors import LakeUnavailable, cause

PROBE_DIR = "_flowservice_probe"


def check_conditional_put(root: str, options: Mapping[str, str], *, timeout: float = 10.0) -> None:
    """Raise ``LakeUnavailable`` with an operator's message unless the store under ``root`` (``s3://bucket/
    prefix``) accepts our credentials and refuses a second ``If-None-Match: *`` put of one object."""
    parsed = urlparse(root)
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    region = _option(options, "AWS_REGION") or _option(options, "AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = (_option(options, "AWS_ENDPOINT_URL") or f"https://s3.{region}.amazonaws.com").rstrip("/")
    where = f"the lake's bucket {bucket!r} at {endpoint}"
    if endpoint.startswith("http://") and _option(options, "AWS_ALLOW_HTTP") != "true":
        raise LakeUnavailable(f"{where}: a plain-HTTP endpoint needs FLOWSERVICE_LAKE_S3_ALLOW_HTTP=true.")
    key_id, secret = _option(options, "AWS_ACCESS_KEY_ID"), _option(options, "AWS_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        raise LakeUnavailable(
            f"{where}: checking that the store honours conditional put needs static credentials "
            "(FLOWSERVICE_LAKE_S3_ACCESS_KEY_ID and FLOWSERVICE_LAKE_S3_SECRET_ACCESS_KEY, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY); set FLOWSERVICE_LAKE_S3_CHECK_CONDITIONAL_PUT=false only for a store known "
            "to honour If-None-Match."
        )
    signer = _Signer(key_id, secret, _option(options, "AWS_SESSION_TOKEN"), region)
    key = "/".join(p for p in (prefix, PROBE_DIR, uuid.uuid4().hex) if p)
    bucket_url = f"{endpoint}/{quote(bucket, safe='')}"
    url = f"{bucket_url}/{quote(key, safe='/')}"
    listing = f"{bucket_url}?list-type=2&max-keys=1&prefix={quote(key, safe='')}"
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as http:
            listed = _send(http, signer, "GET", listing, {}, b"")  # delta-rs lists the log: the bucket must exist
            if listed.status_code >= 300:
                raise _refused(where, listed)
            first = _send(http, signer, "PUT", url, {"If-None-Match": "*"}, b"probe")
            if first.status_code >= 300:
                raise _refused(where, first)
            second = _send(http, signer, "PUT", url, {"If-None-Match": "*"}, b"probe again")
            try:
                _send(http, signer, "DELETE", url, {}, b"")  # tidy up; a leftover probe object harms nothing
            except httpx.HTTPError:
                pass
    except httpx.HTTPError as exc:
        raise LakeUnavailable(
            f"{where} does not answer ({type(exc).__name__}): check FLOWSERVICE_LAKE_S3_ENDPOINT_URL and the network."
        ) from None
    if second.status_code == 412:
        return
    if second.status_code < 300:
        raise LakeUnavailable(
            f"{where} does not honour conditional put: a second put with If-None-Match: * of the same object was "
            "accepted. Two writers could then overwrite each other's commit of a Delta table; flowservice needs "
            "a store that refuses it with 412 (AWS S3, MinIO, Cloudflare R2, SeaweedFS do)."
        )
    raise _refused(where, second)


def _refused(where: str, response: httpx.Response) -> LakeUnavailable:
    text = response.text[:2000]
    meaning = cause(text) or cause(f"{response.status_code} {response.reason_phrase}")
    detail = meaning or f"it answered {response.status_code} {response.reason_phrase}"
    return LakeUnavailable(f"{where} cannot be used: {detail}.")


def _option(options: Mapping[str, str], name: str) -> str | None:
    return options.get(name) or options.get(name.lower()) or os.environ.get(name) or None


def _send(
    http: httpx.Client, signer: _Signer, method: str, url: str, headers: dict[str, str], body: bytes
) -> httpx.Response:
    return http.request(method, url, headers=signer.headers(method, url, headers, body), content=body)


class _Signer:
    """AWS Signature Version 4 for single requests to S3 (headers only, the payload's hash signed)."""

    def __init__(self, key_id: str, secret: str, token: str | None, region: str) -> None:
        self._key_id, self._secret, self._token, self._region = key_id, secret, token, region

    def __repr__(self) -> str:  # never the secret
        return f"_Signer({self._key_id!r}, region={self._region!r})"

    def headers(self, method: str, url: str, extra: dict[str, str], body: bytes) -> dict[str, str]:
        now = dt.datetime.now(dt.UTC)
        stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        parsed = urlparse(url)
        payload = hashlib.sha256(body).hexdigest()
        headers = {"host": parsed.netloc, "x-amz-content-sha256": payload, "x-amz-date": stamp}
        headers.update({k.lower(): v for k, v in extra.items()})
        if self._token:
            headers["x-amz-security-token"] = self._token
        names = sorted(headers)
        canonical = "\n".join(
            [
                method,
                parsed.path or "/",
                parsed.query,
                "".join(f"{n}:{headers[n].strip()}\n" for n in names),
                ";".join(names),
                payload,
            ]
        )
        scope = f"{day}/{self._region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = f"AWS4{self._secret}".encode()
        for part in (day, self._region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self._key_id}/{scope}, SignedHeaders={';'.join(names)}, "
            f"Signature={signature}"
        )
        del headers["host"]  # httpx sends it
        return headers
