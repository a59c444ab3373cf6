"""Building the staged tree of one root from the planner's actions (spec/restore.md).

Directories are made with mode 0700 and get their own mode, owner and mtime last, deepest
first. Files to write get their chunks from the store (read ahead, verified on workers) and
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
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from snapstore.errors import CorruptData, SourceError
from snapstore.manifest.listing import FileEntry
from snapstore.reporting import Reporter
from snapstore.sources.files.restore import writer as _writer
from snapstore.sources.files.restore.live import (
    KEEP,
    KEEP_DIR,
    LINK,
    MAKE_DIR,
    MAKE_SYMLINK,
    WRITE,
    Action,
)
from snapstore.sources.files.restore.writer import CREATE, FileWriter, file_chunks, stream_file
from snapstore.sources.files.walk import Item
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.concurrency import quick_gil_handoff
from snapstore.tree.pathmax import fits, too_long

# Chunk ids handed to one read_many call, and actions queued at most while looking for them:
# a tree that changed little has long runs of linked files that need no chunk, and they must
# not all be held in memory waiting for the next file to write.
SEGMENT_CHUNKS = 4096
MAX_QUEUED = 20_000


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


class _Ahead:
    """Actions pulled ahead of the loop, so that the chunks of the files to write are read
    ahead (``data``) in segments of at most ``SEGMENT_CHUNKS`` ids. An error while pulling
    (a damaged listing) is raised by ``actions`` once everything before it is done, so it is
    reported at the entry it damages, not taken for a bad chunk of the file being written."""

    def __init__(self, store: ChunkStore, source: Iterator[Action]) -> None:
        self._store = store
        self._source = source
        self._queue: deque[Action] = deque()
        self._ids: list[bytes] = []
        self._error: BaseException | None = None
        self._done = False

    def _pull(self) -> bool:
        if self._done:
            return False
        try:
            action = next(self._source)
        except StopIteration:
            self._done = True
            return False
        except Exception as e:  # re-raised in order by actions()
            self._error = e
            self._done = True
            return False
        self._queue.append(action)
        if action.kind == WRITE:
            self._ids.extend(action.entry.chunks)  # type: ignore[union-attr]
        return True

    def data(self) -> Iterator[bytes]:
        while True:
            while (
                len(self._ids) < SEGMENT_CHUNKS and len(self._queue) < MAX_QUEUED and self._pull()
            ):
                pass
            if not self._ids:
                return
            ids, self._ids = self._ids, []
            yield from self._store.read_many(ids)

    def actions(self) -> Iterator[Action]:
        while True:
            if not self._queue and not self._pull():
                if self._error is not None:
                    raise self._error
                return
            yield self._queue.popleft()


# (path, mode, mtime_ns, uid, gid): a staged directory's metadata, set after its contents.
_DirMeta = tuple[bytes, int, int, int | None, int | None]


def fill(
    store: ChunkStore,
    actions: Iterator[Action],
    staging: bytes,
    reporter: Reporter,
    stats: RestoreStats,
    where: str,
) -> None:
    """Build the staged tree in ``staging`` (an empty directory made by the caller, or for a
    lone file or symlink its name, which the one action creates)."""
    as_root = os.geteuid() == 0
    dirs: list[_DirMeta] = []
    ahead = _Ahead(store, actions)
    data = ahead.data()
    # A file part (``restore --include``) is staged alone: the staging name is the file.
    base = staging if os.path.isdir(staging) else os.path.dirname(staging)
    with quick_gil_handoff(), FileWriter(as_root, base) as writer:
        for a in ahead.actions():
            dest = staging + b"/" + a.rel if a.rel else staging
            if not fits(dest):
                # Before the journal: the staging goes, the target is not changed.
                raise SourceError(f"{where}: " + too_long(dest, "cannot restore to"))
            e = a.entry
            if a.kind == MAKE_DIR:
                assert e is not None
                if a.rel:
                    os.mkdir(dest, 0o700)
                dirs.append((dest, e.mode, e.mtime_ns, e.uid, e.gid))
                stats.dirs += 1
            elif a.kind == MAKE_SYMLINK:
                assert e is not None and e.target is not None
                os.symlink(e.target, dest)
                if as_root and e.uid is not None:
                    os.lchown(dest, e.uid, e.gid if e.gid is not None else -1)
                os.utime(dest, ns=(e.mtime_ns, e.mtime_ns), follow_symlinks=False)
                stats.symlinks += 1
            elif a.kind in (WRITE, LINK):
                assert e is not None
                if a.kind == LINK and _link(a.live, dest):  # type: ignore[arg-type]
                    stats.linked_files += 1
                    reporter.skip(e.size)  # not written: no throughput
                else:
                    # A link that failed (a limit on links, say): its chunks were not read
                    # ahead, so they are read now.
                    chunks = data if a.kind == WRITE else store.read_many(e.chunks)
                    _write(writer, chunks, e, dest, reporter, where)
                    stats.written_files += 1
                    stats.written_bytes += e.size
                stats.files += 1
                stats.bytes += e.size
            elif a.kind == KEEP_DIR:
                assert a.live is not None
                os.mkdir(dest, 0o700)
                st = a.live.st
                dirs.append((dest, stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_uid, st.st_gid))
            elif a.kind == KEEP:
                assert a.live is not None
                _keep(a.live, dest, as_root, where)
                stats.kept += 1
            else:
                raise CorruptData(f"{where}: unknown action {a.kind}")
    # Directories last and deepest first: their mode may forbid writing, and writing their
    # children changes their mtime.
    for dest, mode, mtime_ns, uid, gid in reversed(dirs):
        if as_root and uid is not None:
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
