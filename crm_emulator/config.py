"""The emulator's settings: one dataclass shared by the command line and in-process tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crm_emulator.cost import CostModel
from crm_emulator.protection import Limits

DEFAULT_TENANT_ID = "7c1f5e2a-4b8d-4c3e-9a51-2f6d8e0b9c47"
DEFAULT_CLIENT_ID = "3e9a4c1d-6b2f-4d8e-8f07-5a1c2b3d4e5f"
DEFAULT_CLIENT_SECRET = "emu~secret.Q8w2Xr5Tz9Lk3Vb7Nm1Pd4Hs6Jf0"
DEFAULT_USERNAME = "admin@crmemulator.onmicrosoft.com"
DEFAULT_PASSWORD = "Emulator-Pa55word!"
#: Microsoft's sample public client for Dataverse, present in every tenant; clients use it for the
#: username/password grant, which needs a public (secret-less) application.
MICROSOFT_SAMPLE_PUBLIC_CLIENT_ID = "51f81489-12ee-4a9e-aaae-a2591f45987d"


@dataclass
class EmulatorConfig:
    """Everything that shapes one emulated org.

    ``org_url`` is the public origin (scheme, host, port) clients use; the command line fills it in once the
    listening port is known. ``data_dir`` holds the SQLite overlay of writes, the CA and the signing key;
    ``None`` keeps all of that in memory, which is what in-process tests want.
    """

    org_url: str = "https://127.0.0.1:8443"
    data_dir: Path | None = None
    scale: int = 1000
    seed: int = 1
    tenant_id: str = DEFAULT_TENANT_ID
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    public_client_ids: tuple[str, ...] = (MICROSOFT_SAMPLE_PUBLIC_CLIENT_ID,)
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    token_lifetime: int = 3599
    latency_ms: int = 0
    faults: list[dict[str, Any]] = field(default_factory=list)
    max_concurrency: int = 52
    change_tracking_expiry_days: int = 7
    dop_hint: int = 4
    #: Server execution time per request, spent waiting (None: answer as fast as possible).
    cost_model: CostModel | None = None
    #: Service protection per user and web server (None: only the per-user ``max_concurrency`` check).
    protection: Limits | None = None
    #: Web servers behind the affinity cookie, each with its own budgets (used with ``protection``).
    web_servers: int = 2
    #: Generated primary keys look random (like NEWID()), so string order differs from SQL Server's.
    random_guids: bool = False
    #: Second label language, global option sets and the ``organizations`` row (see crm_emulator.semantics).
    crm_semantics: bool = False
    #: Provisioned languages with ``crm_semantics``, the base language first.
    languages: tuple[int, ...] = (1033, 1031)
    #: Opt-in tables with rows (crm_emulator.tables): "wide" (1,200 columns), "activities" (accountleads,
    #: activitypointer, activityparty). Empty: the org is exactly as before.
    extra_tables: frozenset[str] = frozenset()
    #: The longest URL a GET may have, and a GET inside $batch (Dataverse: 32 KB and 64 KB, reference §1.1).
    max_url_length: int = 32_768
    max_batch_url_length: int = 65_536

    def __post_init__(self) -> None:
        self.org_url = self.org_url.rstrip("/")
        if self.scale < 1:
            raise ValueError("scale must be at least 1")
        if self.web_servers < 1:
            raise ValueError("web_servers must be at least 1")

    @property
    def api_url(self) -> str:
        return self.org_url + "/api/data/v9.2/"

    @property
    def authority_host(self) -> str:
        return urlsplit(self.org_url).netloc

    @property
    def authority(self) -> str:
        return f"{self.org_url}/{self.tenant_id}"

    @property
    def domain(self) -> str:
        return self.username.rpartition("@")[2].lower()
