"""The ``flowservice`` command: serve the API, manage clients and sandboxes, run the demo, query datasets.

Errors are one clear line (``--debug`` shows the trace); ``--log-format json`` suits machines.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from flowservice.domain.errors import FlowServiceError
from flowservice.logging_setup import configure_logging
from flowservice.settings import Settings

app = typer.Typer(
    help="flowservice: a self-hostable Flow Service that lands Microsoft Dynamics 365 tables in Delta Lake.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
clients_app = typer.Typer(help="API clients (the x-api-key and secret used to get tokens).", no_args_is_help=True)
sandboxes_app = typer.Typer(help="Sandboxes: partitions of an org's resources.", no_args_is_help=True)
app.add_typer(clients_app, name="clients")
app.add_typer(sandboxes_app, name="sandboxes")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="FLOWSERVICE_DATA_DIR", help="State directory (database, keys, lake)."),
]
_state: dict[str, Any] = {"debug": False}


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    log_format: Annotated[str, typer.Option("--log-format", help="text or json")] = "text",
    log_level: Annotated[str, typer.Option("--log-level")] = "INFO",
) -> None:
    _state["debug"] = debug
    configure_logging(log_format, log_level)


def settings_for(data_dir: Path | None, **overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the Flow Service API (and the embedded scheduler and workers)."""
    import uvicorn

    from flowservice.bootstrap import build_app

    settings = settings_for(data_dir, host=host, port=port)
    application = build_app(settings)
    logging.getLogger("flowservice").info("serving on http://%s:%s (data in %s)", settings.host, settings.port,
                                          settings.data_dir)
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="warning", access_log=False)


@clients_app.command("create")
def clients_create(
    org: Annotated[str, typer.Option(help="The org id, e.g. ACME@AdobeOrg.")],
    name: Annotated[str, typer.Option(help="A label for the client.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Register an API client; prints JSON with client_id (the x-api-key) and client_secret."""
    from flowservice.bootstrap import build

    container = build(settings_for(data_dir))
    typer.echo(json.dumps(container.identity.create_client(org, name)))


@sandboxes_app.command("create")
def sandboxes_create(
    org: Annotated[str, typer.Option(help="The org id.")],
    name: Annotated[str, typer.Option(help="Lower-case sandbox name.")],
    data_dir: DataDir = None,
) -> None:
    """Create a sandbox (every org has 'prod')."""
    from flowservice.bootstrap import build

    container = build(settings_for(data_dir))
    container.identity.create_sandbox(org, name)
    typer.echo(json.dumps({"org": org, "sandbox": name}))


def main() -> None:
    try:
        app()
    except FlowServiceError as exc:
        if _state["debug"]:
            raise
        typer.secho(f"error: {exc.message}", err=True, fg="red")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if _state["debug"]:
            raise
        typer.secho(f"error: {exc} (run with --debug for the trace)", err=True, fg="red")
        sys.exit(1)
