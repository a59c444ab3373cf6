"""ls, cat, find and export from the CLI: a look inside snapshots without restoring them."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from tests.helpers import (
    Workspace,
    assert_same_tree,
    created_name,
    error_line,
    file_chunk_location,
    flip_byte,
    ok,
    tree_state,
)


@pytest.fixture
def snap(small_ws: Workspace) -> str:
    (small_ws.bulk / "data" / "results.csv").write_text("a,b\n" * 500)
    (small_ws.bulk / "data" / "binary.dat").write_bytes(bytes(range(256)) * 300)
    return created_name(ok(small_ws.run("create", "first", "--no-db")).stdout)


def test_ls_lists_a_folder_its_subtree_and_a_file(small_ws: Workspace, snap: str) -> None:
    top = ok(small_ws.run("ls", snap)).stdout.splitlines()
    assert top == ["dangling", "data/", "empty-dir/", "link", "notes.txt"]
    data = ok(small_ws.run("ls", snap, "data")).stdout.splitlines()
    assert data == ["data/binary.dat", "data/empty.txt", "data/results.csv", "data/weights.bin"]
    everything = ok(small_ws.run("ls", snap, "-r")).stdout.splitlines()
    assert "data/weights.bin" in everything and "empty-dir/" in everything
    one = ok(small_ws.run("ls", snap, "/data/results.csv", "--long")).stdout.splitlines()
    assert len(one) == 1 and one[0].startswith("-rw") and " 2000 " in one[0]
    link = ok(small_ws.run("ls", snap, "link", "-l")).stdout
    assert link.startswith("l") and "-> data/weights.bin" in link


def test_ls_json_is_an_array_of_entries(small_ws: Workspace, snap: str) -> None:
    docs = json.loads(ok(small_ws.run("ls", snap, "data", "--json")).stdout)
    by_path = {d["path"]: d for d in docs}
    assert by_path["data/results.csv"]["size"] == 2000
    assert by_path["data/results.csv"]["type"] == "file"
    assert all(d["snapshot"] == snap for d in docs)


@pytest.mark.parametrize(
    ("path", "needle"),
    [("nope", "has no 'nope'"), ("../etc", "leaves the snapshot"), ("data/x/..", "leaves")],
)
def test_ls_of_a_path_not_in_the_snapshot_is_one_error_line(
    small_ws: Workspace, snap: str, path: str, needle: str
) -> None:
    r = small_ws.run("ls", snap, path)
    assert r.returncode == 2 and r.stdout == ""
    error_line(r.stderr, needle)
    # With --json the same error is one JSON object on stderr, stdout empty.
    r = small_ws.run("ls", snap, path, "--json")
    assert r.returncode == 2 and r.stdout == ""
    err = json.loads(r.stderr)
    assert err["exit_code"] == 2 and needle in err["error"]


def test_cat_gives_the_exact_bytes(small_ws: Workspace, snap: str) -> None:
    for rel in ("data/binary.dat", "data/weights.bin", "notes.txt", "data/empty.txt"):
        got = small_ws.run_bytes("cat", snap, rel)
        assert got.returncode == 0, got.stderr
        assert got.stdout == (small_ws.bulk / rel).read_bytes(), rel


@pytest.mark.parametrize(
    ("path", "needle"),
    [("missing.txt", "has no"), ("data", "is a folder"), ("link", "is a symlink")],
)
def test_cat_of_something_that_is_not_a_file(
    small_ws: Workspace, snap: str, path: str, needle: str
) -> None:
    r = small_ws.run("cat", snap, path)
    assert r.returncode == 2 and r.stdout == ""
    error_line(r.stderr, needle)


def test_cat_of_a_damaged_chunk_names_snapshot_and_path(small_ws: Workspace, snap: str) -> None:
    pack, offset, _ = file_chunk_location(small_ws, snap, b"data/weights.bin")
    flip_byte(pack, offset + 3)
    r = small_ws.run("cat", snap, "data/weights.bin")
    assert r.returncode == 1
    line = error_line(r.stderr, alone=False)
    assert "does not match" in line or "damaged" in line or "corrupt" in line.lower()
    assert f"snapshot {snap}" in line and "data/weights.bin" in line, line


@pytest.mark.parametrize("as_tar", [False, True])
def test_export_of_a_damaged_chunk_names_snapshot_and_path_and_leaves_nothing(
    small_ws: Workspace, snap: str, tmp_path: Path, as_tar: bool
) -> None:
    pack, offset, _ = file_chunk_location(small_ws, snap, b"data/weights.bin")
    flip_byte(pack, offset + 3)
    place = tmp_path / "exports"
    place.mkdir()
    out = place / ("snap.tar" if as_tar else "exported")
    r = small_ws.run("export", snap, *(["--tar", str(out)] if as_tar else [str(out)]))
    assert r.returncode == 1, r.stderr
    line = error_line(r.stderr)
    assert f"snapshot {snap}" in line and "data/weights.bin" in line, line
    assert "does not match" in line, line
    assert list(place.iterdir()) == []  # no half tree, no temporary beside it


def test_cat_of_an_unknown_snapshot(small_ws: Workspace, snap: str) -> None:
    r = small_ws.run("cat", "metis_19990101", "notes.txt")
    assert r.returncode == 2
    error_line(r.stderr, "no snapshot")


def test_find_tells_which_snapshots_hold_a_file(small_ws: Workspace, snap: str) -> None:
    (small_ws.bulk / "data" / "results.csv").write_text("changed\n")
    (small_ws.bulk / "later.csv").write_text("x\n")
    second = created_name(ok(small_ws.run("create", "second", "--no-db")).stdout)
    docs = json.loads(ok(small_ws.run("find", "results.csv", "--json")).stdout)
    assert {(d["snapshot"], d["size"]) for d in docs} == {(snap, 2000), (second, 8)}
    only = json.loads(ok(small_ws.run("find", "*.csv", "-s", second, "--json")).stdout)
    assert {d["path"] for d in only} == {"data/results.csv", "later.csv"}
    by_path = json.loads(ok(small_ws.run("find", "data/*.csv", "--json")).stdout)
    assert {d["path"] for d in by_path} == {"data/results.csv"}
    text = ok(small_ws.run("find", "later.csv")).stdout.splitlines()
    assert len(text) == 1 and text[0].startswith(second) and text[0].endswith("later.csv")
    none = ok(small_ws.run("find", "nothing-like-this"))
    assert none.stdout == "" and "No snapshot holds" in none.stderr


def test_export_writes_the_reference_layout(small_ws: Workspace, snap: str, tmp_path: Path) -> None:
    expected = tree_state(small_ws.bulk)
    out = tmp_path / "exported"
    r = ok(small_ws.run("export", snap, str(out)))
    assert "Exported" in r.stdout
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["snapshot_name"] == snap and meta["description"] == "first"
    assert sorted(os.listdir(out)) == ["bulk_store", "metadata.json"]
    assert_same_tree(expected, tree_state(out / "bulk_store" / small_ws.bulk.name))


def test_export_refuses_a_folder_that_holds_data(
    small_ws: Workspace, snap: str, tmp_path: Path
) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = small_ws.run("export", snap, str(out))
    assert r.returncode == 2
    error_line(r.stderr, "not empty")
    assert (out / "keep.txt").read_text() == "mine" and len(os.listdir(out)) == 1
    both = small_ws.run("export", snap, str(tmp_path / "x"), "--tar", str(tmp_path / "x.tar"))
    assert both.returncode == 2
    error_line(both.stderr, "not both")


def test_export_as_tar_holds_the_same_files(small_ws: Workspace, snap: str, tmp_path: Path) -> None:
    target = tmp_path / "snap.tar.gz"
    ok(small_ws.run("export", snap, "--tar", str(target)))
    with tarfile.open(target) as tar:
        names = set(tar.getnames())
        data = tar.extractfile(f"{snap}/bulk_store/{small_ws.bulk.name}/data/binary.dat")
        assert data is not None and data.read() == (small_ws.bulk / "data/binary.dat").read_bytes()
        link = tar.getmember(f"{snap}/bulk_store/{small_ws.bulk.name}/link")
        assert link.issym() and link.linkname == "data/weights.bin"
    assert f"{snap}/metadata.json" in names
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary left


def test_ls_with_several_roots_starts_with_the_root_labels(
    small_ws: Workspace, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("x")
    env = small_ws.env(SNAPSTORE_BULK=f"{small_ws.bulk}:{other}")
    name = created_name(ok(small_ws.run("create", "two", "--no-db", env=env)).stdout)
    top = ok(small_ws.run("ls", name)).stdout.splitlines()
    assert top == [f"{small_ws.bulk.name}/", "other/"]
    assert small_ws.run_bytes("cat", name, "other/x.txt").stdout == b"x"
