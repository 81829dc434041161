"""Reading ahead changes when pages are requested, never what a read yields: same pages, same cursors, the same
retries, and no request anywhere but the organization."""

from __future__ import annotations

import dataclasses
import threading

import httpx
import orjson
import pyarrow as pa
import pytest

from flowservice.domain.errors import SourceRefused
from flowservice.sources.dynamics.readahead import ReadAhead, chain_key

from .fake_dataverse import ORG, account_row


def read(make_source, settings, depth: int, table: str = "account", **kwargs):
    source = make_source(settings_=dataclasses.replace(settings, read_ahead_pages=depth))
    try:
        return [(p.batch, p.cursor, p.final, p.deleted_keys) for p in source.read(table, None, None, **kwargs)]
    finally:
        source.close()


@pytest.mark.parametrize("table", ["account", "contact"])  # change tracking, and a watermark
def test_reading_ahead_yields_the_same_pages_and_cursors_as_reading_in_turn(make_source, settings, fake, table):
    for i in range(1, 6):
        fake.upsert(
            "contact", {"contactid": f"C0{i}", "fullname": f"Contact {i}", "modifiedon": f"2024-05-0{i}T10:00:00Z"}
        )
    ahead = read(make_source, settings, 2, table, page_size=2)
    in_turn = read(make_source, settings, 0, table, page_size=2)
    assert len(ahead) == len(in_turn) == 3
    for (batch, cursor, final, deleted), (batch0, cursor0, final0, deleted0) in zip(ahead, in_turn, strict=True):
        assert batch.equals(batch0) and final == final0 and deleted == deleted0
        assert {k: v for k, v in cursor.items() if k != "delta_link"} == {
            k: v for k, v in cursor0.items() if k != "delta_link"
        }


def test_a_delta_read_ahead_still_yields_the_deletes(make_source, settings, fake):
    final = read(make_source, settings, 2, page_size=2)[-1]
    fake.delete("account", account_row(3)["accountid"])
    fake.upsert("account", account_row(2, name="Renamed"))
    source = make_source(settings_=dataclasses.replace(settings, read_ahead_pages=2))
    pages = list(source.read("account", ["name"], final[1]))
    assert [r["name"] for p in pages for r in p.batch.to_pylist()] == ["Renamed"]
    assert [k for p in pages for k in p.deleted_keys] == [account_row(3)["accountid"].lower()]


def test_an_error_on_a_page_fetched_ahead_is_retried_like_any_other(make_source, settings, fake, sleeps):
    fake.fail("skiptoken=2", 503, body={"error": {"code": "", "message": "busy"}})
    pages = read(make_source, settings, 2, page_size=2)
    assert sum(b.num_rows for b, *_ in pages) == 5 and pages[-1][2]
    assert len(sleeps) == 1


def test_a_truncated_page_fetched_ahead_is_fetched_again(make_source, settings, fake, sleeps):
    fake.fail("skiptoken=4", 200, headers={"Content-Type": "application/json"}, body=b'{"value":[{"name":"Acc')
    pages = read(make_source, settings, 2, page_size=2)
    assert sum(b.num_rows for b, *_ in pages) == 5 and len(sleeps) == 1


def test_a_link_to_another_origin_is_neither_guessed_into_a_request_nor_followed(make_source, settings, fake):
    evil = "https://evil.example/api/data/v9.2/accounts?$skiptoken=2"
    body = orjson.dumps({"value": [{"accountid": "a1", "name": "x"}], "@odata.nextLink": evil})
    fake.fail("accounts", 200, headers={"Content-Type": "application/json"}, body=body)
    with pytest.raises(SourceRefused, match="outside"):
        read(make_source, settings, 2, page_size=2)
    assert not [r for r in fake.requests if r.url.host == "evil.example"]


def _page(url: str, next_url: str | None) -> tuple[httpx.Response, pa.Buffer]:
    body = orjson.dumps({"value": [], **({"@odata.nextLink": next_url} if next_url else {})})
    return httpx.Response(200, content=body, request=httpx.Request("GET", url)), pa.py_buffer(body)


def test_a_wrong_guess_is_dropped_and_the_chain_followed_from_the_real_link():
    fetched: list[str] = []
    lock = threading.Lock()

    def fetch(key):
        with lock:
            fetched.append(key[0])
        number = int(key[0].rsplit("=", 1)[1])
        return _page(key[0], f"{ORG}/p?n={number + 1}" if number < 5 else None)

    ahead = ReadAhead(fetch, depth=2)
    ahead.follow(chain_key(f"{ORG}/p?n=1", [], None))
    first = ahead.take(chain_key(f"{ORG}/p?n=1", [], None))
    assert first is not None and first.result()[0].request.url == f"{ORG}/p?n=1"
    assert ahead.take(chain_key(f"{ORG}/p?n=9", [], None)) is None  # the page named another link
    assert ahead.hits == 1 and ahead.misses == 1
    assert ahead.take(chain_key(f"{ORG}/p?n=3", [], None)) is None  # nothing is read ahead until followed again
    ahead.follow(chain_key(f"{ORG}/p?n=3", [], None))
    assert ahead.take(chain_key(f"{ORG}/p?n=3", ["x"], None)) is None  # same link, other headers: not the same
    ahead.close()
    assert len(fetched) <= 1 + 2 + 2 + 1  # never more than depth pages beyond what was taken


def test_errors_fetching_ahead_are_handed_over_not_raised_in_the_thread():
    def fetch(key):
        raise httpx.ConnectError("refused")

    ahead = ReadAhead(fetch, depth=1)
    ahead.follow(chain_key(f"{ORG}/p?n=1", [], None))
    item = ahead.take(chain_key(f"{ORG}/p?n=1", [], None))
    assert item is not None
    with pytest.raises(httpx.ConnectError):
        item.result()
    ahead.close()
