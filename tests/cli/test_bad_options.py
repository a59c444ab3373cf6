"""Bad option values, as a user types them into a real ``snapstore`` process: refused before any
work starts, exit code 2 (bad input), one clear error line naming the option, no traceback
(spec/README.md, promise 5)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from snapstore.base.errors import CorruptData
from snapstore.store.cache import repository_cache_dir
from tests.helpers import Workspace, created_name, error_line, ok


def refused(r: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Assert exit 2 and an error line (click's usage error or ours) holding every needle."""
    assert r.returncode == 2, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.lower().startswith("error: ")]
    assert len(errors) == 1, r.stderr
    for needle in needles:
        assert needle in errors[0], f"{needle!r} not in {errors[0]!r}"
    return errors[0]


@pytest.mark.parametrize("value", ["nan", "NaN", "-1", "-0.5", "inf", "-inf"])
def test_lock_wait_must_be_a_finite_non_negative_number(ws: Workspace, value: str) -> None:
    ok(ws.run("init"))
    started = time.monotonic()
    r = ws.run(f"--lock-wait={value}", "list", timeout=30)
    refused(r, "--lock-wait")
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("env_value", ["nan", "-3", "soon"])
def test_lock_wait_from_the_environment_is_checked_too(ws: Workspace, env_value: str) -> None:
    ok(ws.run("init"))
    r = ws.run("list", env=ws.env(SNAPSTORE_LOCK_WAIT=env_value), timeout=30)
    refused(r, "SNAPSTORE_LOCK_WAIT", repr(env_value))


def test_zero_and_positive_lock_waits_still_work(ws: Workspace) -> None:
    ok(ws.run("init"))
    ok(ws.run("--lock-wait", "0", "list"))
    ok(ws.run("--lock-wait", "2.5", "list"))


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "101"])
def test_gc_max_unused_out_of_range(ws: Workspace, value: str) -> None:
    ok(ws.run("init"))
    refused(ws.run("gc", f"--max-unused={value}"), "--max-unused")


def test_restore_target_that_is_a_regular_file(ws: Workspace) -> None:
    name = created_name(ok(ws.run("create", "base")).stdout)
    target = ws.root / "a-file"
    target.write_text("keep me\n")
    for extra in ((), ("--no-db",)):
        r = ws.run(
            "restore", name, "--yes", "--no-safety-snapshot", *extra, "--target", str(target)
        )
        refused(r, str(target), "not a directory")
        assert target.read_text() == "keep me\n"


@pytest.mark.parametrize("bad_id", ["../escaped", "/abs", "A" * 32])
def test_a_repository_id_that_is_not_hex_is_refused(ws: Workspace, bad_id: str) -> None:
    """The id names the repository's folder in the local cache; `../` in a damaged or hostile
    config would put the cache (and restore records) outside the cache root."""
    ok(ws.run("create", "base"))
    config = ws.repo / "config"
    doc = json.loads(config.read_text())
    doc["id"] = bad_id
    config.write_text(json.dumps(doc))
    escaped = ws.cache.parent / "escaped"  # where "../escaped" would land: inside tmp
    for argv in (("create", "again"), ("list",), ("check",)):
        r = ws.run(*argv)
        assert r.returncode == 1, r.stderr
        error_line(r.stderr, "repository config is damaged", "id")
    assert not escaped.exists()
    assert not (ws.root / "abs").exists()
    with pytest.raises(CorruptData, match="damaged"):
        repository_cache_dir(str(ws.cache), bad_id)
