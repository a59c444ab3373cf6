"""The command line in-process (click's runner): the seed's output formats, --json documents,
confirmation prompts, and one clean ``error:`` line for every kind of bad input (promise 5)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from snapstore.manifest.schema import METADATA_KEYS
from tests.helpers import (
    Workspace,
    created_name,
    error_line,
    file_chunk_location,
    flip_byte,
    object_names,
    tree_state,
)

NAME = r"metis_\d{8}_\d{6}_[a-z0-9_]+"


def create(ws: Workspace, description: str = "Before major refactor", *flags: str) -> str:
    r = ws.invoke("create", description, *flags)
    assert r.exit_code == 0, r.output
    return created_name(r.stdout)


def test_create_output_matches_the_seed(ws: Workspace) -> None:
    r = ws.invoke("create", "Before CF validation Phase 4 - clean baseline")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert re.fullmatch(rf"✓ Snapshot created: {NAME}", lines[0]), lines[0]
    assert lines[0].endswith("_before_cf_validation_phase_4_clean_baseline")
    assert "  Bulk storage: 0.0 MB" in lines
    assert "  Git: not a git repository" in lines
    assert "Traceback" not in r.output


def test_list_output_matches_the_seed(ws: Workspace) -> None:
    base = create(ws, "Production baseline", "--permanent")
    work = create(ws, "Before major refactor")
    r = ws.invoke("list")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "Found 2 snapshot(s):"
    assert lines[1] == ""
    assert lines[2] == f"📦 {work}"  # newest first
    assert lines[3] == "   Before major refactor"
    assert re.fullmatch(r"   Created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", lines[4])
    assert re.fullmatch(r"   0 collections, 0 docs, \d+\.\d (MB|GB) total", lines[5])
    assert lines[6] == ""
    assert lines[7] == f"📌 {base}"
    assert lines[8] == "   Production baseline"
    verbose = ws.invoke("list", "--verbose")
    assert verbose.exit_code == 0
    assert "   Git: not a git repository" in verbose.stdout.splitlines()
    assert re.search(r"   Bulk: \d+\.\d MB in 3 files", verbose.stdout)
    for name in (base, work):
        assert ws.invoke("delete", name, "--force", "--yes").exit_code == 0
    assert ws.invoke("list").stdout.strip() == "No snapshots found."


def test_list_marks_safety_and_compressed_snapshots(ws: Workspace) -> None:
    name = create(ws, "base")
    (ws.bulk / "notes.txt").write_text("changed")
    r = ws.invoke("restore", name, "--yes")
    assert r.exit_code == 0, r.output
    assert "✓ Snapshot restored successfully" in r.stdout
    safety = re.search(rf"Safety snapshot taken: ({NAME})", r.stderr)
    assert safety
    listed = ws.invoke("list").stdout
    assert f"📦 {safety.group(1)} [safety]" in listed
    manager = ws.manager()
    if not hasattr(manager, "archive"):
        pytest.skip("compression (archive) is not implemented yet")
    manager.archive([name])
    assert f"📦 {name} [compressed]" in ws.invoke("list").stdout


def test_json_documents_carry_the_seed_metadata(ws: Workspace) -> None:
    r = ws.invoke("create", "json please", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert list(doc)[: len(METADATA_KEYS)] == list(METADATA_KEYS)
    assert doc["description"] == "json please" and doc["permanent"] is False
    assert doc["git_commit"] is None and doc["compression"] is None
    assert isinstance(doc["collections"], dict)
    name = doc["snapshot_name"]
    listed = json.loads(ws.invoke("list", "--json").stdout)
    assert [d["snapshot_name"] for d in listed] == [name]
    assert set(METADATA_KEYS) <= set(listed[0])
    shown = json.loads(ws.invoke("show", name, "--json").stdout)
    assert {k: shown[k] for k in METADATA_KEYS} == {k: doc[k] for k in METADATA_KEYS}


@pytest.mark.parametrize("answer", ["no\n", "y\n", "YES please\n", "\n", ""])
def test_restore_prompt_needs_the_word_yes(ws: Workspace, answer: str) -> None:
    name = create(ws)
    (ws.bulk / "notes.txt").write_text("current work")
    before_tree, before_repo = tree_state(ws.bulk), object_names(ws.repo)
    r = ws.invoke("restore", name, input=answer)
    assert r.exit_code != 0
    assert "Type 'yes' to confirm restoration" in r.stderr
    assert f"Restore snapshot: {name}" in r.stderr
    assert "WARNING: This will REPLACE" in r.stderr
    error_line(r.stderr, alone=False)
    assert tree_state(ws.bulk) == before_tree
    assert object_names(ws.repo) == before_repo, "no safety snapshot before confirmation"


def test_restore_prompt_yes_restores(ws: Workspace) -> None:
    original = tree_state(ws.bulk)
    name = create(ws)
    (ws.bulk / "notes.txt").write_text("current work")
    r = ws.invoke("restore", name, input="yes\n")
    assert r.exit_code == 0, r.output
    assert "Restoring snapshot..." in r.stdout
    assert "✓ Snapshot restored successfully" in r.stdout
    assert tree_state(ws.bulk) == original


@pytest.mark.parametrize("answer", ["no\n", ""])
def test_delete_prompt_needs_the_word_yes(ws: Workspace, answer: str) -> None:
    name = create(ws)
    r = ws.invoke("delete", name, input=answer)
    assert r.exit_code != 0
    assert "Type 'yes' to confirm deletion" in r.stderr
    error_line(r.stderr, alone=False)
    assert [d["snapshot_name"] for d in json.loads(ws.invoke("list", "--json").stdout)] == [name]
    r = ws.invoke("delete", name, input="yes\n")
    assert r.exit_code == 0, r.output
    assert f"✓ Snapshot deleted: {name}" in r.stdout


def test_permanent_snapshot_needs_force(ws: Workspace) -> None:
    name = create(ws, "Production baseline", "--permanent")
    r = ws.invoke("delete", name, "--yes")
    assert r.exit_code == 2
    error_line(r.stderr, "permanent", "--force")
    assert name in ws.invoke("list").stdout
    r = ws.invoke("delete", name, "--force", "--yes")
    assert r.exit_code == 0, r.output
    assert "No snapshots found." in ws.invoke("list").stdout


# -- bad input: one line on stderr, non-zero exit, nothing changed --------------------------


def _damage_version(ws: Workspace) -> None:
    cfg = ws.repo / "config"
    cfg.write_text(cfg.read_text().replace('"version": 1', '"version": 99'))


BAD_INPUT = [
    # (id, setup, argv, exit code, words the error line must hold)
    ("unknown name", None, ["restore", "metis_20200101_000000_nope", "--yes"], 2, ["nope"]),
    ("ambiguous prefix", None, ["show", "metis_"], 2, ["matches 2 snapshots"]),
    ("malformed dotdot", None, ["restore", "../x", "--yes"], 2, ["malformed", "../x"]),
    ("malformed slash", None, ["delete", "a/b", "--yes"], 2, ["malformed", "a/b"]),
    (
        "missing bulk root",
        None,
        ["--bulk", "/nonexistent/bulk", "create", "x"],
        2,
        ["/nonexistent/bulk"],
    ),
    ("no bulk no db", None, ["create", "x", "--no-bulk", "--no-db"], 2, ["--no-bulk"]),
    ("empty slug", None, ["create", "!!!"], 2, ["!!!"]),
    ("newer format", _damage_version, ["list"], 1, ["version 99", "upgrade"]),
    ("newer format create", _damage_version, ["create", "x"], 1, ["version 99"]),
    ("bad toml", None, ["--config", "bad.toml", "list"], 2, ["bad.toml", "TOML"]),
    ("unknown key", None, ["--config", "unknown.toml", "list"], 2, ["unknown key", "colour"]),
    ("missing config", None, ["--config", "nope.toml", "list"], 2, ["nope.toml"]),
    ("password in config", None, ["--config", "secret.toml", "list"], 2, ["password"]),
]


@pytest.mark.parametrize(
    ("setup", "argv", "code", "needles"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUT],
)
def test_bad_input_is_one_error_line(ws: Workspace, setup, argv, code, needles) -> None:  # type: ignore[no-untyped-def]
    create(ws, "first")
    create(ws, "second")
    (ws.root / "bad.toml").write_text("repository = [unclosed\n")
    (ws.root / "unknown.toml").write_text('colour = "blue"\n')
    (ws.root / "secret.toml").write_text('[arangodb]\npassword = "hunter2"\n')
    if setup:
        setup(ws)
    before = object_names(ws.repo)
    r = ws.invoke(*argv)
    assert r.exit_code == code, r.output
    error_line(r.stderr, *needles)
    assert object_names(ws.repo) == before


def test_not_a_repository(ws: Workspace) -> None:
    other = ws.root / "thesis"
    other.mkdir()
    (other / "chapter1.tex").write_text("precious")
    for argv in (["list"], ["create", "x"], ["check"]):
        r = ws.invoke("--repo", str(other), *argv)
        assert r.exit_code == 1, r.output
        error_line(r.stderr, str(other), "not", "snapstore repository")
    assert [p.name for p in other.iterdir()] == ["chapter1.tex"]


def test_damaged_manifest_in_list_and_show(ws: Workspace) -> None:
    good = create(ws, "good")
    bad = create(ws, "bad")
    (ws.repo / "snapshots" / bad).write_bytes(b"\x00garbage")
    r = ws.invoke("list")
    assert r.exit_code == 1
    assert f"📦 {good}" in r.stdout and bad not in r.stdout
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warn) == 1 and bad in warn[0]
    r = ws.invoke("show", bad)
    assert r.exit_code == 1
    error_line(r.stderr, bad, "damaged")


def test_corrupted_pack_restore_and_check_name_snapshot_and_file(ws: Workspace) -> None:
    name = create(ws, "base")
    pack, offset, length = file_chunk_location(ws, name, b"data/weights.bin")
    flip_byte(pack, offset + length // 2)
    (ws.bulk / "notes.txt").write_text("current")
    (ws.bulk / "data" / "weights.bin").write_bytes(b"changed")  # so restore must read it
    before = tree_state(ws.bulk)
    r = ws.invoke("restore", name, "--yes", "--no-safety-snapshot")
    assert r.exit_code == 1
    error_line(r.stderr, name, "data/weights.bin")
    assert tree_state(ws.bulk) == before
    r = ws.invoke("check")
    assert r.exit_code == 0, r.output
    r = ws.invoke("check", "--read-data")
    assert r.exit_code == 1
    assert re.search(rf"error: snapshot {name}: .*data/weights\.bin", r.stderr), r.stderr
    assert "problem(s) found" in r.stdout


def test_restore_into_a_path_under_a_file(ws: Workspace) -> None:
    name = create(ws, "base")
    (ws.root / "plain-file").write_text("x")
    r = ws.invoke("restore", name, "--yes", "--target", str(ws.root / "plain-file" / "sub"))
    assert r.exit_code != 0
    error_line(r.stderr, "plain-file")
    assert (ws.root / "plain-file").read_text() == "x"


def test_git_line_inside_a_repository(ws: Workspace, tmp_path: Path) -> None:
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=T", "-c", "user.email=t@e.org", *args],
            cwd=ws.root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q", "-b", "main")
    (ws.root / ".gitignore").write_text("repo/\ncache/\nbulk/\n")
    git("add", ".gitignore")
    git("commit", "-q", "-m", "init")
    sha = git("rev-parse", "HEAD")
    r = ws.invoke("create", "in git")
    assert r.exit_code == 0, r.output
    assert f"  Git: main@{sha[:7]}" in r.stdout.splitlines()
    doc = json.loads(ws.invoke("show", created_name(r.stdout), "--json").stdout)
    assert doc["git_commit"] == sha and doc["git_branch"] == "main"
