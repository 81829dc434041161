"""Dynamics-specific behaviour against the shared emulator over HTTPS: auth flows, the fault plan, typing.

Read-only: faults are installed for one test at a time with ``emulator.faults(...)``.
"""

from __future__ import annotations

import datetime as dt
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from flowservice.domain.errors import SourceAuthError, SourceRefused, SourceUnavailable
from flowservice.sources.dynamics import DynamicsSettings, DynamicsSource, clear_caches

from .dynamics_helpers import basic_source, principal_source, settings_for

PAGE: dict[str, Any] = {"page_size": 100}


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def account_ids(source: DynamicsSource, cursor: dict[str, Any] | None = None, **kwargs: Any) -> list[str]:
    return [
        k
        for p in source.read("account", ["accountid"], cursor, **{**PAGE, **kwargs})
        for k in p.batch.column("accountid").to_pylist()
    ]


def test_service_principal_reads_the_same_rows_as_basic_auth(emulator):
    assert sorted(account_ids(principal_source(emulator))) == sorted(account_ids(basic_source(emulator)))


def test_a_wrong_client_secret_names_the_entra_error_without_the_secret(emulator):
    with pytest.raises(SourceAuthError) as caught:
        principal_source(emulator, secret="Wr0ng-S3cret!").check()
    assert "AADSTS" in caught.value.message and "Wr0ng-S3cret!" not in caught.value.message


def test_the_emulator_authority_is_refused_unless_the_operator_allows_it(emulator):
    before = emulator.stats()["by_kind"]
    source = basic_source(emulator, authority_hosts_extra=())
    with pytest.raises(SourceRefused, match="not an allowed Entra ID login host"):
        source.check()
    after = emulator.stats()["by_kind"]
    assert after.get("identity", 0) == before.get("identity", 0), "Entra ID was contacted despite the refusal"


def test_an_untrusted_certificate_is_refused_not_retried_and_never_bypassed(emulator):
    with pytest.raises(SourceRefused, match="not trusted"):
        basic_source(emulator, ca_bundle=None).check()


def test_private_addresses_are_refused_by_default(emulator):
    with pytest.raises(SourceRefused, match="loopback"):
        basic_source(emulator, allow_private_addresses=False).check()


def test_who_am_i_dop_hint_bounds_concurrency(emulator):
    source = basic_source(emulator)
    source.check()
    assert source._session().limiter.limit <= 4


def test_a_revoked_token_is_refreshed_once_and_the_read_completes(emulator):
    source = basic_source(emulator)
    expected = account_ids(source)
    with emulator.faults([{"kind": "token_expiry", "table": "account", "revoke": True, "count": 1}]):
        assert account_ids(source) == expected


def test_throttling_unavailability_and_server_errors_are_absorbed(emulator):
    source = basic_source(emulator)
    expected = account_ids(source)
    rules = [
        {"kind": "throttle", "table": "account", "count": 1, "retry_after": 1, "limit": "concurrency"},
        {"kind": "unavailable", "table": "account", "nth": 2, "count": 1, "retry_after": 0},
        {"kind": "server_error", "table": "account", "nth": 3, "count": 1, "status": 502},
    ]
    with emulator.faults(rules):
        assert account_ids(source) == expected
        fired = emulator.stats()["faults_by_kind"]
    assert fired.get("throttle") and fired.get("unavailable") and fired.get("server_error")


def test_a_connection_cut_mid_page_is_retried_without_losing_or_duplicating_rows(emulator):
    source = basic_source(emulator)
    expected = account_ids(source)
    with emulator.faults([{"kind": "reset", "table": "account", "nth": 2, "count": 2, "after_bytes": 1500}]):
        assert account_ids(source) == expected


def test_a_slow_page_beyond_the_read_timeout_is_retried(emulator):
    source = basic_source(emulator, read_timeout=0.5)
    expected = account_ids(source)
    with emulator.faults([{"kind": "slow", "table": "account", "count": 1, "delay_ms": 1500}]):
        assert account_ids(source) == expected


def test_an_outage_beyond_the_retry_budget_is_reported_as_unavailable(emulator):
    source = basic_source(emulator, max_retries=2)
    source.check()
    with (
        emulator.faults([{"kind": "unavailable", "table": "account", "count": None, "retry_after": 0}]),
        pytest.raises(SourceUnavailable, match="org is not available"),
    ):
        account_ids(source)


def test_an_expired_delta_token_restarts_a_full_read_flagged_full_resync(emulator):
    source = basic_source(emulator)
    pages = list(source.read("account", ["accountid"], None, **PAGE))
    with emulator.faults([{"kind": "expired_delta_token", "table": "account", "count": 1}]):
        again = list(source.read("account", ["accountid"], pages[-1].cursor, **PAGE))
    assert all(p.full_resync for p in again)
    assert sum(p.batch.num_rows for p in again) == sum(p.batch.num_rows for p in pages)
    assert "delta_link" in again[-1].cursor


def test_describe_maps_account_metadata_deliberately(emulator):
    source = basic_source(emulator)
    schema = source.describe("account")
    columns = {c.name: c for c in schema.columns}
    assert len(columns) >= 80
    assert columns["accountid"].is_primary_key
    assert columns["revenue"].arrow_type == pa.decimal128(38, 4)
    assert columns["cr6f1_foundedon"].arrow_type == pa.date32()
    assert columns["modifiedon"].arrow_type == pa.timestamp("us", tz="UTC")
    assert columns["cr6f1_servicelines"].original_type == "MultiSelectPicklistType"
    assert columns["_ownerid_value"].xdm == {"type": "string", "format": "uuid"}
    assert "_ownerid_value_lookuplogicalname" in columns
    assert "_primarycontactid_value" in columns and "primarycontactid" not in columns
    omitted = dict(source.omitted_columns("account"))
    assert "owneridname" in omitted and "entityimage" in omitted
    assert {"entityimage_url", "entityimage_timestamp", "entityimageid"} <= set(columns)


def test_rows_arrive_typed_with_dates_decimals_guids_and_lookup_targets(emulator):
    source = basic_source(emulator)
    table = pa.Table.from_batches([p.batch for p in source.read("account", None, None, page_size=5000)])
    rows = table.to_pylist()
    assert all(isinstance(r["cr6f1_foundedon"], dt.date | None) for r in rows)
    assert any(isinstance(r["revenue"], Decimal) for r in rows)
    assert all(r["accountid"] == r["accountid"].lower() for r in rows)
    assert {r["_ownerid_value_lookuplogicalname"] for r in rows if r["_ownerid_value"]} <= {"systemuser", "team"}
    assert table.column("accountid").null_count == 0


def test_tables_without_change_tracking_read_by_an_inclusive_modifiedon_watermark(emulator):
    source = basic_source(emulator)
    info = next(t for t in source.list_tables() if t.name == "cr6f1_project")
    assert not info.change_tracking
    pages = list(source.read("cr6f1_project", None, None))
    final = pages[-1].cursor
    assert final["mode"] == "watermark" and final["column"] == "modifiedon" and final["value"]
    again = list(source.read("cr6f1_project", None, final))
    latest = max(r["modifiedon"] for p in pages for r in p.batch.to_pylist())
    assert again and all(r["modifiedon"] >= latest for p in again for r in p.batch.to_pylist())
    assert sum(p.batch.num_rows for p in again) >= 1  # the boundary row is re-read (inclusive), never lost


def test_every_listed_table_can_be_described(emulator):
    source = basic_source(emulator)
    for info in source.list_tables():
        schema = source.describe(info.name)
        assert schema.columns[0].is_primary_key, info.name


def test_settings_from_the_product_reach_the_emulator(emulator):
    settings = DynamicsSettings(
        authority_hosts_extra=(emulator.authority_host.upper(),),
        ca_bundle=emulator.ca_file,
        allow_private_addresses=True,
    )
    assert settings.authority_hosts >= {emulator.authority_host.lower()}
    DynamicsSource(
        {
            "serviceUri": emulator.org_url,
            "servicePrincipalId": emulator.client_id,
            "servicePrincipalKey": emulator.client_secret,
        },
        auth_kind="service_principal",
        settings=settings,
    ).check()
    assert settings_for(emulator).max_concurrency <= 52


def test_reading_holds_about_one_page_in_memory_whatever_the_table_size(emulator):
    source = basic_source(emulator)
    list(source.read("contact", None, None, page_size=50))  # warm: token, metadata, connection

    def peak(pages: int) -> tuple[int, int]:
        tracemalloc.start()
        read = 0
        for read, page in enumerate(source.read("contact", None, None, page_size=50), 1):
            del page
            if read == pages:
                break
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return read, top

    few_pages, few = peak(2)
    all_pages, everything = peak(10**6)
    assert all_pages >= 10 * few_pages
    assert everything < 2 * few, f"peak grew from {few} to {everything} bytes over {all_pages} pages"
