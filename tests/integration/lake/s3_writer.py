"""A writer process of the concurrent-writer tests: ``python -m tests.integration.lake.s3_writer SPEC_FILE``.

The spec is JSON: the lake's root and storage options (in a file, so the secret is on no command line), the
app id, the transaction versions to commit, a key prefix and a file to wait for before the first commit (so the
writers start together). Prints one JSON line per commit: the transaction, the table version, whether a no-op.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from flowservice.lake import DeltaLake
from tests.integration.lake.tables import TABLE, accounts


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    lake = DeltaLake(spec["root"], spec["options"], attempts=spec.get("attempts", 50))
    go = Path(spec["go"])
    while not go.exists():
        time.sleep(0.01)
    for txn in spec["txns"]:
        rows = accounts(*((f"{spec['keys']}-{txn}-{i}", spec["app_id"], txn) for i in range(spec["rows"])))
        result = lake.commit(
            TABLE,
            rows,
            mode=spec["mode"],
            primary_key="accountid",
            deleted_keys=[],
            app_id=spec["app_id"],
            txn_version=txn,
            cursor={"txn": txn, "writer": spec["keys"]},
        )
        sys.stdout.write(json.dumps({"txn": txn, "version": result.version, "noop": result.noop}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
