"""cleanup, pin and unpin through the CLI and the API: fates with reasons, --json, --now, the
automatic run after create, locks, and bad input."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import threading
import time
from pathlib import Path

from snapstore.backend.local import LocalBackend
from snapstore.base.retention import Fate
from snapstore.manager import SnapshotManager
from snapstore.store.locking import RepositoryLock
from tests.helpers import Workspace, created_name, error_line, ok
from tests.lifecycle.conftest import lifecycle_manager, text, write


def _config(ws: Workspace, body: str) -> dict[str, str]:
    path = ws.root / "snapstore.toml"
    path.write_text(body)
    return ws.env(SNAPSTORE_CONFIG=str(path))


SMALL = "[retention]\nkeep_last = 2\nkeep_weekly_weeks = 0\ncompress_after_days = 7\n"


def _create(ws: Workspace, n: int, env: dict[str, str] | None = None) -> list[str]:
    names = []
    for k in range(n):
        write(ws.bulk, f"f{k}.txt", text(k, 3000))
        r = ws.run("create", f"snap {k}", env=env)
        assert r.returncode == 0, r.stderr
        names.append(created_name(r.stdout))
    return names


def test_dry_run_prints_every_fate_with_its_rule(lws: Workspace) -> None:
    env = _config(lws, "auto_cleanup = false\n" + SMALL)
    names = _create(lws, 4, env)
    pin = lws.run("pin", names[0], env=env)
    assert pin.returncode == 0 and "📌 Pinned" in pin.stdout
    r = lws.run("cleanup", "--dry-run", env=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"keep      {names[3]}" in out and "newest 2 (#1)" in out
    assert f"keep      {names[2]}" in out and "newest 2 (#2)" in out
    assert f"delete    {names[1]}" in out and "not kept by any rule" in out
    assert f"keep      {names[0]} 📌" in out and "permanent" in out
    assert "Dry run: would delete 1, compress 0, keep 3" in out
    assert len(lws.manager().list_snapshots()) == 4  # nothing changed


def test_json_and_now_answer_what_cleanup_would_do_later(lws: Workspace) -> None:
    env = _config(lws, "auto_cleanup = false\n" + SMALL)
    names = _create(lws, 3, env)
    r = lws.run("cleanup", "--dry-run", "--json", "--now", "2100-01-01", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["dry_run"] is True and doc["now"] == "2100-01-01T00:00:00Z") or doc[
        "now"
    ].startswith("2099-12-31")
    fates = {d["name"]: d["fate"] for d in doc["decisions"]}
    assert fates == {names[2]: "compress", names[1]: "compress", names[0]: "delete"}
    reasons = {d["name"]: d["reasons"] for d in doc["decisions"]}
    assert reasons[names[0]] == ["not kept by any rule"]
    assert reasons[names[2]][-1] == "compress: older than 7 days"


def test_cleanup_deletes_compresses_and_reclaims(lws: Workspace, tmp_path: Path) -> None:
    m = lifecycle_manager(lws, retention={"keep_last": 2, "keep_weekly_weeks": 0})
    names = []
    for k in range(3):
        write(lws.bulk, f"f{k}.txt", text(k, 30_000))
        names.append(m.create(f"s{k}").snapshot.snapshot_name)
    from datetime import UTC, datetime, timedelta

    result = m.apply_retention_policy(dry_run=False, now=datetime.now(UTC) + timedelta(days=30))
    assert result.deleted == [names[0]]
    assert sorted(result.compressed) == sorted(names[1:])
    assert [d.fate for d in result.decisions] == [Fate.COMPRESS, Fate.COMPRESS, Fate.DELETE]
    assert result.gc is not None and result.gc.reclaimed_bytes > 0
    assert {s.snapshot_name: s.compression for s in m.list_snapshots()} == {
        names[1]: "tar.gz",
        names[2]: "tar.gz",
    }
    assert m.check(read_data=True).ok
    # Idempotent: the same cleanup again decides the same and changes nothing.
    again = m.apply_retention_policy(dry_run=False, now=datetime.now(UTC) + timedelta(days=30))
    assert again.deleted == [] and again.compressed == []


def test_create_prints_what_its_automatic_cleanup_removed(lws: Workspace) -> None:
    env = _config(lws, SMALL)
    names = _create(lws, 2, env)
    write(lws.bulk, "new.txt", b"x")
    r = lws.run("create", "third", env=env)
    assert r.returncode == 0, r.stderr
    assert f"Automatic cleanup: deleted 1 snapshot(s) ({names[0]})" in r.stderr
    listed = {s.snapshot_name for s in lws.manager().list_snapshots()}
    assert names[0] not in listed and names[1] in listed


def test_auto_cleanup_can_be_turned_off(lws: Workspace) -> None:
    env = _config(lws, "auto_cleanup = false\n" + SMALL)
    _create(lws, 3, env)
    assert len(lws.manager().list_snapshots()) == 3


def test_create_no_cleanup_flag_skips_the_automatic_cleanup_once(lws: Workspace) -> None:
    env = _config(lws, SMALL)  # keep_last = 2, auto_cleanup on
    _create(lws, 2, env)
    write(lws.bulk, "new.txt", b"x")
    r = lws.run("create", "third", "--no-cleanup", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["cleanup"] is None
    assert len(lws.manager().list_snapshots()) == 3
    write(lws.bulk, "newer.txt", b"y")
    r = lws.run("create", "fourth", env=env)  # the next create without the flag cleans up
    assert r.returncode == 0, r.stderr
    assert len(lws.manager().list_snapshots()) == 2


def test_now_unparsable(lws: Workspace) -> None:
    _create(lws, 1)
    r = lws.run("cleanup", "--dry-run", "--now", "next tuesday")
    assert r.returncode == 2
    error_line(r.stderr, "--now", "cannot parse time 'next tuesday'")
    r = lws.run("cleanup", "--now", "2030-01-01")
    assert r.returncode == 2
    error_line(r.stderr, "--now only works with --dry-run")


def test_pin_and_unpin_unknown_name(lws: Workspace) -> None:
    _create(lws, 1)
    for cmd in ("pin", "unpin"):
        r = lws.run(cmd, "metis_19990101_000000_nothing")
        assert r.returncode == 2
        error_line(r.stderr, "no snapshot named 'metis_19990101_000000_nothing'")


def test_pin_unpin_round_trip(lws: Workspace, lm: SnapshotManager) -> None:
    name = lm.create("x").snapshot.snapshot_name
    assert lm.pin(name[:-2]).permanent is True  # unique prefixes work as elsewhere
    assert lws.manager().get_snapshot(name).permanent is True
    r = lws.run("unpin", name, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["permanent"] is False
    assert lws.manager().get_snapshot(name).permanent is False


def test_cleanup_while_a_create_holds_the_lock(lws: Workspace) -> None:
    _create(lws, 1)
    lock = RepositoryLock.acquire(LocalBackend(lws.repo), "create", exclusive=False)
    try:
        refused = lws.run("cleanup")
        assert refused.returncode == 75
        error_line(refused.stderr, "repository is locked by `create`", "--lock-wait")
        # With --lock-wait it waits for the create to finish, then runs.
        threading.Timer(1.0, lock.release).start()
        started = time.monotonic()
        waited = lws.run("--lock-wait", "30", "cleanup")
        assert waited.returncode == 0, waited.stderr
        assert time.monotonic() - started >= 0.9
    finally:
        lock.release()


def test_automatic_cleanup_never_fails_a_create(lws: Workspace) -> None:
    """A create whose cleanup cannot get the exclusive lock still succeeds, and says so; with
    nothing to clean up it does not even ask for the exclusive lock."""
    m = lifecycle_manager(
        lws, auto_cleanup=True, retention={"keep_last": 1, "keep_weekly_weeks": 0}
    )
    lock = RepositoryLock.acquire(LocalBackend(lws.repo), "restore", exclusive=False)
    try:
        m.create("first")
        assert m.reporter.warnings == []  # nothing to do: no exclusive lock needed
        m.create("second")  # the first is now due for deletion
    finally:
        lock.release()
    assert any("automatic cleanup skipped" in w and "`restore`" in w for w in m.reporter.warnings)
    assert len(m.list_snapshots()) == 2
    third = m.create("third")  # no lock in the way: the two older ones go
    assert [s.description for s in m.list_snapshots()] == ["third"]
    assert third.cleanup is not None and len(third.cleanup.deleted) == 2


def test_delete_reclaims_space_and_says_so(lws: Workspace) -> None:
    write(lws.bulk, "big.txt", text(5, 50_000))
    [name] = _create(lws, 1)
    r = lws.run("delete", name, "--yes")
    assert r.returncode == 0, r.stderr
    assert "Reclaimed" in r.stderr
    assert list((lws.repo / "packs").rglob("*")) == [] or all(
        p.is_dir() for p in (lws.repo / "packs").rglob("*")
    )


def _at_terminal(lws: Workspace, env: dict[str, str], answer: str) -> tuple[int, str]:
    """Run cleanup with a terminal as its stdin, answer the prompt; (exit code, output)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(
        lws.cli_command("cleanup"),
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=lws.root,
        env=env,
    )
    os.close(slave)
    os.write(master, answer.encode())
    out = p.communicate(timeout=60)[0]
    os.close(master)
    return p.returncode, out


def test_cleanup_asks_at_a_terminal_and_runs_unattended_without_one(lws: Workspace) -> None:
    env = _config(lws, "auto_cleanup = false\n" + SMALL)
    names = _create(lws, 5, env)
    doomed = names[:3]  # keep_last = 2, no weekly rule
    # At a terminal the doomed ones are named and only "yes" deletes them.
    code, out = _at_terminal(lws, env, "y\n")
    assert code == 1 and all(n in out for n in doomed) and "cancelled" in out
    assert len(lws.manager().list_snapshots()) == 5
    ok(lws.run("pin", names[0], env=env))  # pinned: never touched, asked or not
    code, out = _at_terminal(lws, env, "yes\n")
    assert code == 0, out
    left = {s.snapshot_name for s in lws.manager().list_snapshots()}
    assert left == {names[0], names[3], names[4]}
    # Unattended (cron: no terminal, no --yes) it applies the policy like the reference.
    _create(lws, 1, env)
    unattended = lws.run("cleanup", env=env)
    assert unattended.returncode == 0, unattended.stderr
    assert "Deleted 1 snapshot(s)" in unattended.stdout


def test_cleanup_runs_the_plan_it_asked_about_or_nothing(lws: Workspace) -> None:
    """The question names what the plan deletes; a create while it waits for its answer
    would make keep_last delete one more, unnamed, snapshot: cleanup stops instead."""
    env = _config(lws, "auto_cleanup = false\n" + SMALL)
    names = _create(lws, 3, env)  # keep_last = 2: the plan deletes names[0] only
    master, slave = pty.openpty()
    p = subprocess.Popen(
        lws.cli_command("cleanup"),
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=lws.root,
        env=env,
    )
    os.close(slave)
    assert p.stdout is not None
    shown = b""
    while b"Type 'yes'" not in shown:  # the question is on the screen
        chunk = os.read(p.stdout.fileno(), 4096)
        assert chunk, shown
        shown += chunk
    assert names[0].encode() in shown and names[1].encode() not in shown
    _create(lws, 1, env)  # meanwhile: names[1] falls out of keep_last too
    os.write(master, b"yes\n")
    out = shown + p.communicate(timeout=60)[0]
    os.close(master)
    assert p.returncode == 1, out
    assert b"snapshots changed while the plan waited" in out
    assert len(lws.manager().list_snapshots()) == 4  # nothing deleted, not even names[0]


def test_confirmed_plan_is_what_cleanup_executes(lws: Workspace) -> None:
    m = lifecycle_manager(lws, retention={"keep_last": 1, "keep_weekly_weeks": 0})
    for k in range(3):
        write(lws.bulk, f"f{k}.txt", text(k, 3000))
        m.create(f"snap {k}")
    shown = []
    result = m.apply_retention_policy(confirm=shown.append)
    [plan] = shown
    assert sorted(d.name for d in plan.doomed) == result.deleted and len(result.deleted) == 2
    assert result.decisions == plan.decisions


def test_cleanup_yes_skips_the_question(lws: Workspace) -> None:
    env = _config(lws, "auto_cleanup = false\n" + SMALL)
    names = _create(lws, 3, env)
    r = lws.run("cleanup", "--yes", env=env)
    assert r.returncode == 0, r.stderr
    assert "Type 'yes'" not in r.stderr
    assert [s.snapshot_name for s in lws.manager().list_snapshots()] == names[:0:-1]


def test_restores_never_cost_the_user_a_snapshot_of_keep_last(lws: Workspace) -> None:
    """The automatic cleanup after create once deleted the user's own snapshot
    because safety snapshots took places in "keep the last N". They have a rule of their
    own now, and cleanup --dry-run says so."""
    env = _config(lws, SMALL)  # keep_last = 2, auto cleanup on
    names = _create(lws, 2, env)
    for _ in range(3):
        r = lws.run("restore", names[0], "--yes", env=env)
        assert r.returncode == 0, r.stderr
    write(lws.bulk, "after.txt", text(9, 3000))
    r = lws.run("create", "after", env=env)  # runs the automatic cleanup
    assert r.returncode == 0, r.stderr
    listed = json.loads(lws.run("list", "--json", env=env).stdout)
    users = [s["snapshot_name"] for s in listed if s["kind"] != "safety"]
    assert names[1] in users and created_name(r.stdout) in users  # the newest 2 of the user's
    assert sum(1 for s in listed if s["kind"] == "safety") == 3  # younger than a week: all kept
    dry = lws.run("cleanup", "--dry-run", env=env)
    assert "Safety snapshots (taken before a restore) are kept apart" in dry.stdout
    assert "safety, younger than 7 days" in dry.stdout
