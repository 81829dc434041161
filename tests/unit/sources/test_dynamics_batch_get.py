"""A GET too long for Dataverse goes as the one operation of a $batch; its answer comes back as if sent alone."""

from __future__ import annotations

import pytest

from crm_emulator.batch import parse_batch
from flowservice.domain.errors import SourceRefused
from flowservice.sources.dynamics import batch_get

LONG_URL = "https://org.example/api/data/v9.2/widerecords?$select=" + ",".join(f"c{n:05d}" for n in range(6000))


def test_only_urls_longer_than_32_kb_are_batched() -> None:
    assert not batch_get.needs_batch("https://org.example/api/data/v9.2/accounts?$select=name")
    assert batch_get.needs_batch(LONG_URL) and len(LONG_URL) > 32_768


def test_the_batch_holds_the_get_with_its_own_headers_and_never_the_token() -> None:
    headers = {"Authorization": "Bearer secret-token", "Prefer": "odata.maxpagesize=20", "Cache-Control": "no-cache"}
    content_type, body = batch_get.request_body(LONG_URL, headers)
    (operation,) = parse_batch(content_type, body)  # the emulator's parser reads it as Dataverse would
    assert (operation.method, operation.target) == ("GET", LONG_URL)
    assert dict(operation.headers) == {
        "Accept": "application/json",
        "Prefer": "odata.maxpagesize=20",
        "Cache-Control": "no-cache",
    }
    assert b"secret-token" not in body
    assert batch_get.outer_headers(headers, content_type) == {
        "Authorization": "Bearer secret-token",
        "Content-Type": content_type,
    }


def test_a_url_longer_than_even_a_batch_allows_is_refused_with_the_figure() -> None:
    with pytest.raises(SourceRefused, match="65,536"):
        batch_get.request_body(LONG_URL + "," * 40_000, {})


def test_the_first_part_gives_the_operations_status_headers_and_body() -> None:
    body = (
        b"--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        b"HTTP/1.1 429 Too Many Requests\r\nREQ_ID: 1\r\nContent-Type: application/json\r\nRetry-After: 7\r\n\r\n"
        b'{"error":{"code":"0x80072322","message":"x"}}\r\n--batchresponse_1--\r\n'
    )
    status, headers, content = batch_get.first_part("multipart/mixed; boundary=batchresponse_1", body) or (0, [], b"")
    assert status == 429
    assert ("Retry-After", "7") in headers
    assert content == b'{"error":{"code":"0x80072322","message":"x"}}'


def test_an_answer_that_is_not_a_batch_is_left_to_the_caller() -> None:
    assert batch_get.first_part("application/json", b'{"error":{}}') is None


def test_a_batch_answer_without_a_complete_part_is_refused() -> None:
    with pytest.raises(SourceRefused, match="complete part"):
        batch_get.first_part("multipart/mixed; boundary=b", b"--b\r\nContent-Type: application/http\r\n")


def test_pages_of_wide_tables_hold_fewer_rows_and_narrow_tables_keep_5000() -> None:
    assert batch_get.wide_page_size(5000, 118) == 5000
    assert batch_get.wide_page_size(5000, 1200) == 500
    assert batch_get.wide_page_size(20, 1200) == 20
    assert batch_get.wide_page_size(5000, 10**7) == 1
