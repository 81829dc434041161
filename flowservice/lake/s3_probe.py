"""The start-up check of a lake on S3-compatible storage: the store must refuse a second put-if-absent.

delta-rs commits a table version by writing ``_delta_log/NNN.json`` with ``If-None-Match: *``
(``aws_conditional_put=etag``). A store that ignores the header lets two writers both "create" the same
version, the second silently replacing the first: a lost commit that every writer believes landed. So before
serving, the server puts a probe object twice with that header and requires the second put to be refused
with 412 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html), then deletes it.
The same two requests also tell, in plain words, a wrong bucket, wrong credentials or an endpoint that does
not answer.

The requests go through obstore (the Rust ``object_store`` crate that delta-rs itself uses, so the check
signs, addresses and configures exactly as the commits will), with the lake's static credentials: from its
storage options, else the standard ``AWS_*`` variables. Without static credentials (an instance role), the check
says so; ``FLOWSERVICE_LAKE_S3_CHECK_CONDITIONAL_PUT=false`` skips it for a store known to honour the header.
The secret is never logged or put in a message.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import obstore
from obstore.exceptions import AlreadyExistsError, BaseError
from obstore.store import S3Store

if TYPE_CHECKING:
    from obstore.store import S3Config

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
    config: S3Config = {
        "access_key_id": key_id,
        "secret_access_key": secret,
        "region": region,
        "endpoint": endpoint,
    }
    if token := _option(options, "AWS_SESSION_TOKEN"):
        config["session_token"] = token
    store = S3Store(
        bucket,
        config=config,
        client_options={"allow_http": endpoint.startswith("http://"), "timeout": f"{timeout}s"},
        retry_config={
            "max_retries": 1,
            "retry_timeout": dt.timedelta(seconds=timeout),
            "backoff": {"init_backoff": dt.timedelta(milliseconds=100), "max_backoff": dt.timedelta(seconds=1)},
        },
    )
    key = "/".join(p for p in (prefix, PROBE_DIR, uuid.uuid4().hex) if p)
    try:
        obstore.list(store, prefix=key, chunk_size=1).collect()  # delta-rs lists the log: the bucket must exist
        obstore.put(store, key, b"probe", mode="create")
        try:
            obstore.put(store, key, b"probe again", mode="create")
        except AlreadyExistsError:
            obstore.delete(store, key)  # tidy up; a leftover probe object harms nothing
            return
    except (BaseError, OSError) as exc:
        raise _refused(where, exc) from None
    raise LakeUnavailable(
        f"{where} does not honour conditional put: a second put with If-None-Match: * of the same object was "
        "accepted. Two writers could then overwrite each other's commit of a Delta table; flowservice needs "
        "a store that refuses it with 412 (AWS S3, MinIO, Cloudflare R2, SeaweedFS do)."
    )


def _refused(where: str, exc: BaseException) -> LakeUnavailable:
    text = str(exc)
    if (meaning := cause(text)) is not None:
        return LakeUnavailable(f"{where} cannot be used: {meaning}.")
    if "dns error" in text or "connect" in text.lower():
        return LakeUnavailable(f"{where} does not answer: check FLOWSERVICE_LAKE_S3_ENDPOINT_URL and the network.")
    return LakeUnavailable(f"{where} cannot be used: it answered {text.splitlines()[0][:300]}.")


def _option(options: Mapping[str, str], name: str) -> str | None:
    return options.get(name) or options.get(name.lower()) or os.environ.get(name) or None
