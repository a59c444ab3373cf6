"""Append-only storage (spec/backends.md, "Append-only storage"; spec/copy.md): create and
copy never delete or replace an object, not even when a copy is run again after a failure;
delete, cleanup and gc say in one line that they need delete rights."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapstore.backend import Backend, Kind
from snapstore.backend.delegating import Delegating
from snapstore.backend.local import LocalBackend
from snapstore.manifest.catalog import Catalog
from tests.copy.conftest import Pair
from tests.copy.wrappers import AppendOnly, wrap_locations
from tests.helpers import error_line, pack_files


class FailsAtIndex(Delegating):
    """The destination fails its first index put (a copy dying after its packs)."""

    failed = False

    def put(self, kind: Kind, name: str, data: bytes, *, overwrite: bool = True) -> None:
        if kind is Kind.INDEX and not FailsAtIndex.failed:
            FailsAtIndex.failed = True
            raise OSError(5, "input/output error (injected)")
        super().put(kind, name, data, overwrite=overwrite)


@pytest.fixture
def refusals(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Both repositories of ``pair`` on append-only storage; what they refused."""
    refused: list[str] = []

    def append_only(backend: Backend) -> Backend:
        return AppendOnly(backend, refused)

    def failing_once(backend: Backend) -> Backend:
        return FailsAtIndex(AppendOnly(backend, refused))

    FailsAtIndex.failed = False
    wrap_locations(monkeypatch, {pair.ws.repo: append_only, pair.dest: failing_once})
    return refused


def test_create_and_copy_never_delete_or_replace(
    pair: Pair, refusals: list[str], tmp_path: Path
) -> None:
    first = pair.snap("first")
    with pytest.raises(OSError, match="injected"):
        pair.source().copy(str(pair.dest))
    packs = {p.name for p in pack_files(pair.dest)}
    assert packs and not Catalog(LocalBackend(pair.dest)).names()  # packs, no snapshot yet
    # Run again: the very same packs (the same names) are found in place, not replaced.
    again = pair.source().copy(str(pair.dest))
    assert [s.status for s in again.snapshots] == ["copied"]
    assert {p.name for p in pack_files(pair.dest)} == packs
    (pair.ws.bulk / "more.txt").write_text("more")
    second = pair.snap("second")
    pair.source().copy(str(pair.dest))
    assert refusals == []
    dest = pair.destination()
    assert dest.check(read_data=True).ok
    pair.restores_exactly(dest, first, tmp_path / "r1")
    pair.restores_exactly(dest, second, tmp_path / "r2")


@pytest.mark.parametrize(
    ("command", "operation"),
    [
        (["delete", "{old}", "--yes"], "delete"),
        (["cleanup", "--yes"], "cleanup"),
        (["gc", "--max-unused", "0"], "gc"),
    ],
)
def test_deleting_commands_say_they_need_delete_rights(
    pair: Pair, refusals: list[str], command: list[str], operation: str
) -> None:
    old = pair.snap("old")
    (pair.ws.bulk / "data00.bin").unlink()
    pair.snap("new")
    if operation == "gc":  # something for gc to remove: a snapshot gone without its data
        Catalog(LocalBackend(pair.ws.repo)).delete(old)
    config = pair.ws.root / "policy.toml"
    config.write_text("auto_cleanup = false\n[retention]\nkeep_last = 1\nkeep_weekly_weeks = 0\n")
    args = [a.format(old=old) for a in command]
    r = pair.ws.invoke(*args, env={"SNAPSTORE_CONFIG": str(config)})
    assert r.exit_code == 1, r.output
    error_line(r.stderr, f"error: {operation} needs the right to delete and replace objects")
    assert refusals and "(append-only)" in r.stderr
