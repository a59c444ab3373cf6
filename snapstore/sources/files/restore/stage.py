"""Building the staged tree of one root from the planner's actions (spec/restore.md).

Directories are made with mode 0700 and get their own mode, owner and mtime last, deepest
first. Files to write get their chunks from the store through one read plan over the actions
(store/readplan.py: neighbouring chunks of many files fetched together, verified on workers) and
are written by the writer threads; unchanged live files and the live entries restore keeps are
hard-linked in, and nothing about a linked inode is ever changed. Every name is created with
an exclusive create that does not follow symlinks, inside directories made by this restore,
and the listing was checked to hold nothing below a symlink or a file: nothing is written
outside the staging directory whatever the listing says.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from snapstore.base.errors import CorruptData, SourceError
from snapstore.base.reporting import Reporter
from snapstore.manifest.listing import FileEntry
from snapstore.sources.files.restore import write_files as _writer
from snapstore.sources.files.restore.live import (
    KEEP,
    KEEP_DIR,
    LINK,
    MAKE_DIR,
    MAKE_SYMLINK,
    WRITE,
    Action,
)
from snapstore.sources.files.restore.write_files import CREATE, FileWriter, file_chunks, stream_file
from snapstore.sources.files.walk import Item
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.concurrency import quick_gil_handoff
from snapstore.store.readplan import ReadPlan
from snapstore.tree.pathmax import fits, too_long


@dataclass
class RestoreStats:
    """What restoring one root did."""

    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0
    written_files: int = 0  # files written from the store
    written_bytes: int = 0
    linked_files: int = 0  # unchanged live files linked in, not rewritten
    kept: int = 0  # live entries the snapshot cannot speak for, kept
    removed: int = 0  # live files the restored tree no longer has

    def describe(self, target: str) -> str:
        """One line for the user: what the restore of this root cost."""
        mb = self.written_bytes / (1024 * 1024)
        line = (
            f"  {target}: {self.files} files, {self.linked_files} unchanged (kept), "
            f"{self.written_files} written ({mb:.1f} MB)"
        )
        if self.kept:
            line += f"; {self.kept} entries the snapshot does not hold kept as they were"
        return line


# (path, mode, mtime_ns, uid, gid): a staged directory's metadata, set after its contents.
_DirMeta = tuple[bytes, int, int, int | None, int | None]


def _needs(action: Action) -> tuple[bytes, ...]:
    """The chunks an action reads from the store (a file to write; a file to link reads
    nothing, unless the link fails: then its chunks are read on their own)."""
    return action.entry.chunks if action.kind == WRITE else ()  # type: ignore[union-attr]


def fill(
    store: ChunkStore,
    actions: Iterator[Action],
    staging: bytes,
    reporter: Reporter,
    stats: RestoreStats,
    where: str,
) -> None:
    """Build the staged tree in ``staging`` (an empty directory made by the caller, or for a
    lone file or symlink its name, which the one action creates). The chunks of the files to
    write come from one read plan over the actions (store/readplan.py)."""
    # A file part (``restore --include``) is staged alone: the staging name is the file.
    base = staging if os.path.isdir(staging) else os.path.dirname(staging)
    stager = _Stager(store, staging, reporter, stats, where)
    with (
        ReadPlan(store, actions, _needs) as plan,
        quick_gil_handoff(),
        FileWriter(stager.as_root, base) as writer,
    ):
        for a in plan.items():
            stager.do(a, plan, writer)
    stager.finish_dirs()


class _Stager:
    """Makes each action's entry inside the staging directory (module doc)."""

    def __init__(
        self, store: ChunkStore, staging: bytes, reporter: Reporter, stats: RestoreStats, where: str
    ) -> None:
        self.store = store
        self.staging = staging
        self.reporter = reporter
        self.stats = stats
        self.where = where
        self.as_root = os.geteuid() == 0
        self.dirs: list[_DirMeta] = []

    def do(self, a: Action, plan: ReadPlan[Action], writer: FileWriter) -> None:
        dest = self.staging + b"/" + a.rel if a.rel else self.staging
        if not fits(dest):
            # Before the journal: the staging goes, the target is not changed.
            raise SourceError(f"{self.where}: " + too_long(dest, "cannot restore to"))
        e = a.entry
        if a.kind == MAKE_DIR:
            assert e is not None
            if a.rel:
                os.mkdir(dest, 0o700)
            self.dirs.append((dest, e.mode, e.mtime_ns, e.uid, e.gid))
            self.stats.dirs += 1
        elif a.kind == MAKE_SYMLINK:
            assert e is not None
            self._symlink(e, dest)
        elif a.kind in (WRITE, LINK):
            assert e is not None
            self._file(a, e, dest, plan, writer)
        elif a.kind == KEEP_DIR:
            assert a.live is not None
            os.mkdir(dest, 0o700)
            st = a.live.st
            self.dirs.append((dest, stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_uid, st.st_gid))
        elif a.kind == KEEP:
            assert a.live is not None
            _keep(a.live, dest, self.as_root, self.where)
            self.stats.kept += 1
        else:
            raise CorruptData(f"{self.where}: unknown action {a.kind}")

    def _symlink(self, e: FileEntry, dest: bytes) -> None:
        assert e.target is not None
        os.symlink(e.target, dest)
        if self.as_root and e.uid is not None:
            os.lchown(dest, e.uid, e.gid if e.gid is not None else -1)
        os.utime(dest, ns=(e.mtime_ns, e.mtime_ns), follow_symlinks=False)
        self.stats.symlinks += 1

    def _file(
        self, a: Action, e: FileEntry, dest: bytes, plan: ReadPlan[Action], writer: FileWriter
    ) -> None:
        stats = self.stats
        if a.kind == LINK and _link(a.live, dest):  # type: ignore[arg-type]
            stats.linked_files += 1
            self.reporter.skip(e.size)  # not written: no throughput
        else:
            # A link that failed (a limit on links, say): its chunks were not planned, so
            # they are read now.
            chunks = plan.content() if a.kind == WRITE else self.store.read_many(e.chunks)
            _write(writer, chunks, e, dest, self.reporter, self.where)
            stats.written_files += 1
            stats.written_bytes += e.size
        stats.files += 1
        stats.bytes += e.size

    def finish_dirs(self) -> None:
        """Directories last and deepest first: their mode may forbid writing, and writing
        their children changes their mtime."""
        for dest, mode, mtime_ns, uid, gid in reversed(self.dirs):
            if self.as_root and uid is not None:
                os.chown(dest, uid, gid if gid is not None else -1)
            os.chmod(dest, mode)
            os.utime(dest, ns=(mtime_ns, mtime_ns))


def _write(
    writer: FileWriter,
    data: Iterator[bytes],
    e: FileEntry,
    dest: bytes,
    reporter: Reporter,
    where: str,
) -> None:
    if e.size <= _writer.SMALL_RESTORE:
        writer.small(dest, e, file_chunks(data, e, where))
        reporter.advance(e.size)
    else:
        stream_file(data, e, dest, writer, reporter, where)


def _link(live: Item, dest: bytes) -> bool:
    """Hard-link the live file at ``dest``; False when the file system refuses."""
    try:
        os.link(live.abs, dest, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.EMLINK, errno.EXDEV, errno.EPERM, errno.EACCES, errno.ENOTSUP):
            return False
        raise
    return True


def _keep(live: Item, dest: bytes, as_root: bool, where: str) -> None:
    """Put a live entry the snapshot cannot speak for into the staged tree, as it is: a hard
    link (same inode), or where the file system refuses one, a copy with its metadata."""
    st = live.st
    try:
        os.link(live.abs, dest, follow_symlinks=False)
        return
    except OSError as e:
        if e.errno not in (errno.EMLINK, errno.EXDEV, errno.EPERM, errno.EACCES, errno.ENOTSUP):
            raise
    try:
        if stat.S_ISREG(st.st_mode):
            src = os.open(live.abs, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                fd = os.open(dest, CREATE, 0o600)
                try:
                    with open(src, "rb", closefd=False) as fin, open(fd, "wb", closefd=False) as f:
                        shutil.copyfileobj(fin, f, 1 << 20)
                finally:
                    os.close(fd)
            finally:
                os.close(src)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(live.abs), dest)
        else:
            os.mknod(dest, st.st_mode, st.st_rdev)
        if as_root:
            os.chown(dest, st.st_uid, st.st_gid, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(dest, stat.S_IMODE(st.st_mode))
        os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    except OSError as e:
        raise SourceError(
            f"{where}: cannot keep {os.fsdecode(live.abs)} (the snapshot does not hold it, so "
            f"restore must not remove it): {e.strerror}"
        ) from None
