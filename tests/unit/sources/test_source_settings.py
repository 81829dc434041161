"""The Dynamics source reads its own settings from the environment variables the README documents, under the
same names as when they were fields of the product settings."""

from __future__ import annotations

import pytest

from flowservice.sources import dynamics
from flowservice.sources.registry import SourceRegistry

ENVIRONMENT = {
    "FLOWSERVICE_DYNAMICS_AUTHORITY_HOSTS": " 127.0.0.1:8443, Login.Example.org ",
    "FLOWSERVICE_DYNAMICS_CA_BUNDLE": "/etc/ssl/private-ca.pem",
    "FLOWSERVICE_DYNAMICS_ALLOW_PRIVATE_ADDRESSES": "true",
    "FLOWSERVICE_DYNAMICS_PUBLIC_CLIENT_ID": "my-public-client",
    "FLOWSERVICE_METADATA_TTL_SECONDS": "61",
    "FLOWSERVICE_DYNAMICS_MAX_PAGE_BYTES": "1001",
    "FLOWSERVICE_DYNAMICS_MAX_METADATA_BYTES": "1002",
    "FLOWSERVICE_DYNAMICS_MAX_AUTH_BYTES": "1003",
    "FLOWSERVICE_DYNAMICS_MAX_ERROR_BYTES": "1004",
    "FLOWSERVICE_DYNAMICS_CALL_DEADLINE_SECONDS": "11",
    "FLOWSERVICE_DYNAMICS_TOKEN_DEADLINE_SECONDS": "12",
    "FLOWSERVICE_DYNAMICS_MAX_RETRY_AFTER_SECONDS": "13",
    "FLOWSERVICE_DYNAMICS_MAX_RETRY_WAIT_SECONDS": "14",
    "FLOWSERVICE_DYNAMICS_CACHED_CONNECTIONS": "15",
    "FLOWSERVICE_DYNAMICS_CONNECTION_IDLE_SECONDS": "16",
    "FLOWSERVICE_WATERMARK_OVERLAP_SECONDS": "17",
    "FLOWSERVICE_DYNAMICS_PARTITION_MIN_ROWS": "18",
    "FLOWSERVICE_DYNAMICS_PARTITION_CONCURRENCY": "19",
    "FLOWSERVICE_DYNAMICS_PARTITION_PAGES_IN_FLIGHT": "20",
    "FLOWSERVICE_DYNAMICS_PARTITION_PAGE_ROWS": "21",
    "FLOWSERVICE_DYNAMICS_PARTITION_RETRIES": "22",
    "FLOWSERVICE_DYNAMICS_PARTITION_BELOW_ROWS_PER_SECOND": "23.5",
}


def test_every_documented_variable_reaches_the_settings_of_the_registered_dynamics_factory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    factory = SourceRegistry().factory().factories[dynamics.DYNAMICS_SPEC_ID]
    assert isinstance(factory, dynamics.DynamicsSourceFactory)
    assert factory.settings == dynamics.DynamicsSettings(
        authority_hosts_extra=("127.0.0.1:8443", "login.example.org"),
        ca_bundle="/etc/ssl/private-ca.pem",
        allow_private_addresses=True,
        public_client_id="my-public-client",
        metadata_ttl_seconds=61,
        max_page_bytes=1001,
        max_metadata_bytes=1002,
        max_auth_bytes=1003,
        max_error_bytes=1004,
        call_deadline_seconds=11,
        token_deadline_seconds=12,
        max_retry_after=13,
        max_retry_wait_seconds=14,
        cached_connections=15,
        connection_idle_seconds=16,
        watermark_lookback_seconds=17,
        partition_min_rows=18,
        partition_concurrency=19,
        partition_pages_in_flight=20,
        partition_page_rows=21,
        partition_retries=22,
        partition_below_rows_per_second=23.5,
    )


def test_without_the_variables_the_defaults_are_the_former_product_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    settings = dynamics.DynamicsEnvironment().source_settings()
    assert settings == dynamics.DynamicsSettings(metadata_ttl_seconds=900, watermark_lookback_seconds=300)


def test_the_dynamics_prefix_does_not_rename_the_two_older_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSERVICE_DYNAMICS_METADATA_TTL_SECONDS", "5")
    monkeypatch.setenv("FLOWSERVICE_DYNAMICS_WATERMARK_OVERLAP_SECONDS", "5")
    monkeypatch.delenv("FLOWSERVICE_METADATA_TTL_SECONDS", raising=False)
    monkeypatch.delenv("FLOWSERVICE_WATERMARK_OVERLAP_SECONDS", raising=False)
    environment = dynamics.DynamicsEnvironment()
    assert (environment.metadata_ttl_seconds, environment.watermark_overlap_seconds) == (900, 300)
