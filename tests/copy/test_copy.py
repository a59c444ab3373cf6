"""copy between repositories that name chunks alike (spec/copy.md): what is sent, what the
destination's catalog says afterwards, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

from snapstore.backend.local import LocalBackend
from snapstore.manifest.catalog import Catalog
from tests.copy.conftest import Pair
from tests.helpers import error_line, object_names


def test_second_copy_sends_only_the_changed_file(pair: Pair, tmp_path: Path) -> None:
    first = pair.snap("first")
    r1 = pair.source().copy(str(pair.dest), names=(first,))
    assert [s.status for s in r1.snapshots] == ["copied"]
    assert r1.bytes >= 8 * 128 * 1024  # everything, the first time
    (pair.ws.bulk / "data03.bin").write_bytes(b"changed " * 4096)  # 32 KB
    second = pair.snap("second")
    r2 = pair.source().copy(str(pair.dest))
    statuses = {s.name: s.status for s in r2.snapshots}
    assert statuses == {first: "present", second: "copied"}
    # The new file's chunk and the listing chunks it changed; nothing of the other files.
    assert 32 * 1024 <= r2.bytes < 32 * 1024 + 64 * 1024, r2.bytes
    dest = pair.destination()
    assert dest.check(read_data=True).ok
    pair.restores_exactly(dest, first, tmp_path / "r1")
    pair.restores_exactly(dest, second, tmp_path / "r2")


def test_copy_keeps_metadata_and_makes_the_destination_history_consistent(
    pair: Pair,
) -> None:
    a = pair.snap("alpha", permanent=True)
    (pair.ws.bulk / "new.txt").write_text("new")
    b = pair.snap("beta")
    pair.source().copy(str(pair.dest))
    dest = pair.destination()
    src_meta = {s.snapshot_name: s.metadata for s in pair.source().list_snapshots()}
    dst_meta = {s.snapshot_name: s.metadata for s in dest.list_snapshots()}
    assert dst_meta == src_meta  # name, times, description, pinned, compression, git...
    _, problems = dest.list_with_problems()
    assert not problems
    catalog = Catalog(LocalBackend(pair.dest))
    ma, mb = catalog.load(a), catalog.load(b)
    # The destination's own predecessor chain and clock (spec/manifest.md).
    assert ma.previous == [] and mb.previous == [a]
    assert mb.generation > ma.generation >= 1
    # Its retention applies on its own: a delete there is recorded by the survivor...
    dest.delete_snapshot(b, force=True)
    assert catalog.load(a).deleted.keys() == {b}


def test_what_the_destination_deleted_is_not_copied_back(pair: Pair) -> None:
    a = pair.snap("alpha")
    (pair.ws.bulk / "new.txt").write_text("new")
    b = pair.snap("beta")
    pair.source().copy(str(pair.dest))
    pair.destination().delete_snapshot(a)
    again = pair.source().copy(str(pair.dest))
    why = {s.name: (s.status, s.reason) for s in again.snapshots}
    assert why[b] == ("present", "")
    assert why[a][0] == "skipped" and "deleted in the destination" in why[a][1]
    named = pair.source().copy(str(pair.dest), names=(a[:-2],))  # a prefix names it
    assert [(s.name, s.status) for s in named.snapshots] == [(a, "copied")]


def test_dry_run_says_what_would_be_sent_and_writes_nothing(pair: Pair) -> None:
    pair.snap("alpha")
    (pair.ws.bulk / "new.bin").write_bytes(b"x" * 50_000)
    pair.snap("beta")
    before = object_names(pair.dest)
    plan = pair.source().copy(str(pair.dest), dry_run=True)
    assert object_names(pair.dest) == before
    assert {s.status for s in plan.snapshots} == {"to copy"}
    done = pair.source().copy(str(pair.dest))
    assert [(s.name, s.chunks, s.bytes) for s in plan.snapshots] == [
        (s.name, s.chunks, s.bytes) for s in done.snapshots
    ]


def test_compressed_snapshot_is_copied_from_its_archive(pair: Pair, tmp_path: Path) -> None:
    a = pair.snap("old")
    (pair.ws.bulk / "data00.bin").unlink()
    pair.snap("new")
    pair.source().archive([a])  # data00 now lives only in a cold archive
    pair.source().copy(str(pair.dest), names=(a,))
    dest = pair.destination()
    assert dest.get_snapshot(a).compression == "tar.gz"
    assert dest.check(read_data=True).ok
    pair.restores_exactly(dest, a, tmp_path / "r")


def test_cli_copy_from_with_json_and_progress(pair: Pair) -> None:
    a = pair.snap("alpha")
    # The configured repository is the destination now: copy --from the workspace's.
    env = pair.ws.env(SNAPSTORE_REPO=str(pair.dest))
    r = pair.ws.run("copy", "--from", str(pair.ws.repo), "--json", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["destination"] == str(pair.dest) and doc["snapshots"][0]["name"] == a
    assert doc["snapshots"][0]["status"] == "copied" and doc["bytes_sent"] > 1_000_000
    r = pair.ws.run("copy", "--from", str(pair.ws.repo), env=env)
    assert r.returncode == 0 and "already in" in r.stdout, r.stdout
    (pair.ws.bulk / "new.txt").write_text("new")
    b = pair.snap("beta")
    r = pair.ws.run("copy", "--from", str(pair.ws.repo), env=env)
    assert r.returncode == 0, r.stderr
    assert f"Copying {b} (1/1)" in r.stderr  # progress on stderr, the result on stdout
    assert f"✓ {b}: copied" in r.stdout and f"{a}: already in" in r.stdout


def test_cli_bad_input_is_one_line(pair: Pair) -> None:
    pair.snap("alpha")
    cases = [
        (["copy"], "exactly one of --to"),
        (["copy", "--to", str(pair.dest), "--from", str(pair.dest)], "exactly one of --to"),
        (["copy", "--to", str(pair.dest), "nosuch"], "no snapshot named 'nosuch'"),
        (["copy", "--to", str(pair.ws.repo)], "are the same repository"),
        (["copy", "--to", str(pair.ws.root / "nowhere")], "not a snapstore repository"),
    ]
    for args, needle in cases:
        r = pair.ws.run(*args)
        assert r.returncode != 0, args
        error_line(r.stderr, needle)
    assert not (pair.ws.root / "nowhere").exists()


def test_readme_offsite_commands(pair: Pair, tmp_path: Path) -> None:
    """The README's encrypted offsite copy (a folder stands in for the bucket): init
    --encryption with a password file, then copy --to with SNAPSTORE_COPY_PASSWORD_FILE."""
    name = pair.snap("alpha")
    secret = tmp_path / "offsite.pass"
    secret.write_text("correct horse battery staple\n")
    secret.chmod(0o600)
    offsite = str(tmp_path / "offsite")
    r = pair.ws.run(
        "--repo", offsite, "init", "--encryption", "--kdf-memory", "1",
        env=pair.ws.env(SNAPSTORE_PASSWORD_FILE=str(secret)),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    nightly = pair.ws.env(SNAPSTORE_COPY_PASSWORD_FILE=str(secret))
    r = pair.ws.run("-q", "copy", "--to", offsite, env=nightly)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", (r.stdout, r.stderr)
    r = pair.ws.run("copy", "--to", offsite, "--json", env=nightly)
    assert json.loads(r.stdout)["snapshots"] == [
        {"name": name, "status": "present", "chunks": 0, "bytes": 0, "reason": ""}
    ]
    listed = pair.ws.run(
        "--repo", offsite, "list", "--json", env=pair.ws.env(SNAPSTORE_PASSWORD_FILE=str(secret))
    )
    assert [s["snapshot_name"] for s in json.loads(listed.stdout)] == [name], listed.stderr
