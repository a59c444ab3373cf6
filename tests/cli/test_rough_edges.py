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
