"""CLI conventions every command keeps (spec/cli.md): global options also after the subcommand,
usage errors as one ``error:`` line, errors as JSON on stderr with ``--json``."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

from tests.helpers import Workspace, created_name, error_line, ok


def test_global_options_work_after_the_subcommand(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    quiet = ok(ws.run("create", "x", "-q"))
    assert created_name(quiet.stdout)
    assert quiet.stderr == ""  # -q after the subcommand silenced the progress lines
    listed = ok(ws.run("list", "--json", "-q"))
    assert len(json.loads(listed.stdout)) == 1
    other = tmp_path / "other-repo"
    ok(ws.run("create", "y", "--no-cleanup", "--repo", str(other), "--prefix", "exp"))
    names = [
        s["snapshot_name"]
        for s in json.loads(ok(ws.run("list", "--json", f"--repo={other}")).stdout)
    ]
    assert len(names) == 1 and names[0].startswith("exp_")
    # After `--` nothing is taken for a global option: it is the description.
    r = ok(ws.run("create", "--no-cleanup", "--", "-q"))
    shown = json.loads(ok(ws.run("show", created_name(r.stdout), "--json")).stdout)
    assert shown["description"] == "-q"


def test_usage_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    for args, words in (
        (["restore"], "Missing argument 'NAME'"),
        (["list", "--bogus"], "No such option '--bogus'"),
        (["nosuchcommand"], "No such command 'nosuchcommand'"),
        (["gc", "--max-unused", "abc"], "--max-unused"),
    ):
        r = ws.run(*args)
        assert r.returncode == 2, (args, r.stderr)
        line = error_line(r.stderr, words)
        assert "--help" in line and "Usage:" not in r.stderr


def test_errors_are_json_on_stderr_with_json(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    r = ws.run("show", "nope", "--json")
    assert r.returncode == 1 and r.stdout == ""
    err = json.loads(r.stderr)
    assert err["exit_code"] == 1 and "not a snapstore repository" in err["error"]
    r = ws.run("list", "--json", "--bogus")
    assert r.returncode == 2
    assert json.loads(r.stderr)["exit_code"] == 2


def test_unlock_has_json(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    ok(ws.run("create", "x"))
    r = ok(ws.run("unlock", "--json"))
    assert json.loads(r.stdout) == {"removed": []}


def test_newlines_in_descriptions_and_names_never_break_lines(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    (ws.bulk / "evil\nname.txt").write_text("x")
    name = created_name(ok(ws.run("create", "two\nlines")).stdout)
    listed = ok(ws.run("list")).stdout
    assert "two\\nlines" in listed and "\nlines" not in listed
    shown = ok(ws.run("show", name)).stdout
    assert "Description: two\\nlines" in shown
    assert ok(ws.run("ls", name)).stdout.splitlines() == ["evil\\nname.txt"]
    asked = ws.run("restore", name, "--include", "evil\nname.txt", "--no-db", input="no\n")
    assert "      evil\\nname.txt" in asked.stderr.splitlines()
    # The safety snapshot is named once, in full, in the restore's report.
    (ws.bulk / "more.txt").write_text("y")
    r = ok(ws.run("restore", name, "--yes"))
    safety = [ln for ln in (r.stdout + r.stderr).splitlines() if "safety_snapshot_before" in ln]
    assert len(safety) == 1 and safety[0].startswith("Safety snapshot taken: "), safety


def _in_a_terminal(ws: Workspace, *args: str) -> str:
    """Run a command with a terminal as stdout and stderr; everything it drew."""
    master, slave = pty.openpty()
    p = subprocess.Popen(
        ws.cli_command(*args),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        cwd=ws.root,
        env=ws.env(),
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not data:
            break
        chunks.append(data)
    p.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_progress_is_shown_also_when_the_total_is_unknown(tmp_path: Path) -> None:
    """A tree too big to count first (over 10,000 entries) still gets progress with the
    throughput; a known total gets a bar. Never on a non-terminal (the other tests)."""
    ws = Workspace.make(tmp_path, populate=False)
    for d in range(11):
        (ws.bulk / f"d{d}").mkdir()
        for i in range(1000):
            (ws.bulk / f"d{d}" / f"f{i}").write_bytes(b"x" * 100)
    drawn = _in_a_terminal(ws, "create", "many files")
    assert "Reading" in drawn and "MB/s" in drawn, drawn[-2000:]


def test_verbose_logs_what_is_done(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    ok(ws.run("create", "x"))
    quiet = ok(ws.run("gc"))
    assert "lock taken" not in quiet.stderr
    loud = ok(ws.run("gc", "-v"))
    assert "snapstore: snapstore.ops.repository: exclusive lock taken for gc" in loud.stderr
    assert "opened repository" in ok(ws.run("-vv", "gc")).stderr


def test_help_has_examples_and_exit_codes(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    for command in ("create", "restore", "cleanup", "ls"):
        text = ok(ws.run(command, "--help")).stdout
        assert "Examples:" in text and f"snapstore {command}" in text, command
        assert "Exit codes: 0 ok" in text and "75 repository locked" in text, command


def test_shell_completion_completes_snapshot_names(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    name = created_name(ok(ws.run("create", "x")).stdout)
    env = ws.env(
        _SNAPSTORE_COMPLETE="bash_complete", COMP_WORDS=f"snapstore show {name[:8]}", COMP_CWORD="2"
    )
    r = subprocess.run(
        ws.cli_command(), env=env, cwd=ws.root, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and f"plain,{name}" in r.stdout.splitlines(), (r.stdout, r.stderr)
