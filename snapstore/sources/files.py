"""The bulk-storage source: walk a tree into a file listing, and restore a listing into a tree.

Create: every regular file is cut into chunks and stored, unless its size, mtime, ctime and
inode equal those in the parent snapshot's listing, in which case its chunk list is reused
without reading it. Directories (empty ones too), symlinks, modes, mtimes and (as root) owners
are kept; sockets, fifos and devices are skipped with a warning; files that cannot be read are
reported and leave the snapshot marked partial.

Restore is staged: the tree is rebuilt in a hidden sibling of the target and swapped in only
when every file is complete and every chunk verified, so an interrupted or failed restore
leaves the old tree exactly as it was.

Speed and memory (store/pipeline.py): files are read in big blocks on this thread while worker
threads hash and compress the chunks; entries are streamed into the listing in listing order
as their chunks are stored, and the parent snapshot's listing is merged in the same order
rather than loaded whole, so memory does not grow with the number of files (beyond the first
``PREWALK_ITEMS`` walked ahead for the progress total). Restore reads the chunks ahead of the
files being written, neighbouring chunks of a pack with one ranged read, verified on workers.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import queue
import secrets
import shutil
import stat
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain, islice
from pathlib import Path
from typing import Any

from snapstore.errors import CorruptData, InvalidInput, SourceError
from snapstore.manifest.listing import (
    DIR,
    FILE,
    SYMLINK,
    FileEntry,
    load_listing,
    load_listing_maps,
    sort_key,
    store_listing,
)
from snapstore.manifest.schema import BulkRoot
from snapstore.reporting import Reporter
from snapstore.sources.walk import Item, TreeWalker
from snapstore.store.chunker import Chunker
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.pipeline import (
    AddPipeline,
    FileSlot,
    new_pool,
    quick_gil_handoff,
    shutdown_fully,
)

STAGING_TAG = ".snapstore-staging-"
OLD_TAG = ".snapstore-old-"
# Items walked ahead of reading so the progress bar knows the total; a bigger tree is streamed
# (no total) so that memory stays bounded whatever the number of files.
PREWALK_ITEMS = 10_000
# Restore: files at least this big are pushed to disk as soon as they are written, so the final
# sync has little left to wait for.
EARLY_WRITEBACK = 1024 * 1024
# Files reused from the parent snapshot whose chunks are looked up in the store at once.
REUSE_BATCH = 512
# Restore (_FileWriter): files up to SMALL_RESTORE go to one writer thread in
# batches of up to SMALL_BATCH files or SMALL_BATCH_BYTES, with at most RESTORE_SMALL_AHEAD
# bytes waiting; bigger ones are streamed with up to RESTORE_STREAM_AHEAD chunks waiting.
SMALL_RESTORE = 1024 * 1024
RESTORE_STREAM_WRITERS = 2
RESTORE_STREAM_AHEAD = 8
SMALL_BATCH = 64
SMALL_BATCH_BYTES = 2 * 1024 * 1024
RESTORE_SMALL_AHEAD = 16 * 1024 * 1024


@lru_cache(maxsize=4096)
def _user(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


@lru_cache(maxsize=4096)
def _group(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


@dataclass
class _PendingFile:
    """A file being read, hashed and stored by the pipeline."""

    item: Item
    common: dict[str, object]
    slot: FileSlot

    def entry(self) -> FileEntry:
        chunks = tuple(self.slot.ids)
        return FileEntry(type=FILE, size=self.slot.size, chunks=chunks, **self.common)  # type: ignore[arg-type]


@dataclass
class _Reuse:
    """A file unchanged since the parent snapshot (by stat). Its chunks are looked up in the
    store in batches (``REUSE_BATCH``); if one is gone (archived, say) the file is read.

    ``old`` is the parent's entry in ``to_map`` form. Equal size, mtime, ctime and inode mean
    the metadata is unchanged too (chmod and chown change the ctime), so the entry goes into
    the new listing as it is, not decoded into a FileEntry and encoded again: that is most of
    the work of a snapshot of an unchanged tree."""

    item: Item
    old: dict[str, Any]
    checked: bool = False
    read: _PendingFile | None = None

    def chunks(self) -> list[bytes]:
        return self.old["c"]  # type: ignore[no-any-return]

    def entry(self) -> dict[str, Any] | FileEntry:
        old, st = self.old, self.item.st
        if (
            old.get("m") == stat.S_IMODE(st.st_mode)
            and old.get("u") == st.st_uid
            and old.get("g") == st.st_gid
            and old.get("un") == _user(st.st_uid)
            and old.get("gn") == _group(st.st_gid)
        ):
            return old
        # Same ctime, different metadata: a changed user database, or an old listing.
        chunks = tuple(self.chunks())
        return FileEntry(type=FILE, size=st.st_size, chunks=chunks, **_common(self.item))  # type: ignore[arg-type]


def _common(item: Item) -> dict[str, Any]:
    """The FileEntry fields every entry type takes from ``lstat``."""
    st = item.st
    return dict(
        path=item.rel,
        mode=stat.S_IMODE(st.st_mode),
        mtime_ns=st.st_mtime_ns,
        uid=st.st_uid,
        gid=st.st_gid,
        user=_user(st.st_uid),
        group=_group(st.st_gid),
        inode=st.st_ino,
        ctime_ns=st.st_ctime_ns,
    )


def _reusable(old: dict[str, Any], st: os.stat_result) -> bool:
    """Whether the parent's entry (``to_map`` form) describes this file unchanged."""
    # (Chunk ids that are not ids are looked up, not found, and the file is read.)
    return (
        old.get("t") == FILE
        and old.get("s") == st.st_size
        and old.get("mt") == st.st_mtime_ns
        and old.get("ct") == st.st_ctime_ns
        and old.get("i") == st.st_ino
        and isinstance(old.get("c"), list)
    )


ParentEntries = Mapping[bytes, FileEntry] | Iterable[FileEntry | dict[str, Any]]


class _Parent:
    """The parent snapshot's entries by path, in ``to_map`` form: from a mapping, or from a
    stream in listing order (``load_entry_maps``) that is merged with the walk, which goes in
    the same order, so that only one entry is held at a time."""

    def __init__(self, parent: ParentEntries | None, reporter: Reporter) -> None:
        self.reporter = reporter
        self._map = parent if isinstance(parent, Mapping) else None
        self._stream = None if parent is None or self._map is not None else iter(parent)
        self._cur: dict[str, Any] | None = None
        self._advance()

    def _advance(self) -> None:
        self._cur = None
        if self._stream is None:
            return
        try:
            cur = next(self._stream, None)
            if isinstance(cur, FileEntry):
                cur = cur.to_map()
            if cur is not None and not isinstance(cur["p"], bytes):
                raise TypeError(f"path {cur['p']!r} is not bytes")
        except (CorruptData, KeyError, TypeError) as e:
            # A damaged old snapshot must not block new ones: read the rest instead.
            self.reporter.warn(f"{e}; reading every file instead of reusing it")
            self._stream = None
            return
        if cur is None:
            self._stream = None
        self._cur = cur

    def get(self, rel: bytes) -> dict[str, Any] | None:
        """The parent's entry for ``rel``; calls must come in listing order, and each entry
        is handed out once."""
        if self._map is not None:
            entry = self._map.get(rel)
            return None if entry is None else entry.to_map()
        cur = self._cur
        if cur is not None and cur["p"] != rel:
            # Skip what the walk passed by (directories, deleted files) in listing order.
            key = sort_key(rel)
            while cur is not None and sort_key(cur["p"]) < key:
                self._advance()
                cur = self._cur
            if cur is not None and cur["p"] != rel:
                return None
        if cur is not None:
            self._advance()  # the common case in a tree that changed little: the next one
        return cur


@dataclass
class BackupResult:
    """A captured root and what it cost."""

    root: BulkRoot
    read_bytes: int = 0
    reused_files: int = 0
    skipped: list[str] = field(default_factory=list)


class FilesBackup:
    """Captures bulk roots into the chunk store."""

    def __init__(self, store: ChunkStore, excludes: tuple[str, ...], reporter: Reporter) -> None:
        self.store = store
        self.walker = TreeWalker(tuple(os.fsencode(p) for p in excludes))
        self.reporter = reporter
        self.chunker = Chunker(store.config.chunker)

    def backup_root(
        self,
        root: Path,
        label: str,
        parent: ParentEntries | None,
    ) -> BackupResult:
        """Capture ``root``. ``parent``: the previous snapshot's entries of this root, as a
        mapping by path or as a stream in listing order (``load_entry_maps``), for reuse."""
        root_b = os.fsencode(root)
        if not os.path.isdir(root_b):
            raise InvalidInput(f"bulk root {root} does not exist or is not a directory")
        skipped: list[str] = []
        walk = self.walker.walk(root_b, skipped, self.reporter.warn)
        # Walk ahead first so the progress bar knows the total (stat-only, cheap).
        ahead = list(islice(walk, PREWALK_ITEMS))
        total: int | None = sum(i.st.st_size for i in ahead if stat.S_ISREG(i.st.st_mode))
        if len(ahead) == PREWALK_ITEMS:
            total = None
        self.reporter.start(f"Reading {root}", total)
        result = BackupResult(BulkRoot(str(root), label, []))
        with quick_gil_handoff(), AddPipeline(self.store, progress=self.reporter.advance) as pipe:
            entries = self._entries(
                chain(ahead, walk), _Parent(parent, self.reporter), result, skipped, pipe
            )
            del ahead
            result.root.listing = store_listing(self.store, entries)
        self.reporter.finish()
        result.skipped = skipped
        return result

    def _entries(
        self,
        items: Iterator[Item],
        parent: _Parent,
        result: BackupResult,
        skipped: list[str],
        pipe: AddPipeline,
    ) -> Iterator[FileEntry | dict[str, Any]]:
        """The listing's entries in walk order, each yielded once its chunks are stored."""
        r = result.root
        pending: deque[FileEntry | _PendingFile | _Reuse] = deque()
        unchecked: list[_Reuse] = []

        def check() -> None:
            self._check_reuse(unchecked, pipe)
            unchecked.clear()

        def done(got: FileEntry | _PendingFile | _Reuse) -> FileEntry | dict[str, Any] | None:
            if isinstance(got, _Reuse):
                if got.read is None:
                    size = got.item.st.st_size
                    result.reused_files += 1
                    r.files += 1
                    r.bytes += size
                    self.reporter.advance(size)
                    return got.entry()
                got = got.read
            if isinstance(got, _PendingFile):
                error = got.slot.error
                if error is not None:
                    if error.errno in (errno.ENOSPC, errno.EDQUOT):
                        raise error
                    return self._skip(got.item, error.strerror or str(error), skipped)
                result.read_bytes += got.slot.size
                got = got.entry()
            if got.type == FILE:
                r.files += 1
                r.bytes += got.size
            elif got.type == DIR:
                r.dirs += 1
            else:
                r.symlinks += 1
            return got

        def blocked(head: FileEntry | _PendingFile | _Reuse) -> bool:
            if isinstance(head, _Reuse):
                if not head.checked:
                    if len(pending) < 4 * REUSE_BATCH:
                        return True  # wait for a fuller batch
                    check()
                if head.read is None:
                    return False
                head = head.read
            return isinstance(head, _PendingFile) and not head.slot.done

        for item in items:
            got = self._capture(item, parent, skipped, pipe)
            if got is not None:
                pending.append(got)
                if isinstance(got, _Reuse):
                    unchecked.append(got)
                    if len(unchecked) >= REUSE_BATCH:
                        check()
            head = pending[0] if pending else None
            if isinstance(head, _PendingFile) and not head.slot.done:
                pipe.poll()
            while pending and not blocked(pending[0]):
                entry = done(pending.popleft())
                if entry is not None:
                    yield entry
        check()
        pipe.drain()
        for got in pending:
            entry = done(got)
            if entry is not None:
                yield entry

    def _check_reuse(self, batch: list[_Reuse], pipe: AddPipeline) -> None:
        """Look the batch's chunks up in the store; read the files whose chunks are gone."""
        if not batch:
            return
        missing = self.store.missing(c for r in batch for c in r.chunks())
        for r in batch:
            r.checked = True
            if missing and any(c in missing for c in r.chunks()):
                slot = pipe.submit_file(r.item.abs, r.item.st.st_size)
                r.read = _PendingFile(r.item, _common(r.item), slot)

    def _capture(
        self,
        item: Item,
        parent: _Parent,
        skipped: list[str],
        pipe: AddPipeline,
    ) -> FileEntry | _PendingFile | _Reuse | None:
        st = item.st
        if stat.S_ISREG(st.st_mode):
            old = parent.get(item.rel)
            if old is not None and _reusable(old, st):
                return _Reuse(item, old)
            return _PendingFile(item, _common(item), pipe.submit_file(item.abs, st.st_size))
        common = _common(item)
        if stat.S_ISDIR(st.st_mode):
            return FileEntry(type=DIR, **common)  # type: ignore[arg-type]
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(item.abs)
            except OSError as e:
                return self._skip(item, e.strerror or str(e), skipped)
            return FileEntry(type=SYMLINK, target=target, **common)  # type: ignore[arg-type]
        kind = "socket" if stat.S_ISSOCK(st.st_mode) else "special file"
        self.reporter.warn(f"skipped {kind} {os.fsdecode(item.abs)}")
        return None

    def _skip(self, item: Item, why: str, skipped: list[str]) -> None:
        msg = f"cannot read {os.fsdecode(item.abs)}: {why}"
        skipped.append(msg)
        self.reporter.warn(msg)
        return None


def load_entries(store: ChunkStore, root: BulkRoot, where: str) -> Iterator[FileEntry]:
    return load_listing(store, root.listing, f"snapshot {where}: {root.path}")


def load_entry_maps(store: ChunkStore, root: BulkRoot, where: str) -> Iterator[dict[str, Any]]:
    """``load_entries`` in ``to_map`` form: what ``backup_root`` wants as a parent."""
    return load_listing_maps(store, root.listing, f"snapshot {where}: {root.path}")


# -- restore ----------------------------------------------------------------------------------


def _safe_rel(path: bytes) -> bytes:
    parts = path.split(b"/")
    if path and (path.startswith(b"/") or any(p in (b"", b".", b"..") for p in parts)):
        raise CorruptData(f"listing holds an unsafe path {path!r}")
    return path


@dataclass
class RestoreStats:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0


def recover_interrupted_swap(target: Path) -> bool:
    """If a crash hit between the two renames of a swap, put the old tree back."""
    if target.exists() or not target.parent.is_dir():
        return False
    for cand in sorted(target.parent.glob(f".{target.name}{OLD_TAG}*")):
        os.rename(cand, target)
        return True
    return False


def restore_root(
    store: ChunkStore,
    root: BulkRoot,
    target: Path,
    reporter: Reporter,
    where: str,
) -> RestoreStats:
    """Rebuild ``root`` at ``target`` through a staging directory, then swap it in."""
    target = target.absolute()
    if target.is_symlink():
        # A bulk root that is a symlink (to a data disk): restore into the directory it points
        # to and keep the link, instead of replacing the link by a directory.
        target = Path(os.path.realpath(target))
    parent_dir = target.parent
    recover_interrupted_swap(target)
    if target.exists() and not target.is_dir():
        raise InvalidInput(f"restore target {target} exists and is not a directory")
    try:
        parent_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SourceError(f"cannot create {parent_dir}: {e.strerror}") from None
    if not os.access(parent_dir, os.W_OK | os.X_OK):
        raise SourceError(
            f"restore target {target} is not writable (no write access to {parent_dir})"
        )
    token = secrets.token_hex(4)
    staging = parent_dir / f".{target.name}{STAGING_TAG}{token}"
    stats = RestoreStats()
    old = parent_dir / f".{target.name}{OLD_TAG}{token}"
    try:
        staging.mkdir(mode=0o700)
        _fill(store, root, staging, reporter, stats, where)
        # One sync for the whole tree: the swap must not publish files still in the page cache.
        os.sync()
        if target.exists():
            os.rename(target, old)
            os.rename(staging, target)
            remove_tree(old)
        else:
            os.rename(staging, target)
    except BaseException:
        remove_tree(staging)
        # Interrupted (Ctrl-C) between the two renames: put the user's tree back at once.
        if old.exists() and not os.path.lexists(target):
            os.rename(old, target)
        raise
    return stats


def _fill(
    store: ChunkStore,
    root: BulkRoot,
    staging: Path,
    reporter: Reporter,
    stats: RestoreStats,
    where: str,
) -> None:
    as_root = os.geteuid() == 0
    base = os.fsencode(staging)
    dirs: list[tuple[bytes, FileEntry]] = []
    reporter.start(f"Restoring {root.path}", root.bytes)
    ahead = _Lookahead(load_entries(store, root, where))
    data = store.read_many(ahead.chunk_ids())
    with quick_gil_handoff(), _FileWriter(as_root, base) as writer:
        _fill_entries(ahead, data, writer, base, dirs, reporter, stats, where)
    # Directories last and deepest first: their mode may forbid writing, and writing
    # children changes their mtime.
    for dest, entry in reversed(dirs):
        if as_root and entry.uid is not None:
            os.chown(dest, entry.uid, entry.gid if entry.gid is not None else -1)
        os.chmod(dest, entry.mode)
        os.utime(dest, ns=(entry.mtime_ns, entry.mtime_ns))
    reporter.finish()


def _fill_entries(
    ahead: _Lookahead,
    data: Iterator[bytes],
    writer: _FileWriter,
    base: bytes,
    dirs: list[tuple[bytes, FileEntry]],
    reporter: Reporter,
    stats: RestoreStats,
    where: str,
) -> None:
    as_root = writer.as_root
    for entry in ahead.entries():
        rel = _safe_rel(entry.path)
        dest = os.path.join(base, rel) if rel else base
        if entry.type == DIR:
            if rel:
                os.mkdir(dest, 0o700)
            dirs.append((dest, entry))
            stats.dirs += 1
        elif entry.type == SYMLINK:
            os.symlink(entry.target or b"", dest)
            if as_root and entry.uid is not None:
                os.lchown(dest, entry.uid, entry.gid if entry.gid is not None else -1)
            os.utime(dest, ns=(entry.mtime_ns, entry.mtime_ns), follow_symlinks=False)
            stats.symlinks += 1
        elif entry.type == FILE:
            if entry.size <= SMALL_RESTORE:
                writer.small(dest, entry, _file_chunks(data, entry, where))
                reporter.advance(entry.size)
            else:
                _stream_file(data, entry, dest, writer, reporter, where)
            stats.files += 1
            stats.bytes += entry.size
        else:
            raise CorruptData(f"{where}: {os.fsdecode(rel)}: unknown entry type {entry.type!r}")


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


class _MetaSetter:
    """Sets owner (as root), mode and mtime of restored files, in that order (chown may clear
    set-id bits; the mtime must come after the last write), skipping the calls that would
    change nothing: a new file already has our owner, and the mode it was created with less
    the umask. Thousands of small files make each saved system call count."""

    def __init__(self, as_root: bool, base: bytes) -> None:
        self.as_root = as_root
        self.uid, self.gid = os.geteuid(), os.getegid()
        # In a set-group-id directory new files take the directory's group: always chown.
        if os.stat(base).st_mode & stat.S_ISGID:
            self.gid = -1
        self.umask = _umask()

    def create_mode(self, entry: FileEntry) -> int:
        """The mode to create the file with: its own when the umask keeps it, else 0o600
        (staging is private, 0o700, so the file is not readable by others meanwhile)."""
        mode = entry.mode & 0o777
        return mode if mode == entry.mode and not mode & self.umask else 0o600

    def set(self, fd: int, entry: FileEntry) -> None:
        """For a file created (``_CREATE``) with ``create_mode(entry)``, once written."""
        mode = self.create_mode(entry)
        chown = (
            self.as_root
            and entry.uid is not None
            and (entry.uid != self.uid or (entry.gid is not None and entry.gid != self.gid))
        )
        if chown:
            os.fchown(fd, entry.uid, entry.gid if entry.gid is not None else -1)  # type: ignore[arg-type]
        if chown or mode != entry.mode:
            os.fchmod(fd, entry.mode)
        os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))


def _umask() -> int:
    """The process umask, read without changing it (os.umask sets it to read it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o777  # unknown: always chmod


def _file_chunks(data: Iterator[bytes], entry: FileEntry, where: str) -> list[bytes]:
    """A small file's chunks from ``data``, checked against the listing's size."""
    try:
        chunks = [next(data) for _ in entry.chunks]
    except CorruptData as e:
        raise CorruptData(f"snapshot {where}: file {os.fsdecode(entry.path)}: {e}") from None
    written = sum(len(c) for c in chunks)
    if written != entry.size:
        raise CorruptData(
            f"snapshot {where}: file {os.fsdecode(entry.path)}: restored {written} bytes, "
            f"listing says {entry.size}"
        )
    return chunks


_END = object()  # the last chunk of a streamed file has been queued


class _FileWriter:
    """Writes restored files on other threads, so the restoring thread only pulls verified
    chunks and hands them over. Small files go in batches to one thread: creating a file
    costs the kernel far more than writing a few KB into it, and creations on several threads
    contend in the file system (measured on ext4, 22,143 files: 1.8 s on one thread, 4.4 s on
    two, 6.9 s on eight). Bigger ones are streamed chunk by chunk through a short queue, which
    bounds memory, by ``RESTORE_STREAM_WRITERS`` threads (one waits for its last chunks while
    the next file starts). The
    data is verified before it gets here: what can fail is the file system (disk full...),
    and the first such error is raised on the restoring thread, which stops the restore."""

    def __init__(self, as_root: bool, base: bytes) -> None:
        self.as_root = as_root
        self.meta = _MetaSetter(as_root, base)
        self._small_pool: ThreadPoolExecutor | None = None
        self._stream_pool: ThreadPoolExecutor | None = None
        self._jobs: deque[tuple[Future[None], int]] = deque()
        self._ahead = 0  # bytes of small files handed over and not yet written
        self._batch: list[tuple[bytes, FileEntry, list[bytes]]] = []
        self._batch_bytes = 0

    def _submit(
        self, pool: ThreadPoolExecutor, size: int, fn: Callable[..., None], *args: object
    ) -> None:
        self._jobs.append((pool.submit(fn, *args), size))
        self._ahead += size
        while self._jobs and (self._jobs[0][0].done() or self._ahead > RESTORE_SMALL_AHEAD):
            self._finish_one()

    def small(self, dest: bytes, entry: FileEntry, chunks: list[bytes]) -> None:
        self._batch.append((dest, entry, chunks))
        self._batch_bytes += entry.size
        if len(self._batch) >= SMALL_BATCH or self._batch_bytes >= SMALL_BATCH_BYTES:
            self._start_batch()

    def _start_batch(self) -> None:
        if self._batch:
            batch, size = self._batch, self._batch_bytes
            self._batch, self._batch_bytes = [], 0
            if self._small_pool is None:
                self._small_pool = new_pool(1, "write")
            self._submit(self._small_pool, size, self._write_batch, batch)

    def stream(self, dest: bytes, entry: FileEntry, chunks: queue.Queue[object]) -> None:
        """Write the file from ``chunks``, which the caller fills and ends with ``_END``
        (whatever happens: it made the queue, so a Ctrl-C cannot strand the writer)."""
        self._start_batch()  # keep files roughly in order on disk
        if self._stream_pool is None:
            self._stream_pool = new_pool(RESTORE_STREAM_WRITERS, "stream")
        self._submit(self._stream_pool, 0, self._write_stream, dest, entry, chunks)

    def _write_batch(self, batch: list[tuple[bytes, FileEntry, list[bytes]]]) -> None:
        meta = self.meta
        for dest, entry, chunks in batch:
            # Descriptor calls throughout: each path call would walk the path again.
            fd = os.open(dest, _CREATE, meta.create_mode(entry))
            try:
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
                meta.set(fd, entry)
            finally:
                os.close(fd)

    def _write_stream(self, dest: bytes, entry: FileEntry, chunks: queue.Queue[object]) -> None:
        error: OSError | None = None
        written = 0
        f = None
        try:
            fd = os.open(dest, _CREATE, self.meta.create_mode(entry))
            f = open(fd, "wb")  # noqa: SIM115 - closed below, after the queue is drained
        except OSError as e:
            error = e
        # Drain the queue whatever happens: the restoring thread may be waiting to put.
        while (chunk := chunks.get()) is not _END:
            if error is None and f is not None:
                try:
                    f.write(chunk)  # type: ignore[arg-type]
                    written += len(chunk)  # type: ignore[arg-type]
                except OSError as e:
                    error = e
        if f is not None:
            try:
                if error is None:
                    f.flush()
                    if written >= EARLY_WRITEBACK:
                        # Start writing it to disk now (Linux starts writeback of dirty pages
                        # on this advice without waiting): the final sync has less to do.
                        with contextlib.suppress(OSError, AttributeError):
                            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                    self.meta.set(f.fileno(), entry)
                f.close()
            except OSError as e:
                error = error or e
        if error is not None:
            raise error

    def _finish_one(self) -> None:
        future, size = self._jobs.popleft()
        self._ahead -= size
        future.result()

    def __enter__(self) -> _FileWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._start_batch()
                while self._jobs:
                    self._finish_one()
        finally:
            # Through Ctrl-C too: the staging directory is removed right after this.
            for pool in (self._small_pool, self._stream_pool):
                if pool is not None:
                    shutdown_fully(pool)


class _Lookahead:
    """A listing read ahead of the restore loop: ``chunk_ids()`` (what ``read_many`` reads
    ahead) pulls entries from the listing and queues them for ``entries()`` (the loop).

    A damaged listing must fail at the entry it damages, in the loop, not in the reader (where
    it would be taken for a bad chunk of the file being written), so an error while pulling is
    kept and raised by ``entries()`` once every entry before it has been restored.
    """

    def __init__(self, entries: Iterator[FileEntry]) -> None:
        self._source = entries
        self._entries: deque[FileEntry] = deque()
        self._ids: deque[bytes] = deque()
        self._error: BaseException | None = None
        self._done = False

    def _pull(self) -> bool:
        if self._done:
            return False
        try:
            entry = next(self._source)
        except StopIteration:
            self._done = True
            return False
        except Exception as e:  # re-raised in order by entries()
            self._error = e
            self._done = True
            return False
        self._entries.append(entry)
        if entry.type == FILE:
            self._ids.extend(entry.chunks)
        return True

    def chunk_ids(self) -> Iterator[bytes]:
        while True:
            while not self._ids:
                if not self._pull():
                    return
            yield self._ids.popleft()

    def entries(self) -> Iterator[FileEntry]:
        while True:
            if not self._entries and not self._pull():
                if self._error is not None:
                    raise self._error
                return
            yield self._entries.popleft()


def _stream_file(
    data: Iterator[bytes],
    entry: FileEntry,
    dest: bytes,
    writer: _FileWriter,
    reporter: Reporter,
    where: str,
) -> None:
    """Hand the file's chunks from ``data`` (verified, in order) to a writer thread."""
    written = 0
    chunks: queue.Queue[object] = queue.Queue(maxsize=RESTORE_STREAM_AHEAD)
    try:
        writer.stream(dest, entry, chunks)
        for _ in entry.chunks:
            try:
                chunk = next(data)
            except CorruptData as e:
                raise CorruptData(
                    f"snapshot {where}: file {os.fsdecode(entry.path)}: {e}"
                ) from None
            chunks.put(chunk)
            written += len(chunk)
            reporter.advance(len(chunk))
    finally:
        chunks.put(_END)
    if written != entry.size:
        raise CorruptData(
            f"snapshot {where}: file {os.fsdecode(entry.path)}: restored {written} bytes, "
            f"listing says {entry.size}"
        )


def remove_tree(path: Path) -> None:
    """Delete a directory tree even when some of its folders are read-only."""

    def onerror(func, p, exc_info):  # type: ignore[no-untyped-def]
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            func(p)

    if os.path.lexists(path):
        shutil.rmtree(path, onerror=onerror)
