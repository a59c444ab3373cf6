"""The oldest python-arango that pyproject.toml allows really runs a dump and a restore.

`Database.request`, which every raw call uses, exists only from python-arango 8.3.4 on; the
floor in pyproject.toml must be a version that works. This installs exactly that version
into a scratch directory (from PyPI) and runs create + restore with it, in a subprocess
against a test server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import os, sys, tempfile
    import arango
    from arango import ArangoClient
    from snapstore.manager import SnapshotManager
    from snapstore.base.reporting import Reporter
    from snapstore.config.settings import ArangoSettings, Settings
    from tests.arango_server import TestArangoServer

    tmp = tempfile.mkdtemp()
    os.environ["SNAPSTORE_CACHE_DIR"] = tmp + "/cache"
    os.environ["SNAPSTORE_ARANGO_PASSWORD"] = "pw"
    with TestArangoServer(password="pw") as server:
        client = ArangoClient(hosts=server.url)
        client.db("_system", "root", "pw").create_database("floor")
        db = client.db("floor", "root", "pw")
        db.create_collection("c").insert_many([{"_key": str(i), "v": i} for i in range(3000)])
        settings = Settings(repository=tmp + "/repo", bulk=(), project_dir=tmp,
                            auto_cleanup=False,
                            arangodb=ArangoSettings(url=server.url, database="floor"))
        manager = SnapshotManager(settings, reporter=Reporter())
        name = manager.create("floor", include_bulk=False).snapshot.snapshot_name
        db.collection("c").truncate()
        result = manager.restore_snapshot(name, confirm=True, restore_bulk=False,
                                          safety_snapshot=False)
        assert db.collection("c").count() == 3000, db.collection("c").count()
        from importlib.metadata import version
        print("python-arango", version("python-arango"), "ok", arango.__file__)
    """
)


def floor_version() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for dep in project["dependencies"]:
        m = re.match(r"python-arango\s*>=\s*([0-9.]+)", dep)
        if m:
            return m.group(1)
    raise AssertionError("pyproject.toml names no python-arango floor")


@pytest.mark.slow
def test_the_python_arango_floor_runs_dump_and_restore(tmp_path: Path) -> None:
    version = floor_version()
    target = tmp_path / "site"
    fetched = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            f"python-arango=={version}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if fetched.returncode != 0:
        pytest.skip(f"cannot install python-arango {version}: {fetched.stderr.strip()[-200:]}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(REPO)])}
    ran = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert f"python-arango {version} ok {target}" in ran.stdout
