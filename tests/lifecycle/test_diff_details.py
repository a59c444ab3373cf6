"""What diff and restore --dry-run say about a changed path (spec/diff.md).

A modified file says what changed (size, content, then mode, owner, mtime), a changed symlink
shows its old and new target, and ``restore --dry-run --verify`` reads live files as the real
``--verify`` does, so a file whose content changed with size and mtime kept is reported.
"""

from __future__ import annotations

import json
import os

from snapstore.manager import SnapshotManager
from tests.helpers import Workspace, tree_state
from tests.lifecycle.conftest import text, write


def _files(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    return {c["path"]: c for c in doc["files"]}  # type: ignore[attr-defined, index]


def test_modified_files_and_links_say_what_changed(lws: Workspace, lm: SnapshotManager) -> None:
    b = lws.bulk
    write(b, "grown.txt", text(1, 3000))
    write(b, "rewritten.txt", text(2, 3000))
    os.symlink("grown.txt", b / "mylink2")
    a = lm.create("a").snapshot.snapshot_name
    write(b, "grown.txt", text(1, 3000) + b"more")
    write(b, "rewritten.txt", text(3, 3000))  # same size, other bytes
    (b / "rewritten.txt").chmod(0o600)
    (b / "mylink2").unlink()
    os.symlink("rewritten.txt", b / "mylink2")
    after = lm.create("b").snapshot.snapshot_name

    doc = json.loads(lws.run("diff", a, after, "--json").stdout)
    files = _files(doc)
    assert files["grown.txt"]["details"] == ["size", "content", "mtime"]
    assert files["rewritten.txt"]["details"] == ["content", "mode 644 -> 600", "mtime"]
    assert files["mylink2"]["change"] == "modified"
    assert files["mylink2"]["details"][0] == "link grown.txt -> rewritten.txt"  # type: ignore[index]

    out = lws.run("diff", a, after).stdout
    assert "M grown.txt (2.9 KB -> 2.9 KB; size, content, mtime)" in out, out
    assert "M rewritten.txt (2.9 KB -> 2.9 KB; content, mode 644 -> 600, mtime)" in out, out
    link_line = next(ln for ln in out.splitlines() if " mylink2 (" in ln)
    assert "link grown.txt -> rewritten.txt" in link_line and "0 B" not in link_line, out


def test_dry_run_with_verify_reads_content_like_the_real_verify(
    lws: Workspace, lm: SnapshotManager
) -> None:
    f = lws.bulk / "data.bin"
    write(lws.bulk, "data.bin", text(4, 4000))
    name = lm.create("base").snapshot.snapshot_name
    st = f.stat()
    write(lws.bulk, "data.bin", text(5, 4000))  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same mtime
    before = tree_state(lws.bulk)

    quick = lws.run("restore", name, "--dry-run", "--no-db")
    assert quick.returncode == 0, quick.stderr
    assert "no differences" in quick.stdout  # size and mtime match: taken as unchanged

    r = lws.run("restore", name, "--dry-run", "--no-db", "--verify")
    assert r.returncode == 0, r.stderr
    assert "M data.bin (3.9 KB -> 3.9 KB; content)" in r.stdout, r.stdout
    doc = json.loads(lws.run("restore", name, "--dry-run", "--no-db", "--verify", "--json").stdout)
    assert _files(doc)["data.bin"]["details"] == ["content"]
    assert tree_state(lws.bulk) == before  # a dry run changes nothing

    # The real --verify restore does rewrite it, so the dry run told the truth.
    real = lws.run("restore", name, "--yes", "--no-db", "--verify", "--no-safety-snapshot")
    assert real.returncode == 0, real.stderr
    assert f.read_bytes() == text(4, 4000)
