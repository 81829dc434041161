"""Paging, cursors, change tracking, deletes, watermarks, and metadata caching against the fake org."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from decimal import Decimal

import pyarrow as pa
import pytest

from flowservice.domain.catalogue import DATA_LAKE_SPEC_ID, DYNAMICS_SPEC_ID
from flowservice.domain.errors import InvalidRequest, SourceRefused
from flowservice.ports import EXPLORING
from flowservice.sources.dynamics import DynamicsSourceFactory, invalidate

from .fake_dataverse import ORG, Attr, Table, account_row


def rows(pages) -> list[dict]:
    return [r for p in pages for r in p.batch.to_pylist()]


def test_lists_readable_tables_with_entity_sets_and_change_tracking(source):
    tables = {t.name: t for t in source.list_tables()}
    # private and virtual tables are not listed; the option-set metadata table always is
    assert set(tables) == {"account", "contact", "note", "optionsetmetadata"}
    assert tables["account"].entity_set == "accounts"
    assert tables["account"].primary_key == "accountid"
    assert tables["account"].change_tracking and not tables["contact"].change_tracking
    assert tables["account"].display_name == "Account"


def test_initial_read_pages_with_resumable_cursors_and_ends_with_a_delta_link(source, fake):
    pages = list(source.read("account", ["name"], None, page_size=2))
    assert [p.batch.num_rows for p in pages] == [2, 2, 1]
    assert [p.final for p in pages] == [False, False, True]
    assert all(p.cursor["mode"] == "changes" for p in pages)
    assert "next_link" in pages[0].cursor and "delta_link" in pages[-1].cursor
    assert pages[0].batch.schema.names == ["accountid", "name"]
    assert all(p.bytes_read > 0 and not p.full_resync for p in pages)
    prefer = fake.api_requests("accounts")[0].headers["Prefer"]
    assert "odata.track-changes" in prefer and "odata.maxpagesize=2" in prefer


def test_next_links_are_followed_verbatim_with_the_same_page_size(source, fake):
    pages = list(source.read("account", ["name"], None, page_size=2))
    calls = fake.api_requests("accounts")
    assert str(calls[1].url) == pages[0].cursor["next_link"]
    assert all("odata.maxpagesize=2" in c.headers["Prefer"] for c in calls)


def test_a_read_resumes_after_the_last_committed_page(make_source, fake):
    first = make_source()
    iterator = first.read("account", ["name"], None, page_size=2)
    committed = next(iterator)  # crash after the first page was committed
    first.close()
    resumed = list(make_source().read("account", ["name"], committed.cursor, page_size=5000))
    names = [r["name"] for r in committed.batch.to_pylist() + rows(resumed)]
    assert sorted(names) == [f"Account {i}" for i in range(1, 6)]
    assert "odata.maxpagesize=2" in fake.api_requests("accounts")[-1].headers["Prefer"]  # the chain's own size


def test_reading_is_lazy_one_page_in_memory_at_a_time_without_read_ahead(make_source, settings, fake):
    source = make_source(settings_=dataclasses.replace(settings, read_ahead_pages=0))
    source.describe("account")
    before = len(fake.api_requests("accounts"))
    iterator = source.read("account", None, None, page_size=1)
    next(iterator)
    time.sleep(0.2)
    assert len(fake.api_requests("accounts")) == before + 1
    source.close()


def test_reading_ahead_fetches_at_most_read_ahead_pages_beyond_the_one_being_converted(make_source, settings, fake):
    source = make_source(settings_=dataclasses.replace(settings, read_ahead_pages=2))
    source.describe("account")
    before = len(fake.api_requests("accounts"))
    iterator = source.read("account", None, None, page_size=1)
    next(iterator)  # the consumer stalls on the first page
    deadline = time.monotonic() + 5
    while len(fake.api_requests("accounts")) < before + 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert len(fake.api_requests("accounts")) == before + 3
    pages = [next(iterator) for _ in range(4)]
    assert [p.batch.num_rows for p in pages] == [1, 1, 1, 1] and pages[-1].final
    iterator.close()
    source.close()


def test_incremental_read_returns_upserts_and_deletes_then_a_new_delta_link(source, fake):
    final = list(source.read("account", ["name"], None))[-1]
    fake.upsert("account", account_row(2, name="Renamed"))
    fake.upsert("account", account_row(9))
    fake.delete("account", account_row(3)["accountid"])
    pages = list(source.read("account", ["name"], final.cursor))
    assert {r["name"] for r in rows(pages)} == {"Renamed", "Account 9"}
    assert [k for p in pages for k in p.deleted_keys] == ["00000003-0000-4000-8000-0000000000aa"]
    assert pages[-1].final and pages[-1].cursor["delta_link"] != final.cursor["delta_link"]
    assert not any(p.full_resync for p in pages)
    again = list(source.read("account", ["name"], pages[-1].cursor))
    assert rows(again) == [] and again[-1].deleted_keys == [] and again[-1].final


def test_an_expired_delta_token_restarts_a_full_read_flagged_full_resync(source, fake, caplog):
    final = list(source.read("account", ["name"], None))[-1]
    fake.oldest_delta_version = fake.current_version + 1
    pages = list(source.read("account", ["name"], final.cursor, page_size=2))
    assert all(p.full_resync for p in pages)
    assert len(rows(pages)) == 5
    assert "delta_link" in pages[-1].cursor
    assert pages[0].cursor.get("full_resync") is True  # a crash mid-resync resumes still flagged
    resumed = list(source.read("account", ["name"], pages[0].cursor, page_size=2))
    assert all(p.full_resync for p in resumed)
    assert "expired" in caplog.text


def test_tables_without_change_tracking_use_an_inclusive_modifiedon_watermark(source, fake):
    fake.add_table(
        Table(
            "lead",
            "leads",
            "leadid",
            [
                Attr("leadid", "UniqueidentifierType"),
                Attr("subject", "StringType"),
                Attr("modifiedon", "DateTimeType", {"DateTimeBehavior": {"Value": "UserLocal"}}),
            ],
            change_tracking=False,
        )
    )
    for i, when in enumerate(["2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z", "2024-05-02T08:30:00Z"]):
        fake.upsert("lead", {"leadid": f"l{i}", "subject": f"s{i}", "modifiedon": when})
    pages = list(source.read("lead", ["subject"], None))
    assert pages[-1].cursor == {"mode": "watermark", "column": "modifiedon", "value": "2024-05-02T08:30:00Z"}
    assert pages[0].batch.schema.names == ["leadid", "subject"]  # the watermark column is not forced on callers
    first_query = fake.api_requests("leads")[0].url.params
    assert first_query["$orderby"] == "modifiedon asc,leadid asc" and "$filter" not in first_query
    fake.upsert("lead", {"leadid": "l3", "subject": "same second", "modifiedon": "2024-05-02T08:30:00Z"})
    fake.upsert("lead", {"leadid": "l4", "subject": "later", "modifiedon": "2024-05-03T00:00:00Z"})
    nxt = list(source.read("lead", ["subject"], pages[-1].cursor))
    assert fake.api_requests("leads")[-1].url.params["$filter"] == "modifiedon ge 2024-05-02T08:30:00Z"
    assert {r["leadid"] for r in rows(nxt)} == {"l2", "l3", "l4"}  # inclusive: ties are never lost
    assert nxt[-1].cursor["value"] == "2024-05-03T00:00:00Z"


def test_watermark_lookback_widens_the_window(make_source, fake, settings):
    src = make_source(settings_=dataclasses.replace(settings, watermark_lookback_seconds=90))
    list(src.read("contact", None, {"mode": "watermark", "column": "modifiedon", "value": "2024-05-02T08:30:00Z"}))
    assert fake.api_requests("contacts")[-1].url.params["$filter"] == "modifiedon ge 2024-05-02T08:28:30Z"


def test_an_explicit_delta_column_must_exist(source):
    with pytest.raises(InvalidRequest, match="lastseen"):
        list(source.read("contact", None, None, delta_column="lastseen"))


def test_tables_without_tracking_or_date_column_are_reread_in_full_and_flagged(source, fake):
    fake.upsert("note", {"noteid": "n1", "subject": "a"})
    first = list(source.read("note", None, None))
    assert first[-1].cursor == {"mode": "full"} and not first[-1].full_resync
    second = list(source.read("note", None, first[-1].cursor))
    assert second[-1].full_resync and rows(second) == [{"noteid": "n1", "subject": "a"}]


def test_preview_returns_a_typed_table_of_count_rows(source, fake):
    table = source.preview("account", None, 3)
    assert isinstance(table, pa.Table) and table.num_rows == 3
    assert table.schema == source.describe("account").arrow_schema()
    assert fake.api_requests("accounts")[-1].url.params["$top"] == "3"
    first = table.to_pylist()[0]
    assert first["revenue"] == Decimal("922337203685477.1234")
    assert first["foundedon"] == dt.date(1999, 12, 31)
    assert first["_ownerid_value_lookuplogicalname"] == "team"


def test_lookup_annotations_are_requested_only_when_a_companion_column_is_read(source, fake):
    list(source.read("account", ["name"], None))
    assert "include-annotations" not in fake.api_requests("accounts")[-1].headers["Prefer"]
    list(source.read("account", ["_customerid_value_lookuplogicalname"], None))
    last = fake.api_requests("accounts")[-1]
    assert "lookuplogicalname" in last.headers["Prefer"]
    assert last.url.params["$select"] == "accountid,_customerid_value"


def test_unknown_columns_are_an_invalid_request(source):
    with pytest.raises(InvalidRequest, match="nope"):
        list(source.read("account", ["name", "nope"], None))


def test_elastic_tables_page_at_most_500(source, fake):
    fake.add_table(Table("event", "events", "eventid", [Attr("eventid", "UniqueidentifierType")], table_type="Elastic"))
    list(source.read("event", None, None, page_size=5000))
    assert "odata.maxpagesize=500" in fake.api_requests("events")[-1].headers["Prefer"]


def test_links_leaving_the_organization_are_refused(source):
    cursor = {"mode": "changes", "delta_link": "https://attacker.example/api/data/v9.2/accounts?$deltatoken=1"}
    with pytest.raises(SourceRefused, match="outside"):
        list(source.read("account", None, cursor))


def test_metadata_is_cached_per_connection_across_sources_until_invalidated(make_source, fake):
    list(make_source().list_tables())
    make_source().describe("account")
    metadata_calls = len(fake.api_requests("EntityDefinitions"))
    second = make_source()
    assert [t.name for t in second.list_tables()] == ["account", "contact", "note", "optionsetmetadata"]
    second.describe("account")
    assert len(fake.api_requests("EntityDefinitions")) == metadata_calls
    invalidate(second.connection_key)
    make_source().describe("account")
    assert len(fake.api_requests("EntityDefinitions")) > metadata_calls


def test_metadata_cache_expires_after_its_ttl(make_source, fake, settings):
    short = dataclasses.replace(settings, metadata_ttl_seconds=0)
    list(make_source(settings_=short).list_tables())
    list(make_source(settings_=short).list_tables())
    assert len(fake.api_requests("EntityDefinitions?")) == 2


def test_an_explores_client_takes_cached_metadata_only_while_it_is_younger_than_the_explore_age(
    make_source, fake, settings
):
    exploring = {EXPLORING: True}
    make_source().describe("account")  # cached now, for the TTL (15 minutes)
    calls = len(fake.api_requests("EntityDefinitions"))
    make_source(**exploring).describe("account")  # within the explore age (a minute): one screen's calls share it
    assert len(fake.api_requests("EntityDefinitions")) == calls
    now = dataclasses.replace(settings, explore_metadata_seconds=0)
    make_source(settings_=now, **exploring).describe("account")
    list(make_source(settings_=now, **exploring).list_tables())
    assert len(fake.api_requests("EntityDefinitions")) > calls + 1  # the table and the list read again
    calls = len(fake.api_requests("EntityDefinitions"))
    make_source(settings_=now).describe("account")  # any other client still takes the cache
    assert len(fake.api_requests("EntityDefinitions")) == calls


def test_factory_routes_auth_specs_and_invalidates_by_connection_id(settings, fake):
    factory = DynamicsSourceFactory(settings)
    params = {
        "serviceUri": ORG,
        "servicePrincipalId": "b0b0b0b0-1111-4222-8333-444444444444",
        "servicePrincipalKey": "s3cr3t~Key.Value",
        "_connectionId": "conn-1",
    }
    src = factory(DYNAMICS_SPEC_ID, "Service Principal Key Based Authentication", params)
    assert src.connection_key.startswith("conn-1:")
    src.describe("account")
    calls = len(fake.api_requests("EntityDefinitions"))
    factory.invalidate("conn-1")
    factory(DYNAMICS_SPEC_ID, "Service Principal Key Based Authentication", params).describe("account")
    assert len(fake.api_requests("EntityDefinitions")) > calls
    with pytest.raises(InvalidRequest):
        factory(DYNAMICS_SPEC_ID, "Basic Authentication for Dynamics-Online", {"serviceUri": ORG})
    with pytest.raises(InvalidRequest):
        factory(DATA_LAKE_SPEC_ID, "Basic Authentication for Dynamics-Online", params)


def test_changed_credentials_get_a_different_cache_key(make_source):
    assert make_source().connection_key != make_source(password="other").connection_key


def test_a_column_metadata_lists_but_the_web_api_lacks_reads_as_null_and_is_not_asked_again(source, fake, caplog):
    table = fake.tables["account"]
    table.attrs.append(Attr("ghostcolumn", "StringType"))
    table.not_in_web_api.add("ghostcolumn")
    pages = list(source.read("account", ["name", "ghostcolumn"], None))
    assert [r["ghostcolumn"] for r in rows(pages)] == [None] * 5
    assert "ghostcolumn" in caplog.text
    before = len(fake.api_requests("accounts"))
    assert source.preview("account", None, 2).column("ghostcolumn").to_pylist() == [None, None]
    assert len(fake.api_requests("accounts")) == before + 1
    assert "ghostcolumn" not in fake.api_requests("accounts")[-1].url.params["$select"]


def test_the_primary_key_is_never_dropped_from_select(source, fake):
    fake.tables["account"].not_in_web_api.add("accountid")
    with pytest.raises(SourceRefused, match="accountid"):
        list(source.read("account", ["name"], None))
