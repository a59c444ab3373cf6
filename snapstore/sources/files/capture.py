"""The bulk-storage source, capture side: walk a tree into a file listing (restore: restore/).

Create: every regular file is cut into chunks and stored, unless its size, mtime, ctime and
inode equal those in the parent snapshot's listing, in which case its chunk list is reused
without reading it. Directories (empty ones too), symlinks, modes, mtimes and (as root) owners
are kept; sockets, fifos and devices are skipped with a warning; files that cannot be read are
reported and leave the snapshot marked partial.

Speed and memory (store/pipeline.py): files are read, hashed and compressed on the pipeline's
threads while this one walks; entries are streamed into the listing in listing order
as their chunks are stored, and the parent snapshot's listing is merged in the same order
rather than loaded whole, so memory does not grow with the number of files (beyond the first
``PREWALK_ITEMS`` walked ahead for the progress total).
"""

from __future__ import annotations

import errno
import os
import stat
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

import msgpack

from snapstore.base.errors import CorruptData, InvalidInput
from snapstore.base.reporting import Reporter
from snapstore.manifest.listing import (
    DIR,
    FILE,
    FileEntry,
    load_listing,
    load_listing_maps,
    sort_key,
    store_listing,
)
from snapstore.manifest.schema import BulkRoot, Manifest
from snapstore.sources.base import Ref
from snapstore.sources.files.walk import (
    Item,
    TreeWalker,
    entry_from_stat,
    group_name,
    stat_fields,
    user_name,
)
from snapstore.store.chunker import Chunker
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.concurrency import quick_gil_handoff
from snapstore.store.pipeline import AddPipeline, FileSlot
from snapstore.tree.pathmax import STAGING_ROOM

# Items walked ahead of reading so the progress bar knows the total; a bigger tree is streamed
# (no total) so that memory stays bounded whatever the number of files.
PREWALK_ITEMS = 10_000
# Files reused from the parent snapshot whose chunks are looked up in the store at once.
REUSE_BATCH = 512


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
            and old.get("un") == user_name(st.st_uid)
            and old.get("gn") == group_name(st.st_gid)
        ):
            return old
        # Same ctime, different metadata: a changed user database, or an old listing.
        chunks = tuple(self.chunks())
        return FileEntry(type=FILE, size=st.st_size, chunks=chunks, **stat_fields(self.item))


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
        self._map: Mapping[bytes, FileEntry] | None = None
        self._stream: Iterator[FileEntry | dict[str, Any]] | None = None
        if isinstance(parent, Mapping):
            self._map = parent
        elif parent is not None:
            self._stream = iter(parent)
        self._cur: dict[str, Any] | None = None
        self._advance()

    def _advance(self) -> None:
        self._cur = None
        if self._stream is None:
            return
        try:
            got = next(self._stream, None)
            cur = got.to_map() if isinstance(got, FileEntry) else got
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
        self.excludes = tuple(os.fsencode(p) for p in excludes)
        self.walker = TreeWalker(self.excludes, room=STAGING_ROOM)
        self.reporter = reporter
        self.chunker = Chunker(store.identity)

    def backup_root(
        self,
        root: Path,
        label: str,
        parent: ParentEntries | None,
        leave_out: frozenset[bytes] = frozenset(),
    ) -> BackupResult:
        """Capture ``root``. ``parent``: the previous snapshot's entries of this root, as a
        mapping by path or as a stream in listing order (``load_entry_maps``), for reuse.
        ``leave_out``: paths inside the root not captured, with what is below them (the
        repository and the cache, when they live in the bulk tree)."""
        root_b = os.fsencode(root)
        if not os.path.isdir(root_b):
            raise InvalidInput(f"bulk root {root} does not exist or is not a directory")
        skipped: list[str] = []
        walker = TreeWalker(self.excludes, leave_out) if leave_out else self.walker
        walk = walker.walk(root_b, skipped, self.reporter.warn)
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
        pending: deque[FileEntry | _PendingFile | _Reuse] = deque()
        unchecked: list[_Reuse] = []

        def check() -> None:
            self._check_reuse(unchecked, pipe)
            unchecked.clear()

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
                entry = self._finished(pending.popleft(), result, skipped)
                if entry is not None:
                    yield entry
        check()
        pipe.drain()
        for got in pending:
            entry = self._finished(got, result, skipped)
            if entry is not None:
                yield entry

    def _finished(
        self, got: FileEntry | _PendingFile | _Reuse, result: BackupResult, skipped: list[str]
    ) -> FileEntry | dict[str, Any] | None:
        """The entry of a file whose chunks are stored (counted in ``result``), or None for one
        skipped because it could not be read; a full disk stops the backup."""
        r = result.root
        if isinstance(got, _Reuse):
            if got.read is None:
                size = got.item.st.st_size
                result.reused_files += 1
                r.files += 1
                r.bytes += size
                self.reporter.skip(size)  # not read: no throughput
                return got.entry()
            got = got.read
        if isinstance(got, _PendingFile):
            error = got.slot.error
            if error is not None:
                if error.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise error
                self._skip(got.item, error.strerror or str(error), skipped)
                return None
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

    def _check_reuse(self, batch: list[_Reuse], pipe: AddPipeline) -> None:
        """Look the batch's chunks up in the store; read the files whose chunks are gone."""
        if not batch:
            return
        missing = self.store.missing(c for r in batch for c in r.chunks())
        for r in batch:
            r.checked = True
            if missing and any(c in missing for c in r.chunks()):
                slot = pipe.submit_file(r.item.abs, r.item.st.st_size)
                r.read = _PendingFile(r.item, stat_fields(r.item), slot)

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
            return _PendingFile(item, stat_fields(item), pipe.submit_file(item.abs, st.st_size))
        try:
            entry = entry_from_stat(item)
        except OSError as e:  # a symlink whose target cannot be read
            self._skip(item, e.strerror or str(e), skipped)
            return None
        if entry is not None:
            return entry
        kind = "socket" if stat.S_ISSOCK(st.st_mode) else "special file"
        self.reporter.warn(f"skipped {kind} {os.fsdecode(item.abs)}")
        return None

    def _skip(self, item: Item, why: str, skipped: list[str]) -> None:
        msg = f"cannot read {os.fsdecode(item.abs)}: {why}"
        skipped.append(msg)
        self.reporter.warn(msg)


def load_entries(store: ChunkStore, root: BulkRoot, where: str) -> Iterator[FileEntry]:
    return load_listing(store, root.listing, f"snapshot {where}: {root.path}")


def load_entry_maps(store: ChunkStore, root: BulkRoot, where: str) -> Iterator[dict[str, Any]]:
    """``load_entries`` in ``to_map`` form: what ``backup_root`` wants as a parent."""
    return load_listing_maps(store, root.listing, f"snapshot {where}: {root.path}")


class BulkPart:
    """The bulk roots of a snapshot as a ``SnapshotPart``: each root's listing chunks (hot)
    and the chunks of its files."""

    def references(self, manifest: Manifest, store: ChunkStore) -> Iterator[Ref]:
        for root in manifest.bulk or []:
            for cid in root.listing:
                yield Ref(cid, f"listing of {root.path}", hot=True)
            where = f"snapshot {manifest.name}: {root.path}"
            for entry in load_listing(store, root.listing, where):
                for cid in entry.chunks:
                    yield Ref(cid, f"{root.path}: file {os.fsdecode(entry.path)}")

    @staticmethod
    def root_chunk_ids(store: ChunkStore, root: BulkRoot, snapshot: str) -> set[bytes]:
        """Every chunk id of one bulk root: its listing chunks and the chunks of its files.

        The same set ``iter_references`` gives for the root (a test holds them equal), without
        building a FileEntry and a place name per file: on 100 snapshots of 20,000 files that is
        most of gc's time. It reads the listing's msgpack maps directly and takes their ``c``
        (chunks) field, see ``FileEntry.to_map``.
        """
        out = set(root.listing)
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=1 << 30)
        try:
            for data in store.read_many(root.listing):
                unpacker.feed(data)
                for d in unpacker:
                    out.update(d.get("c", ()))
        except (ValueError, TypeError, AttributeError, msgpack.UnpackException) as e:
            raise CorruptData(
                f"snapshot {snapshot}: {root.path}: file listing is damaged ({e})"
            ) from None
        return out
