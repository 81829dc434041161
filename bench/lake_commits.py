"""Lake commit benchmark: N commits of account-like pages into one Delta table through ``DeltaLake.commit``.

What a first load asks of the lake, without the source: each commit is one page of new keys in key order (so the
merge takes its append shortcut), carrying its transaction and cursor. Prints wall and CPU (the process's, so
delta-rs's threads count) per commit, the part of it spent getting the table to commit to (a fresh open, or a kept
table refreshed), and how both grow with the table's version, on a local folder and on a local S3 server
(SeaweedFS, as the tests use). Run from a checkout, it measures that checkout's lake.

    .venv/bin/python bench/lake_commits.py                          # 160 commits of 6,400 rows, local and S3
    .venv/bin/python bench/lake_commits.py --commits 60 --rows 1000 --where local
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowservice import local_s3
from flowservice.lake import DeltaLake, s3_options
from flowservice.lake import delta as delta_module

TABLE = "bench/prod/datasets/accounts"


def page(start: int, rows: int, columns: int, key_position: int, random_keys: bool = False) -> pa.Table:
    """``rows`` rows of keys ``start..``, zero-padded so text order is key order (or random GUIDs, as a real org's
    first load lands them: every file's key range then spans nearly all keys); ``columns`` columns in all."""
    if random_keys:
        keys = pa.array([str(uuid.uuid4()) for _ in range(rows)], pa.string())
    else:
        keys = pa.array([f"{start + i:012d}" for i in range(rows)], pa.string())
    fields: dict[str, pa.Array] = {}
    for c in range(columns - 1):
        if c == key_position:
            fields["accountid"] = keys
        if c % 3 == 0:
            fields[f"text{c:03d}"] = pa.array([f"value {start + i} of column {c}" for i in range(rows)])
        elif c % 3 == 1:
            fields[f"number{c:03d}"] = pa.array(range(start, start + rows), pa.int64())
        else:
            fields[f"amount{c:03d}"] = pa.array([float(start + i) / 7 for i in range(rows)], pa.float64())
    if "accountid" not in fields:
        fields["accountid"] = keys
    return pa.table(fields)


@contextmanager
def timed_opens() -> Iterator[list[float]]:
    """Wall seconds of every table a commit opens to commit to, while inside: ``DeltaLake._open_to_commit``
    (a kept table refreshed, or a fresh open), or ``_open`` in a lake that has no such method."""
    spent: list[float] = []
    name = "_open_to_commit" if hasattr(delta_module.DeltaLake, "_open_to_commit") else "_open"
    real = getattr(delta_module.DeltaLake, name)

    def opening(self: DeltaLake, uri: str) -> Any:
        began = time.perf_counter()
        try:
            return real(self, uri)
        finally:
            spent.append(time.perf_counter() - began)

    setattr(delta_module.DeltaLake, name, opening)
    try:
        yield spent
    finally:
        setattr(delta_module.DeltaLake, name, real)


def run(
    lake: DeltaLake, commits: int, rows: int, columns: int, key_position: int, random_keys: bool = False
) -> list[dict[str, float]]:
    samples = []
    with timed_opens() as opens:
        for n in range(1, commits + 1):
            data = page(
                (n - 1) * rows, rows, columns, key_position, random_keys
            )  # made before the clock, one at a time
            before = len(opens)
            wall, cpu = time.perf_counter(), time.process_time()
            result = lake.commit(
                TABLE,
                data,
                mode="merge",
                primary_key="accountid",
                deleted_keys=[],
                app_id="flow-bench",
                txn_version=n,
                cursor={"page": n},
            )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert not result.noop and result.version == n - 1, result
            samples.append({"wall": wall, "cpu": cpu, "open": sum(opens[before:]), "opens": len(opens) - before})
    return samples


def report(where: str, samples: list[dict[str, float]], buckets: int = 4) -> None:
    ms = 1000.0
    total = len(samples)
    print(f"\n{where}: {total} commits")
    print("versions      wall ms/commit  cpu ms/commit  open ms/commit  opens/commit   (medians)")
    size = max(1, total // buckets)
    for start in range(0, total, size):
        part = samples[start : start + size]
        print(
            f"{start:>4}-{start + len(part) - 1:<4}     "
            f"{statistics.median(s['wall'] for s in part) * ms:>10.1f}  "
            f"{statistics.median(s['cpu'] for s in part) * ms:>13.1f}  "
            f"{statistics.median(s['open'] for s in part) * ms:>14.1f}  "
            f"{statistics.mean(s['opens'] for s in part):>12.2f}"
        )
    print(
        f"all (median)  {statistics.median(s['wall'] for s in samples) * ms:>10.1f}  "
        f"{statistics.median(s['cpu'] for s in samples) * ms:>13.1f}  "
        f"{statistics.median(s['open'] for s in samples) * ms:>14.1f}"
    )
    print(
        f"all (mean)    {statistics.mean(s['wall'] for s in samples) * ms:>10.1f}  "
        f"{statistics.mean(s['cpu'] for s in samples) * ms:>13.1f}  "
        f"{statistics.mean(s['open'] for s in samples) * ms:>14.1f}  "
        f"{statistics.mean(s['opens'] for s in samples):>12.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=160)
    parser.add_argument("--rows", type=int, default=6400, help="rows per commit (the engine's commit_every_rows)")
    parser.add_argument("--columns", type=int, default=117, help="columns of a row (account lands 117)")
    parser.add_argument("--key-position", type=int, default=0, help="0-based position of the key column")
    parser.add_argument("--where", choices=["local", "s3", "both"], default="both")
    parser.add_argument("--random-keys", action="store_true", help="random GUIDs instead of keys in order")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lake-commits-") as work:
        if args.where in ("local", "both"):
            lake = DeltaLake(str(Path(work, "lake")))
            samples = run(lake, args.commits, args.rows, args.columns, args.key_position, args.random_keys)
            report("local folder", samples)
        if args.where in ("s3", "both"):
            server = local_s3.start(Path(work, "s3"))
            try:
                options = s3_options(
                    access_key_id=server.access_key,
                    secret_access_key=server.secret_key,
                    region=server.region,
                    endpoint_url=server.endpoint_url,
                    allow_http=True,
                )
                lake = DeltaLake(server.root("bench"), options)
                shape = (args.commits, args.rows, args.columns, args.key_position, args.random_keys)
                report("local S3 (SeaweedFS)", run(lake, *shape))
            finally:
                local_s3.stop(server)


if __name__ == "__main__":
    main()
