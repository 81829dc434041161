"""``crm-emulator dynamics``: run a local Dynamics 365 org over HTTPS and publish how to reach it.

Once the server listens, ``{data_dir}/emulator.json`` is written atomically with the org URL, the authority,
the CA file and the demo credentials; tests and the product's demo start the emulator as a subprocess and wait
for that file. SIGTERM / SIGINT shut it down cleanly (uvicorn's handlers) and remove the file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvicorn

from crm_emulator import tls
from crm_emulator.app import ConnectionCut, create_app
from crm_emulator.config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_TENANT_ID,
    DEFAULT_USERNAME,
    EmulatorConfig,
)
from crm_emulator.cost import DEFAULT_FIXED_MS, DEFAULT_PER_COLUMN_US, DEFAULT_PER_ROW_US, CostModel
from crm_emulator.data import OrgData
from crm_emulator.memory import MIB, keep_freed_memory, prefault
from crm_emulator.protection import REFERENCE_WINDOW_SECONDS, Limits
from crm_emulator.realm import bind_realm_socket, serve_realm

log = logging.getLogger("crm_emulator")


def load_faults(spec: str | None) -> list[dict[str, Any]]:
    if not spec:
        return []
    text = Path(spec[1:]).read_text() if spec.startswith("@") else spec
    data = json.loads(text)
    rules = data.get("rules", []) if isinstance(data, dict) else data
    if not isinstance(rules, list):
        raise SystemExit('--faults: expected a JSON list of rules or {"rules": [...]}')
    return rules


def prerender_tables(data: OrgData, spec: str) -> list[str]:
    """``--prerender`` names (logical or entity-set, or ``all``) as logical names of tables with rows."""
    with_rows = [name for name, rows in data.rows.items() if rows.count]
    if spec == "all":
        return with_rows
    out = []
    for name in filter(None, (part.strip() for part in spec.split(","))):
        table = data.catalog.by_logical.get(name) or data.catalog.by_set.get(name)
        if table is None or table.logical_name not in with_rows:
            raise SystemExit(f"--prerender: {name!r} is not a table with rows ({', '.join(with_rows)})")
        out.append(table.logical_name)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm-emulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    dyn = sub.add_parser("dynamics", help="run a Dynamics 365 / Dataverse org with its Entra ID endpoints")
    dyn.add_argument("--host", default="127.0.0.1")
    dyn.add_argument("--port", type=int, default=8443, help="0 picks any free port")
    dyn.add_argument("--data-dir", type=Path, default=None, help="default: a new temporary directory")
    dyn.add_argument("--scale", type=int, default=1000, help="number of accounts (contacts ≈ 2×)")
    dyn.add_argument("--seed", type=int, default=1)
    dyn.add_argument("--faults", default=None, help="fault rules as JSON, or @file")
    dyn.add_argument("--latency", type=int, default=0, help="milliseconds added to each collection page")
    dyn.add_argument("--no-tls", action="store_true", help="serve plain HTTP (benchmarks)")
    dyn.add_argument("--token-lifetime", type=int, default=3599, help="access token lifetime in seconds")
    dyn.add_argument("--username", default=DEFAULT_USERNAME)
    dyn.add_argument("--password", default=DEFAULT_PASSWORD)
    dyn.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    dyn.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    dyn.add_argument("--tenant-id", default=DEFAULT_TENANT_ID)
    dyn.add_argument("--max-concurrency", type=int, default=52, help="concurrent requests per user (429 beyond)")
    dyn.add_argument("--cache-mb", type=int, default=256, help="memory for rendered rows (0 disables)")
    dyn.add_argument(
        "--prerender",
        nargs="?",
        const="all",
        default=None,
        metavar="TABLES",
        help="before reporting ready, render these tables (comma-separated; default all) into the data dir, "
        "so first reads are file reads; kept across restarts with the same seed and scale",
    )
    dyn.add_argument(
        "--realm-port",
        type=int,
        default=443,
        help="port of the user-realm responder MSAL needs (0 disables); see docs/emulator.md",
    )
    realism = dyn.add_argument_group("a real org's costs and limits (docs/emulator.md)")
    realism.add_argument(
        "--cost-model",
        action="store_true",
        help="spend server execution time per request: fixed + rows × (per row + per column × columns)",
    )
    realism.add_argument(
        "--cost-fixed-ms", type=float, default=None, help=f"per operation (default {DEFAULT_FIXED_MS:g})"
    )
    realism.add_argument(
        "--cost-per-row-us", type=float, default=None, help=f"per row (default {DEFAULT_PER_ROW_US:g})"
    )
    realism.add_argument(
        "--cost-per-column-us", type=float, default=None, help=f"per row and column (default {DEFAULT_PER_COLUMN_US:g})"
    )
    realism.add_argument(
        "--service-protection",
        action="store_true",
        help="enforce 6,000 requests / 1,200 s execution time per 5 minutes and --max-concurrency, "
        "per user and web server",
    )
    realism.add_argument(
        "--protection-window-seconds",
        type=float,
        default=None,
        help=f"shorten the {REFERENCE_WINDOW_SECONDS:g} s window (budgets scale in proportion); "
        "implies --service-protection",
    )
    realism.add_argument("--web-servers", type=int, default=2, help="web servers behind the affinity cookie")
    realism.add_argument("--dop-hint", type=int, default=4, help="the x-ms-dop-hint header's value")
    realism.add_argument(
        "--random-guids", action="store_true", help="random-looking primary keys (SQL Server order ≠ string order)"
    )
    semantics = dyn.add_argument_group("CRM semantics (docs/emulator.md)")
    semantics.add_argument(
        "--crm-semantics",
        action="store_true",
        help="labels in two languages, global option sets, the organizations row",
    )
    semantics.add_argument(
        "--languages", default="1033,1031", help="provisioned language codes with --crm-semantics, base first"
    )
    tables = dyn.add_argument_group("Opt-in tables (docs/emulator.md)")
    tables.add_argument(
        "--wide-table", action="store_true", help="cr6f1_widerecord: 1,200 columns, a $select longer than a GET allows"
    )
    tables.add_argument(
        "--activity-tables",
        action="store_true",
        help="rows in accountleads (intersect), activitypointer and activityparty (party lists)",
    )
    dyn.add_argument("--log-level", default="warning")
    return parser


def cost_model(args: argparse.Namespace) -> CostModel | None:
    parts = (args.cost_fixed_ms, args.cost_per_row_us, args.cost_per_column_us)
    if not args.cost_model and all(p is None for p in parts):
        return None
    return CostModel(
        DEFAULT_FIXED_MS if args.cost_fixed_ms is None else args.cost_fixed_ms,
        DEFAULT_PER_ROW_US if args.cost_per_row_us is None else args.cost_per_row_us,
        DEFAULT_PER_COLUMN_US if args.cost_per_column_us is None else args.cost_per_column_us,
    )


def protection(args: argparse.Namespace) -> Limits | None:
    if not args.service_protection and args.protection_window_seconds is None:
        return None
    window = REFERENCE_WINDOW_SECONDS if args.protection_window_seconds is None else args.protection_window_seconds
    return Limits.scaled(window, args.max_concurrency)


class _HideResets(logging.Filter):
    """The ``reset`` fault cuts connections on purpose; keep uvicorn from logging it as an app crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, ConnectionCut):
                return False
            exc = (
                exc.__cause__ or exc.__context__ or (exc.exceptions[0] if isinstance(exc, BaseExceptionGroup) else None)
            )
        return True


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".emulator-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


async def run(args: argparse.Namespace) -> int:
    data_dir: Path = (args.data_dir or Path(tempfile.mkdtemp(prefix="crm-emulator-"))).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    info_path = data_dir / "emulator.json"
    info_path.unlink(missing_ok=True)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)
    port = sock.getsockname()[1]
    scheme = "http" if args.no_tls else "https"
    host_text = f"[{args.host}]" if ":" in args.host else args.host
    org_url = f"{scheme}://{host_text}:{port}"
    config = EmulatorConfig(
        org_url=org_url,
        data_dir=data_dir,
        scale=args.scale,
        seed=args.seed,
        tenant_id=args.tenant_id.lower(),
        client_id=args.client_id.lower(),
        client_secret=args.client_secret,
        username=args.username,
        password=args.password,
        token_lifetime=args.token_lifetime,
        latency_ms=args.latency,
        faults=load_faults(args.faults),
        max_concurrency=args.max_concurrency,
        dop_hint=args.dop_hint,
        cost_model=cost_model(args),
        protection=protection(args),
        web_servers=args.web_servers,
        random_guids=args.random_guids,
        crm_semantics=args.crm_semantics,
        languages=tuple(int(code) for code in args.languages.split(",") if code.strip()),
        extra_tables=frozenset(
            group for group, on in (("wide", args.wide_table), ("activities", args.activity_tables)) if on
        ),
    )
    app = create_app(config, cache_mb=args.cache_mb)
    data = app.emulator.data
    if args.prerender:
        data.prerender_tables(prerender_tables(data, args.prerender))
    budget = args.cache_mb * MIB
    prefault(min(budget, data.rendered_size()), budget)
    ssl_files: dict[str, Any] = {}
    ca_file = ""
    realm_server = None
    if not args.no_tls:
        ca_cert, ca_key = tls.ensure_ca(data_dir)
        cert, key = tls.issue_server_cert(ca_cert, ca_key, data_dir, [args.host])
        ssl_files = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        realm_ca, realm_key = tls.ensure_ca(tls.shared_realm_dir(), "crm_emulator user-realm CA")
        ca_file = str(tls.write_bundle(data_dir / "ca-bundle.pem", ca_cert, realm_ca))
        if args.realm_port and args.realm_port != port:
            realm_sock = bind_realm_socket(args.host, args.realm_port)
            if realm_sock is not None:
                rcert, rkey = tls.issue_server_cert(realm_ca, realm_key, data_dir, [args.host], stem="realm")
                realm_server = await serve_realm(realm_sock, str(rcert), str(rkey))
    uv_config = uvicorn.Config(
        app,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        http="httptools",
        loop="uvloop",
        lifespan="off",
        **ssl_files,
    )
    server = uvicorn.Server(uv_config)
    logging.getLogger("uvicorn.error").addFilter(_HideResets())
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            await serving
            return 1
        await asyncio.sleep(0.02)
    info = {
        "org_url": org_url,
        "api_url": config.api_url,
        "authority": config.authority,
        "authority_host": config.authority_host,
        "tenant_id": config.tenant_id,
        "ca_file": ca_file,
        "username": config.username,
        "password": config.password,
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "public_client_ids": list(config.public_client_ids),
        "pid": os.getpid(),
        "port": port,
    }
    _write_json_atomic(info_path, info)
    print(f"crm_emulator: Dynamics 365 org at {org_url}  (scale {args.scale}, seed {args.seed})", flush=True)
    print(f"  Web API      {config.api_url}", flush=True)
    print(f"  tenant id    {config.tenant_id}   authority {config.authority}", flush=True)
    print(f"  CA file      {ca_file or '(plain HTTP)'}", flush=True)
    print(f"  user         {config.username} / {config.password}", flush=True)
    print(f"  client       {config.client_id} / {config.client_secret}", flush=True)
    print(f"  public apps  {', '.join(config.public_client_ids)} (username/password grant)", flush=True)
    print(f"  details      {info_path}", flush=True)
    try:
        await serving
    finally:
        if realm_server is not None:
            realm_server.close()
        try:
            if json.loads(info_path.read_text()).get("pid") == os.getpid():
                info_path.unlink()
        except (OSError, ValueError):
            pass
        app.emulator.data.overlay.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    keep_freed_memory(args.cache_mb * MIB)
    if args.command == "dynamics":
        try:
            import uvloop  # uvicorn's fast loop; Server.serve() inside asyncio.run would not pick it up itself

            return int(uvloop.run(run(args)))
        except ImportError:
            return asyncio.run(run(args))
    return 2


if __name__ == "__main__":
    sys.exit(main())
