"""Cold archives: chunks that only old snapshots use, moved from lz4 packs into tar.gz files.

An archive (spec/archives.md) is an ordinary ``.tar.gz``: ``tar -tzf`` lists it and
``tar -xzf`` unpacks it into one file per chunk, named by the chunk id in hex. Two choices make
it usable as a chunk store as well:

- The gzip stream is a concatenation of independent gzip *members* (RFC 1952 allows this and
  every gunzip reads it as one stream). Each member holds whole tar entries, about
  ``MEMBER_TARGET`` bytes of chunk data, so reading one chunk inflates at most one member (and
  stops at the chunk's end), never the archive from its start.
- Beside each archive ``<hex>.tar.gz`` an *archive index* object ``<hex>.idx`` (msgpack) gives
  each member's offset and sizes and each chunk's member and offset inside it. It is written
  after the archive, so an index always names a complete archive; an archive without its index
  is a leftover of an interrupted write that gc removes. Because members are named by chunk id,
  an index can be rebuilt from the archive alone.

Every chunk read from an archive is verified against its id (BLAKE3 of the raw bytes).

In an encrypted repository (spec/encryption.md, "Archives") each tar entry holds the chunk
deflated on its own (zlib) and then sealed with its id as associated data, and the gzip members
around them are stored (level 0): ciphertext does not compress. Offsets and lengths in the
archive index are those of the sealed entries.

The format itself (names, index object, tar headers, gzip members, rebuilding an index) is
store/archive_format.py; its names are re-exported here, so callers import one module.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zlib
from collections import OrderedDict
from concurrent.futures import Executor, Future
from typing import Any, BinaryIO

import blake3

from snapstore.backend import Backend, Kind
from snapstore.base.errors import CorruptData, MissingChunk, ObjectNotFound
from snapstore.crypto.codec import PLAIN, ChunkCodec
from snapstore.store.archive_format import (
    ARCHIVE_INDEX_VERSION,
    ARCHIVE_SUFFIX,
    BLOCK,
    GZIP_LEVEL,
    INDEX_SUFFIX,
    ArchivedChunk,
    ArchiveIndex,
    Member,
    archive_name_of_index,
    gzip_member,
    index_name,
    inflate,
    iter_tar_members,
    pad,
    rebuild_index,
    tar_header,
)
from snapstore.store.concurrency import InFlight
from snapstore.store.ids import ChunkIdentity, chunk_id, short

__all__ = [
    "ARCHIVE_INDEX_VERSION",
    "ARCHIVE_SUFFIX",
    "ARCHIVE_TARGET",
    "INDEX_SUFFIX",
    "MEMBER_TARGET",
    "ArchiveBuilder",
    "ArchiveIndex",
    "ArchiveSet",
    "ArchivedChunk",
    "Member",
    "archive_name_of_index",
    "check_archives",
    "index_name",
    "iter_tar_members",
    "rebuild_index",
    "verify_archive",
    "write_archive",
]

# Raw chunk bytes per gzip member: what one lookup may have to inflate (spec/archives.md has
# the measurements behind this number: beyond ~256 KiB the ratio gains under 0.5%).
MEMBER_TARGET = 1 << 20
# Raw chunk bytes per archive object (spooled to a file, then published with one put).
ARCHIVE_TARGET = 256 << 20
# Inflated members kept in memory, so reading neighbouring chunks inflates each member once.
MEMBER_CACHE = 4
# Members handed to the executor and not compressed yet (each up to MEMBER_TARGET + a chunk).
MAX_PENDING_MEMBERS = 8


# -- writing ----------------------------------------------------------------------------------


class ArchiveBuilder:
    """Accumulates chunks (raw bytes) into gzip members written one after the other to a spool
    file; ``finish`` returns the archive's name, that file and its index. Members are
    independent, so with an ``executor`` they are compressed on its threads (zlib releases the
    GIL) while more chunks are added. At most ``MAX_PENDING_MEMBERS`` members are in memory
    at once (waiting to be compressed or written): memory stays bounded whatever the archive's
    size (archives were once built whole in memory). ``spool_dir`` is where the file
    goes: the backend's ``spool_dir()``, so that publishing it is a rename, not a copy."""

    def __init__(
        self,
        member_target: int = MEMBER_TARGET,
        level: int = GZIP_LEVEL,
        executor: Executor | None = None,
        spool_dir: str | None = None,
        codec: ChunkCodec = PLAIN,
    ) -> None:
        self.member_target = member_target
        self.codec = codec
        self.level = 0 if codec.encrypted else level
        self.executor = executor
        self.spool_dir = spool_dir
        # Members compressed or being compressed, not yet written: (gzip, raw length).
        self._queue: InFlight[tuple[Future[bytes] | bytes, int]] = InFlight(
            max_items=MAX_PENDING_MEMBERS
        )
        self._written: list[Member] = []
        self._size = 0
        self._hash = blake3.blake3()
        self._file: BinaryIO | None = None
        self._path: str | None = None
        self._raw: list[bytes] = []
        self._raw_size = 0
        self._pending: dict[bytes, tuple[int, int]] = {}  # id -> offset, length in member raw
        self.chunks: dict[bytes, tuple[int, int, int]] = {}
        self.raw_lengths: dict[bytes, int] = {}  # encrypted only: entries are not the chunks
        self.raw_bytes = 0

    def __contains__(self, cid: bytes) -> bool:
        return cid in self.chunks or cid in self._pending

    def __len__(self) -> int:
        return len(self.chunks) + len(self._pending)

    def add(self, cid: bytes, raw: bytes) -> None:
        if cid in self:
            return
        data = seal_entry(self.codec, cid, raw)
        if self.codec.encrypted:
            self.raw_lengths[cid] = len(raw)
        header = tar_header(cid, len(data))
        self._raw.append(header)
        self._pending[cid] = (self._raw_size + len(header), len(data))
        self._raw.append(data)
        self._raw.append(pad(len(data)))
        self._raw_size += len(header) + len(data) + len(pad(len(data)))
        self.raw_bytes += len(raw)
        if self._raw_size >= self.member_target:
            self._close_member()

    def _close_member(self, trailer: bytes = b"") -> None:
        if not self._raw and not trailer:
            return
        raw = b"".join(self._raw) + trailer
        number = len(self._written) + len(self._queue)
        if self.executor is None:
            self._queue.push((gzip_member(raw, self.level), len(raw)))
        else:
            self._queue.push((self.executor.submit(gzip_member, raw, self.level), len(raw)))
        for cid, (off, length) in self._pending.items():
            self.chunks[cid] = (number, off, length)
        self._raw, self._raw_size, self._pending = [], 0, {}
        self._write_ready(wait=False)

    def _write_ready(self, wait: bool) -> None:
        """Append finished members to the spool file, in order; block on the oldest one
        when too many are in memory (or, with ``wait``, until all are written)."""
        while self._queue and (wait or self._queue.due(_member_done)):
            packed, raw_length = self._queue.oldest()
            if isinstance(packed, Future):
                packed = packed.result()
            self._queue.pop()
            if self._file is None:
                fd, self._path = tempfile.mkstemp(prefix="archive-", dir=self.spool_dir)
                self._file = os.fdopen(fd, "wb")
            self._file.write(packed)
            self._hash.update(packed)
            self._written.append(Member(self._size, len(packed), raw_length))
            self._size += len(packed)

    def finish(self) -> tuple[str, str, ArchiveIndex]:
        """Return (archive name, path of the spooled archive, index). The tar end marker (two
        zero blocks) ends the last member, so the whole file is a valid tar.gz. The caller
        publishes the file (``Backend.put_file`` consumes it) or calls ``discard``."""
        self._close_member(trailer=b"\0" * (2 * BLOCK))
        self._write_ready(wait=True)
        assert self._file is not None and self._path is not None
        self._file.close()
        self._file = None
        name = self._hash.hexdigest() + ARCHIVE_SUFFIX
        return (
            name,
            self._path,
            ArchiveIndex(name, self._size, list(self._written), self.chunks, self.raw_lengths),
        )

    def discard(self) -> None:
        """Drop the spool file of an archive that will not be published."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)


def seal_entry(codec: ChunkCodec, cid: bytes, raw: bytes) -> bytes:
    """What a tar entry holds: the chunk itself, or (encrypted) deflated and sealed."""
    if not codec.encrypted:
        return raw
    return bytes(codec.seal_chunk(cid, zlib.compress(raw, GZIP_LEVEL)))


def open_entry(codec: ChunkCodec, cid: bytes, data: bytes, where: str) -> bytes:
    """Invert ``seal_entry`` (CorruptData when the entry was altered)."""
    if not codec.encrypted:
        return data
    sealed = bytes(codec.open_chunk(cid, data, where))
    try:
        return zlib.decompress(sealed)
    except zlib.error:
        raise CorruptData(f"chunk {short(cid)} in {where} does not inflate") from None


def _member_done(member: tuple[Future[bytes] | bytes, int]) -> bool:
    return not isinstance(member[0], Future) or member[0].done()


def write_archive(backend: Backend, builder: ArchiveBuilder) -> ArchiveIndex:
    """Put the archive, then its index: only a complete archive ever has an index."""
    try:
        name, path, index = builder.finish()
        backend.put_file(Kind.ARCHIVES, name, path)
    except BaseException:
        builder.discard()
        raise
    backend.put(Kind.ARCHIVES, index_name(name), index.encode())
    return index


# -- reading ----------------------------------------------------------------------------------


class ArchiveSet:
    """Every archive of a repository as one lookup table, loaded on first use.

    ``problems`` lists index objects that could not be read (check reports them).
    """

    def __init__(
        self,
        backend: Backend,
        identity: ChunkIdentity | None = None,
        codec: ChunkCodec = PLAIN,
    ) -> None:
        self.backend = backend
        self._chunk_id = chunk_id if identity is None else identity.id
        self.codec = codec
        self._loaded = False
        self.indexes: dict[str, ArchiveIndex] = {}
        self.locations: dict[bytes, ArchivedChunk] = {}
        self.problems: list[str] = []
        self.orphans: list[str] = []  # archives without an index (interrupted writes)
        self._members: OrderedDict[tuple[str, int], bytes] = OrderedDict()

    def load(self) -> ArchiveSet:
        if self._loaded:
            return self
        names = {o.name for o in self.backend.list(Kind.ARCHIVES)}
        for name in sorted(names):
            if not name.endswith(INDEX_SUFFIX):
                continue
            try:
                idx = ArchiveIndex.decode(self.backend.get(Kind.ARCHIVES, name), name)
            except (CorruptData, ObjectNotFound) as e:
                self.problems.append(str(e))
                continue
            self.add(idx)
        self.orphans = sorted(
            n for n in names if n.endswith(ARCHIVE_SUFFIX) and index_name(n) not in names
        )
        self._loaded = True
        return self

    def add(self, idx: ArchiveIndex) -> None:
        self.indexes[idx.archive] = idx
        for cid, (member, off, length) in idx.chunks.items():
            raw = idx.raw_lengths.get(cid, -1)
            self.locations.setdefault(cid, ArchivedChunk(idx.archive, member, off, length, raw))

    def remove(self, archive: str) -> None:
        idx = self.indexes.pop(archive, None)
        if idx is None:
            return
        for cid in idx.chunks:
            loc = self.locations.get(cid)
            if loc is not None and loc.archive == archive:
                del self.locations[cid]
                for other in self.indexes.values():  # another archive may hold it too
                    if cid in other.chunks:
                        m, o, n = other.chunks[cid]
                        raw = other.raw_lengths.get(cid, -1)
                        self.locations[cid] = ArchivedChunk(other.archive, m, o, n, raw)
                        break

    def __contains__(self, cid: bytes) -> bool:
        return cid in self.load().locations

    def locate(self, cid: bytes) -> ArchivedChunk | None:
        return self.load().locations.get(cid)

    def _member(self, archive: str, number: int) -> bytes:
        key = (archive, number)
        raw = self._members.get(key)
        if raw is not None:
            self._members.move_to_end(key)
            return raw
        m = self.indexes[archive].members[number]
        where = f"archive {archive[:16]} member {number}"
        try:
            packed = self.backend.get(Kind.ARCHIVES, archive, m.offset, m.length)
        except ObjectNotFound:
            raise MissingChunk(f"archive {archive[:16]} is missing or truncated") from None
        # Inflate the whole member (bounded by MEMBER_TARGET plus one chunk): neighbours are
        # usually read next, since restore goes in order, and the member's CRC gets checked.
        raw = inflate(packed, where)
        self._members[key] = raw
        while len(self._members) > MEMBER_CACHE:
            self._members.popitem(last=False)
        return raw

    def read(self, cid: bytes) -> bytes:
        """The chunk's raw bytes, verified (MissingChunk / CorruptData naming the archive)."""
        loc = self.locate(cid)
        if loc is None:
            raise MissingChunk(f"chunk {short(cid)} is neither in a pack nor in an archive")
        raw = self._member(loc.archive, loc.member)
        data = raw[loc.offset : loc.offset + loc.length]
        mismatch = len(data) != loc.length
        if not mismatch:
            data = open_entry(self.codec, cid, data, f"archive {loc.archive[:16]}")
        if mismatch or self._chunk_id(data) != cid:
            raise CorruptData(
                f"chunk {short(cid)} in archive {loc.archive[:16]} does not match its id"
            )
        return data

    def stored_share(self, cid: bytes) -> int:
        loc = self.locate(cid)
        return 0 if loc is None else self.indexes[loc.archive].stored_share(cid)


def verify_archive(
    backend: Backend,
    idx: ArchiveIndex,
    identity: ChunkIdentity | None = None,
    codec: ChunkCodec = PLAIN,
) -> tuple[int, dict[bytes, str], list[str]]:
    """Read an archive in full: return (bytes read, {bad chunk: why}, archive-level problems)."""
    cid_of = chunk_id if identity is None else identity.id
    problems: list[str] = []
    bad: dict[bytes, str] = {}
    short_name = idx.archive[:16]
    try:
        data = backend.get(Kind.ARCHIVES, idx.archive)
    except ObjectNotFound:
        return (
            0,
            {cid: "is in a missing archive" for cid in idx.chunks},
            [f"archive {short_name} is indexed but missing"],
        )
    if blake3.blake3(data).hexdigest() + ARCHIVE_SUFFIX != idx.archive:
        problems.append(f"archive {short_name} does not match its name (damaged)")
    by_member: dict[int, list[tuple[bytes, int, int]]] = {}
    for cid, (member, off, length) in idx.chunks.items():
        by_member.setdefault(member, []).append((cid, off, length))
    for number, m in enumerate(idx.members):
        where = f"archive {short_name} member {number}"
        try:
            raw = inflate(data[m.offset : m.offset + m.length], where)
            if len(raw) != m.raw_length:
                raise CorruptData(
                    f"{where}: inflates to {len(raw)} bytes, index says {m.raw_length}"
                )
        except CorruptData as e:
            problems.append(str(e))
            for cid, _, _ in by_member.get(number, []):
                bad[cid] = f"is damaged ({where})"
            continue
        for cid, off, length in by_member.get(number, []):
            try:
                plain = open_entry(codec, cid, raw[off : off + length], f"archive {short_name}")
            except CorruptData:
                plain = None
            if plain is None or cid_of(plain) != cid:
                bad[cid] = f"is damaged (archive {short_name})"
    return len(data), bad, problems


def check_archives(
    backend: Backend,
    report: Any,
    *,
    read_data: bool,
    identity: ChunkIdentity | None = None,
    codec: ChunkCodec = PLAIN,
) -> tuple[dict[bytes, ArchivedChunk], dict[bytes, str]]:
    """Check every archive for ``check``: each index decodes and names an archive of the
    recorded size; with ``read_data`` every member inflates and every chunk matches its id.

    Appends to ``report.errors`` / ``report.warnings`` / ``report.bytes_read``; returns the
    archived chunks and the damaged ones ({id: why}) so that check can name the snapshots and
    paths that use them.
    """
    archives = ArchiveSet(backend, identity, codec).load()
    report.errors.extend(archives.problems)
    for orphan in archives.orphans:
        report.warnings.append(
            f"archive {orphan[:16]} has no index (left by an interrupted write; gc removes it)"
        )
    sizes = {o.name: o.size for o in backend.list(Kind.ARCHIVES)}
    bad: dict[bytes, str] = {}
    for name, idx in sorted(archives.indexes.items()):
        size = sizes.get(name)
        if size is None:
            report.errors.append(f"archive {name[:16]} is indexed but missing")
            bad.update({cid: f"is in missing archive {name[:16]}" for cid in idx.chunks})
        elif size != idx.size:
            report.errors.append(
                f"archive {name[:16]} has {size} bytes, its index says {idx.size} (damaged)"
            )
            bad.update({cid: f"is in damaged archive {name[:16]}" for cid in idx.chunks})
        elif read_data:
            nbytes, damaged, problems = verify_archive(backend, idx, identity, codec)
            report.bytes_read += nbytes
            report.errors.extend(problems)
            bad.update(damaged)
    return archives.locations, bad
