"""Rough edges a new user meets (spec/cli.md): error lines that point at the right help and
say each word once, JSON errors only when --json is an option, the TTL warning's wording."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Workspace, created_name, error_line, file_chunk_location, flip_byte, ok


def test_an_option_without_its_value_points_at_the_command_help(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    for args, where in (
        (["cleanup", "--now"], "(see snapstore cleanup --help)"),
        (["--repo", str(ws.repo), "cleanup", "--dry-run", "--now"], "snapstore cleanup --help"),
        (["restore", "x", "--target"], "(see snapstore restore --help)"),
    ):
        r = ws.run(*args)
        assert r.returncode == 2, r
        error_line(r.stderr, "requires an argument", where)


def test_json_after_double_dash_is_an_argument_not_the_json_option(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    r = ws.run("list", "--", "--json")
    assert r.returncode == 2
    error_line(r.stderr, "unexpected extra argument (--json)")  # a plain line, not JSON
    r = ws.run("list", "--json", "--bogus")
    assert r.returncode == 2 and r.stderr.startswith('{"error": ')


def test_a_damaged_chunk_names_the_snapshot_once(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    name = created_name(ok(ws.run("create", "base", "-q")).stdout)
    pack, offset, _ = file_chunk_location(ws, name, b"data/weights.bin")
    flip_byte(pack, offset + 10)
    r = ws.run("restore", name, "--yes", "--target", str(tmp_path / "out"))
    assert r.returncode == 1
    line = error_line(r.stderr, f"snapshot {name}", "data/weights.bin", alone=False)
    assert "snapshot snapshot" not in line


def test_the_ttl_warning_says_what_an_expiry_of_zero_means() -> None:
    from snapstore.sources.arangodb.build import ttl_warning  # python-arango: only here

    zero = ttl_warning("sessions", {"type": "ttl", "fields": ["expiresAt"], "expireAfter": 0})
    assert "0 s" not in zero and "older than" not in zero
    assert "`expiresAt`" in zero and "has passed" in zero
    hour = ttl_warning("sessions", {"type": "ttl", "fields": ["at"], "expireAfter": 3600})
    assert "more than 3600 s ago" in hour and "`at`" in hour


def test_export_and_restore_refuse_the_repository_and_the_cache(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    name = created_name(ok(ws.run("create", "base", "-q")).stdout)
    ok(ws.run("list"))  # the cache exists now
    before = sorted(str(p) for p in [*ws.repo.rglob("*"), *ws.cache.rglob("*")])
    for args, words in (
        (["export", name, "--tar", str(ws.repo / "x.tar")], "inside the repository"),
        (["export", name, "--tar", str(ws.cache / "x.tar.gz")], "inside the local cache"),
        (["export", name, str(ws.repo / "out")], "inside the repository"),
        (["export", name, str(ws.cache / "out")], "inside the local cache"),
        (["restore", name, "--yes", "--target", str(ws.cache / "r")], "repository or cache"),
        (["restore", name, "--yes", "--target", str(ws.cache)], "repository or cache"),
        (["restore", name, "--yes", "--target", str(ws.repo / "r")], "repository or cache"),
    ):
        r = ws.run(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        error_line(r.stderr, words)
    after = sorted(str(p) for p in [*ws.repo.rglob("*"), *ws.cache.rglob("*")])
    assert [p for p in after if "/locks/" not in p] == [p for p in before if "/locks/" not in p]


def test_the_top_level_help_has_examples_and_exit_codes(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    text = ok(ws.run("--help")).stdout
    assert "Examples:" in text and 'snapstore create "' in text
    assert "Exit codes:" in text and "75 repository locked" in text
    assert "--no-lock" in text


def test_quiet_prints_only_what_a_script_needs(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    r = ok(ws.run("init", "-q"))
    assert r.stdout == "" and r.stderr == ""
    r = ok(ws.run("create", "first", "-q"))
    name = created_name(r.stdout)
    assert r.stdout.strip() == f"✓ Snapshot created: {name}" and r.stderr == ""
    for args in (["pin", name], ["unpin", name], ["check"], ["gc"], ["unlock"]):
        r = ok(ws.run("-q", *args))
        assert r.stdout == "" and r.stderr == "", (args, r.stdout, r.stderr)
    r = ok(ws.run("-q", "export", name, str(tmp_path / "out")))
    assert r.stdout == ""
    assert "Dry run" in ok(ws.run("-q", "cleanup", "--dry-run")).stdout  # asked for: shown
    assert name in ok(ws.run("-q", "list")).stdout


def test_verbose_logs_the_main_steps_of_a_create(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    ok(ws.run("create", "first", "-q", "--no-cleanup"))
    log = ok(ws.run("-v", "create", "second", "--no-cleanup")).stderr
    for step in (
        "opened repository",
        "shared lock taken for create",
        "parent of",
        "reused unread",
        "new chunks written",
        "manifest metis_",
    ):
        assert step in log, (step, log)
