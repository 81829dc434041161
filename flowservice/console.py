"""Terminal views shared by the demo and ``flowservice runs watch``: live run progress and the summary table."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

FINAL = ("success", "partialSuccess", "failed")


def run_numbers(run: dict[str, Any]) -> dict[str, Any]:
    metrics = run["metrics"]
    records = metrics["recordSummary"]
    duration = metrics["durationSummary"]
    started = duration.get("startedAtUTC")
    ended = duration.get("completedAtUTC") or (time.time() * 1000 if started else None)
    seconds = max(0.001, (ended - started) / 1000) if started and ended else 0.0
    target = next((a for a in run.get("activities", []) if a["id"] == "promotionActivity"), None)
    info = (target or {}).get("targetInfo", [{}])[0]
    return {
        "status": metrics["statusSummary"]["status"],
        "read": records.get("inputRecordCount", 0),
        "written": records.get("outputRecordCount", 0),
        "deleted": records.get("deletedRecordCount", 0),
        "failed": records.get("failedRecordCount", 0),
        "seconds": seconds,
        "rate": records.get("inputRecordCount", 0) / seconds if seconds else 0.0,
        "batch": (info.get("reference") or {}).get("ids", [""])[0],
        "dataset": info.get("dataSetId", ""),
        "errors": metrics["statusSummary"].get("errors", []),
    }


def progress_table(runs: dict[str, dict[str, Any]], title: str = "Runs") -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("flow", "status", "read", "written", "deleted", "failed", "rows/s", "elapsed"):
        table.add_column(column, justify="right" if column not in ("flow", "status") else "left")
    for label, run in runs.items():
        n = run_numbers(run)
        colour = {"success": "green", "failed": "red", "partialSuccess": "yellow"}.get(n["status"], "cyan")
        table.add_row(
            label,
            f"[{colour}]{n['status']}[/]",
            f"{n['read']:,}",
            f"{n['written']:,}",
            f"{n['deleted']:,}",
            f"{n['failed']:,}",
            f"{n['rate']:,.0f}",
            f"{n['seconds']:.1f}s",
        )
    return table


def summary_table(runs: dict[str, dict[str, Any]], title: str = "Summary") -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("flow", "status", "records", "deleted", "failed", "duration", "rows/s", "dataset", "batch"):
        table.add_column(column)
    for label, run in runs.items():
        n = run_numbers(run)
        table.add_row(
            label,
            n["status"],
            f"{n['written']:,}",
            f"{n['deleted']:,}",
            f"{n['failed']:,}",
            f"{n['seconds']:.1f}s",
            f"{n['rate']:,.0f}",
            n["dataset"],
            n["batch"],
        )
    return table


def watch(
    fetch: Callable[[], dict[str, dict[str, Any]]],
    console: Console,
    *,
    interval: float = 0.5,
    timeout: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Show live progress until every run fetched is final; return the last documents."""
    deadline = time.monotonic() + timeout if timeout else None
    runs = fetch()
    with Live(progress_table(runs), console=console, refresh_per_second=4, transient=False) as live:
        while True:
            runs = fetch()
            live.update(progress_table(runs))
            if runs and all(run_numbers(r)["status"] in FINAL for r in runs.values()):
                return runs
            if deadline and time.monotonic() > deadline:
                raise TimeoutError("runs did not finish in time")
            time.sleep(interval)
