"""``create --reread`` on the files side: every file is read again, none is taken from the
parent snapshot by its size and times (spec/database.md, *Incremental dump*, ``--reread``)."""

from __future__ import annotations

from snapstore.manager import SnapshotManager


def test_reread_reads_every_file_again(manager: SnapshotManager) -> None:
    first = manager.create("one", include_db=False)
    again = manager.create("two", include_db=False)
    assert again.reused_files > 0 and again.read_bytes == 0
    reread = manager.create("three", include_db=False, reread=True)
    assert reread.reused_files == 0 and reread.read_bytes == first.read_bytes > 0
