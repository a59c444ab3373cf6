"""Encrypted repositories end to end through the CLI (spec/encryption.md): init, create, list,
restore, check; passwords from every source and never anywhere else; wrong passwords; keys;
create on first use; a replaced config refused; unencrypted repositories unchanged."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import blake3
import pytest

from snapstore.backend.local import LocalBackend
from tests.helpers import (
    TEST_PASSWORD,
    Workspace,
    assert_same_tree,
    created_name,
    error_line,
    ok,
    tree_state,
)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace.make(tmp_path)
    w.password = TEST_PASSWORD  # the CLI gets it as $SNAPSTORE_PASSWORD
    return w


def _init(ws: Workspace) -> None:
    r = ok(ws.run("init", "--encryption", "--kdf-memory", "1"))
    assert "Encrypted repository created" in r.stdout


def test_round_trip_through_the_cli(ws: Workspace) -> None:
    _init(ws)
    before = tree_state(ws.bulk)
    name = created_name(ok(ws.run("create", "before the risky run")).stdout)
    assert name in ok(ws.run("list")).stdout
    (ws.bulk / "new.txt").write_text("made after the snapshot")
    ok(ws.run("restore", name, "--yes", "--no-safety-snapshot"))
    assert_same_tree(before, tree_state(ws.bulk), "restored tree")
    assert "healthy" in ok(ws.run("check", "--read-data")).stdout
    config = json.loads((ws.repo / "config").read_text())
    assert config["version"] == 2 and "chunker" not in config and "sealed" in config


def test_wrong_password_is_one_line_exit_1_without_the_password(ws: Workspace) -> None:
    _init(ws)
    ok(ws.run("create", "one"))
    for command in (["list"], ["restore", "x", "--yes"], ["check"], ["key", "list"]):
        r = ws.run(*command, env=ws.env(SNAPSTORE_PASSWORD="hunter2-wrong"))
        assert r.returncode == 1, r
        error_line(r.stderr, "wrong password")
        assert "hunter2" not in r.stderr + r.stdout


def test_no_password_and_no_terminal(ws: Workspace) -> None:
    _init(ws)
    env = ws.env()
    del env["SNAPSTORE_PASSWORD"]
    r = ws.run("list", env=env)
    assert r.returncode == 1
    error_line(r.stderr, "encrypted and no password was given")


def test_password_from_a_file_and_from_a_command(ws: Workspace, tmp_path: Path) -> None:
    _init(ws)
    env = ws.env()
    del env["SNAPSTORE_PASSWORD"]
    secret = tmp_path / "pw"
    secret.write_text(TEST_PASSWORD + "\n")
    ok(ws.run("list", env={**env, "SNAPSTORE_PASSWORD_FILE": str(secret)}))
    script = tmp_path / "pw.py"
    script.write_text(f"print({TEST_PASSWORD!r})\n")
    command = f"{sys.executable} {script}"
    ok(ws.run("list", env={**env, "SNAPSTORE_PASSWORD_COMMAND": command}))
    toml = tmp_path / "snapstore.toml"
    toml.write_text(f"password_command = {json.dumps(command)}\n")
    ok(ws.run("--config", str(toml), "list", env=env))
    # A failing command: its exit status, never its output (it could be the password).
    script.write_text(f"import sys; print({TEST_PASSWORD!r}); sys.exit(3)\n")
    r = ws.run("list", env={**env, "SNAPSTORE_PASSWORD_COMMAND": command})
    assert r.returncode == 1
    error_line(r.stderr, "password_command failed (exit status 3)")
    assert TEST_PASSWORD not in r.stderr + r.stdout


def test_the_password_is_nowhere_but_where_it_was_given(ws: Workspace) -> None:
    """Not in the logs (-vv), the repository, the cache, or any output."""
    _init(ws)
    r = ok(ws.run("-vv", "create", "logged run"))
    r2 = ok(ws.run("-vv", "check", "--read-data"))
    assert TEST_PASSWORD not in r.stdout + r.stderr + r2.stdout + r2.stderr
    assert "opened repository" in r.stderr  # the log really was on
    needle = TEST_PASSWORD.encode()
    for root in (ws.repo, ws.cache):
        for path in root.rglob("*"):
            if path.is_file():
                assert needle not in path.read_bytes(), path


def test_keys_add_list_remove_passwd_and_never_the_last(ws: Workspace) -> None:
    _init(ws)
    ok(ws.run("create", "keyed"))
    ok(ws.run("key", "add", "--label", "laptop", env=ws.env(SNAPSTORE_NEW_PASSWORD="second")))
    listed = json.loads(ok(ws.run("key", "list", "--json")).stdout)
    assert len(listed) == 2
    first = next(k["id"] for k in listed if k["current"])
    # The second password opens the repository; the first key can then be removed.
    as_second = ws.env(SNAPSTORE_PASSWORD="second")
    r = ws.run("key", "remove", "--yes", first, env=ws.env())
    assert r.returncode == 2
    error_line(r.stderr, "opened the repository with")
    ok(ws.run("key", "remove", "--yes", first[:8], env=as_second))
    r = ws.run("list")
    assert r.returncode == 1
    error_line(r.stderr, "wrong password")
    # passwd: a new key for a new password, the old one gone.
    ok(ws.run("key", "passwd", env={**as_second, "SNAPSTORE_NEW_PASSWORD": "third"}))
    assert ws.run("list", env=as_second).returncode == 1
    as_third = ws.env(SNAPSTORE_PASSWORD="third")
    only = json.loads(ok(ws.run("key", "list", "--json", env=as_third)).stdout)
    assert len(only) == 1 and only[0]["current"]
    r = ws.run("key", "remove", "--yes", only[0]["id"], env=as_third)
    assert r.returncode == 1
    error_line(r.stderr, "last key")
    assert len(list((ws.repo / "keys").iterdir())) == 1
    ok(
        ws.run(
            "restore", created_name_of(ws, as_third), "--yes", "--no-safety-snapshot", env=as_third
        )
    )


def created_name_of(ws: Workspace, env: dict[str, str]) -> str:
    return str(json.loads(ok(ws.run("list", "--json", env=env)).stdout)[0]["snapshot_name"])


def test_key_commands_on_an_unencrypted_repository(ws: Workspace) -> None:
    ws.password = None
    ok(ws.run("init"))
    r = ws.run("key", "list")
    assert r.returncode == 2
    error_line(r.stderr, "not encrypted")


def test_create_on_first_use_makes_an_encrypted_repository_when_configured(
    ws: Workspace, tmp_path: Path
) -> None:
    toml = tmp_path / "snapstore.toml"
    toml.write_text("encryption = true\n")
    ok(ws.run("--config", str(toml), "create", "first use"))
    assert json.loads((ws.repo / "config").read_text())["version"] == 2
    listed = json.loads(ok(ws.run("list", "--json")).stdout)
    assert [s["description"] for s in listed] == ["first use"]


def test_a_plain_config_put_over_an_encrypted_one_is_refused(ws: Workspace) -> None:
    _init(ws)
    ok(ws.run("create", "secret"))
    plain = Workspace.make(ws.root / "plain", populate=False)
    ok(plain.run("init"))
    shutil.copy(plain.repo / "config", ws.repo / "config")
    r = ws.run("create", "would be plaintext")
    assert r.returncode == 1
    error_line(r.stderr, "has key objects")
    assert len(list((ws.repo / "snapshots").iterdir())) == 1


def test_unencrypted_repositories_are_unchanged(tmp_path: Path) -> None:
    """Version 1, no encryption field, plain BLAKE3 ids: what older snapstores wrote."""
    ws = Workspace.make(tmp_path, populate=False)
    (ws.bulk / "f").write_bytes(os.urandom(5000))
    ok(ws.run("init"))
    name = created_name(ok(ws.run("create", "plain")).stdout)
    config = json.loads((ws.repo / "config").read_text())
    assert config["version"] == 1 and "encryption" not in config and "sealed" not in config
    assert (ws.repo / "snapshots" / name).is_file()
    assert not (ws.repo / "keys").exists()
    assert blake3.blake3((ws.bulk / "f").read_bytes()).digest() in _all_packs(ws)


def _all_packs(ws: Workspace) -> bytes:
    packs = [p for p in (ws.repo / "packs").rglob("*") if p.is_file()]
    return b"".join(p.read_bytes() for p in packs)


def test_raw_backend_refuses_an_encrypted_config(ws: Workspace) -> None:
    from snapstore.base.errors import RepositoryError
    from snapstore.store.config import read_config

    _init(ws)
    with pytest.raises(RepositoryError, match="encrypted repository"):
        read_config(LocalBackend(ws.repo))
