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
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import tempfile
import zlib
from collections import OrderedDict, deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import blake3
import msgpack

from snapstore.backend import Backend, Kind
from snapstore.errors import CorruptData, MissingChunk, ObjectNotFound
from snapstore.store.ids import chunk_id, short

ARCHIVE_SUFFIX = ".tar.gz"
INDEX_SUFFIX = ".idx"
ARCHIVE_INDEX_VERSION = 1
# Raw chunk bytes per gzip member: what one lookup may have to inflate (spec/archives.md has
# the measurements behind this number: beyond ~256 KiB the ratio gains under 0.5%).
MEMBER_TARGET = 1 << 20
# Raw chunk bytes per archive object (spooled to a file, then published with one put).
ARCHIVE_TARGET = 256 << 20
GZIP_LEVEL = 6
BLOCK = 512
# Inflated members kept in memory, so reading neighbouring chunks inflates each member once.
MEMBER_CACHE = 4
# Members handed to the executor and not compressed yet (each up to MEMBER_TARGET + a chunk).
MAX_PENDING_MEMBERS = 8


@dataclass(frozen=True, slots=True)
class Member:
    """One gzip member: where it starts in the archive and its compressed and raw sizes."""

    offset: int
    length: int
    raw_length: int


@dataclass(frozen=True, slots=True)
class ArchivedChunk:
    """Where a chunk is: archive name, member number, offset and length in the member's
    raw (inflated) bytes."""

    archive: str
    member: int
    offset: int
    length: int


@dataclass
class ArchiveIndex:
    """The decoded ``<hex>.idx`` object of one archive."""

    archive: str
    size: int
    members: list[Member] = field(default_factory=list)
    chunks: dict[bytes, tuple[int, int, int]] = field(default_factory=dict)  # id -> member,off,len

    def encode(self) -> bytes:
        doc = {
            "version": ARCHIVE_INDEX_VERSION,
            "archive": self.archive,
            "size": self.size,
            "members": [[m.offset, m.length, m.raw_length] for m in self.members],
            "chunks": [[cid, *loc] for cid, loc in self.chunks.items()],
        }
        return msgpack.packb(doc, use_bin_type=True)

    @classmethod
    def decode(cls, data: bytes, name: str) -> ArchiveIndex:
        try:
            doc = msgpack.unpackb(data, raw=False)
            if doc["version"] > ARCHIVE_INDEX_VERSION:
                raise CorruptData(f"archive index {name} has version {doc['version']}; upgrade")
            return cls(
                archive=str(doc["archive"]),
                size=int(doc["size"]),
                members=[Member(int(a), int(b), int(c)) for a, b, c in doc["members"]],
                chunks={bytes(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in doc["chunks"]},
            )
        except CorruptData:
            raise
        except Exception as e:
            raise CorruptData(f"archive index {name} is damaged ({e})") from None

    def stored_share(self, cid: bytes) -> int:
        """The compressed bytes attributable to one chunk (its share of its member)."""
        member, _, length = self.chunks[cid]
        m = self.members[member]
        return (m.length * length) // max(1, m.raw_length)

    def raw_bytes(self) -> int:
        return sum(length for _, _, length in self.chunks.values())


def index_name(archive: str) -> str:
    return archive[: -len(ARCHIVE_SUFFIX)] + INDEX_SUFFIX


def archive_name_of_index(index: str) -> str:
    return index[: -len(INDEX_SUFFIX)] + ARCHIVE_SUFFIX


# -- writing ----------------------------------------------------------------------------------


def _tar_header(cid: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(cid.hex())
    info.size = size
    info.mode = 0o444
    info.mtime = 0
    info.type = tarfile.REGTYPE
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _pad(n: int) -> bytes:
    return b"\0" * (-n % BLOCK)


class ArchiveBuilder:
    """Accumulates chunks (raw bytes) into gzip members written one after the other to a spool
    file; ``finish`` returns the archive's name, that file and its index. Members are
    independent, so with an ``executor`` they are compressed on its threads (zlib releases the
    GIL) while more chunks are added. At most ``MAX_PENDING_MEMBERS`` members are in memory
    at once (waiting to be compressed or written): memory stays bounded whatever the archive's
    size (issue 13 §6: archives were built whole in memory). ``spool_dir`` is where the file
    goes: the backend's ``spool_dir()``, so that publishing it is a rename, not a copy."""

    def __init__(
        self,
        member_target: int = MEMBER_TARGET,
        level: int = GZIP_LEVEL,
        executor: Executor | None = None,
        spool_dir: str | None = None,
    ) -> None:
        self.member_target = member_target
        self.level = level
        self.executor = executor
        self.spool_dir = spool_dir
        self._queue: deque[tuple[Future[bytes] | bytes, int]] = deque()  # (gzip, raw length)
        self._written: list[Member] = []
        self._size = 0
        self._hash = blake3.blake3()
        self._file: BinaryIO | None = None
        self._path: str | None = None
        self._raw: list[bytes] = []
        self._raw_size = 0
        self._pending: dict[bytes, tuple[int, int]] = {}  # id -> offset, length in member raw
        self.chunks: dict[bytes, tuple[int, int, int]] = {}
        self.raw_bytes = 0

    def __contains__(self, cid: bytes) -> bool:
        return cid in self.chunks or cid in self._pending

    def __len__(self) -> int:
        return len(self.chunks) + len(self._pending)

    def add(self, cid: bytes, data: bytes) -> None:
        if cid in self:
            return
        header = _tar_header(cid, len(data))
        self._raw.append(header)
        self._pending[cid] = (self._raw_size + len(header), len(data))
        self._raw.append(data)
        self._raw.append(_pad(len(data)))
        self._raw_size += len(header) + len(data) + len(_pad(len(data)))
        self.raw_bytes += len(data)
        if self._raw_size >= self.member_target:
            self._close_member()

    def _close_member(self, trailer: bytes = b"") -> None:
        if not self._raw and not trailer:
            return
        raw = b"".join(self._raw) + trailer
        number = len(self._written) + len(self._queue)
        if self.executor is None:
            self._queue.append((_gzip(raw, self.level), len(raw)))
        else:
            self._queue.append((self.executor.submit(_gzip, raw, self.level), len(raw)))
        for cid, (off, length) in self._pending.items():
            self.chunks[cid] = (number, off, length)
        self._raw, self._raw_size, self._pending = [], 0, {}
        self._write_ready(wait=False)

    def _write_ready(self, wait: bool) -> None:
        """Append finished members to the spool file, in order; block on the oldest one
        when too many are in memory (or, with ``wait``, until all are written)."""
        while self._queue:
            packed, raw_length = self._queue[0]
            if isinstance(packed, Future):
                if not (wait or packed.done() or len(self._queue) > MAX_PENDING_MEMBERS):
                    return
                packed = packed.result()
            self._queue.popleft()
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
        return name, self._path, ArchiveIndex(name, self._size, list(self._written), self.chunks)

    def discard(self) -> None:
        """Drop the spool file of an archive that will not be published."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)


def _gzip(raw: bytes, level: int) -> bytes:
    # wbits 31: a gzip member (header + deflate + CRC32/ISIZE trailer), mtime 0 for
    # reproducible archives.
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(raw) + c.flush()


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


def _inflate(data: bytes, where: str) -> bytes:
    """Inflate one whole gzip member (its CRC32 and length are checked by zlib)."""
    d = zlib.decompressobj(31)
    try:
        out = d.decompress(data)
    except zlib.error as e:
        raise CorruptData(f"{where}: gzip data is damaged ({e})") from None
    if not d.eof:
        raise CorruptData(f"{where}: gzip member is truncated")
    return out


class ArchiveSet:
    """Every archive of a repository as one lookup table, loaded on first use.

    ``problems`` lists index objects that could not be read (check reports them).
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
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
            self.locations.setdefault(cid, ArchivedChunk(idx.archive, member, off, length))

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
                        self.locations[cid] = ArchivedChunk(other.archive, m, o, n)
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
        raw = _inflate(packed, where)
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
        if len(data) != loc.length or chunk_id(data) != cid:
            raise CorruptData(
                f"chunk {short(cid)} in archive {loc.archive[:16]} does not match its id"
            )
        return data

    def stored_share(self, cid: bytes) -> int:
        loc = self.locate(cid)
        return 0 if loc is None else self.indexes[loc.archive].stored_share(cid)


def verify_archive(backend: Backend, idx: ArchiveIndex) -> tuple[int, dict[bytes, str], list[str]]:
    """Read an archive in full: return (bytes read, {bad chunk: why}, archive-level problems)."""
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
            raw = _inflate(data[m.offset : m.offset + m.length], where)
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
            if chunk_id(raw[off : off + length]) != cid:
                bad[cid] = f"is damaged (archive {short_name})"
    return len(data), bad, problems


def iter_tar_members(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every file in a tar.gz, as a standard reader sees it (tests, rebuild)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for info in tar:
            f = tar.extractfile(info)
            if f is not None:
                yield info.name, f.read()


def rebuild_index(data: bytes, name: str) -> ArchiveIndex:
    """Recreate an archive's index from the archive alone (members found by scanning)."""
    idx = ArchiveIndex(name, len(data))
    pos = 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        raw = d.decompress(data[pos:])
        if not d.eof:
            raise CorruptData(f"archive {name[:16]}: truncated gzip member at {pos}")
        length = len(data) - pos - len(d.unused_data)
        number = len(idx.members)
        idx.members.append(Member(pos, length, len(raw)))
        off = 0
        while off + BLOCK <= len(raw) and raw[off : off + BLOCK] != b"\0" * BLOCK:
            info = tarfile.TarInfo.frombuf(raw[off : off + BLOCK], "utf-8", "surrogateescape")
            idx.chunks[bytes.fromhex(info.name)] = (number, off + BLOCK, info.size)
            off += BLOCK + info.size + (-info.size % BLOCK)
        pos += length
    return idx


def check_archives(
    backend: Backend, report: Any, *, read_data: bool
) -> tuple[dict[bytes, ArchivedChunk], dict[bytes, str]]:
    """Check every archive for ``check``: each index decodes and names an archive of the
    recorded size; with ``read_data`` every member inflates and every chunk matches its id.

    Appends to ``report.errors`` / ``report.warnings`` / ``report.bytes_read``; returns the
    archived chunks and the damaged ones ({id: why}) so that check can name the snapshots and
    paths that use them.
    """
    archives = ArchiveSet(backend).load()
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
            nbytes, damaged, problems = verify_archive(backend, idx)
            report.bytes_read += nbytes
            report.errors.extend(problems)
            bad.update(damaged)
    return archives.locations, bad
