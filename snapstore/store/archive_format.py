"""The cold-archive format (spec/archives.md): names, the archive index object, tar and gzip.

Pure functions and records, no backend: what a reader of an archive needs to know, and what
store/archives.py (which builds, stores, looks up and checks archives) stands on. An archive is
an ordinary ``.tar.gz`` made of independent gzip members, each holding whole tar entries named
by chunk id in hex; its index ``<hex>.idx`` (msgpack) gives each member's offset and sizes and
each chunk's member, offset and length inside it. Because entries are named by chunk id, an
index can be rebuilt from the archive alone (``rebuild_index``).
"""

from __future__ import annotations

import io
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgpack

from snapstore.base.errors import CorruptData

ARCHIVE_SUFFIX = ".tar.gz"
INDEX_SUFFIX = ".idx"
ARCHIVE_INDEX_VERSION = 1
GZIP_LEVEL = 6
BLOCK = 512


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
    raw: int = -1  # the chunk's own length when the entry is not the chunk (encrypted)

    @property
    def raw_length(self) -> int:
        return self.length if self.raw < 0 else self.raw


@dataclass
class ArchiveIndex:
    """The decoded ``<hex>.idx`` object of one archive."""

    archive: str
    size: int
    members: list[Member] = field(default_factory=list)
    chunks: dict[bytes, tuple[int, int, int]] = field(default_factory=dict)  # id -> member,off,len
    # Encrypted repositories only (spec/encryption.md, "Archives"): an entry holds the chunk
    # deflated and sealed, so its length is not the chunk's; this is (written as a fifth
    # field of the chunk's row).
    raw_lengths: dict[bytes, int] = field(default_factory=dict)

    def encode(self) -> bytes:
        doc = {
            "version": ARCHIVE_INDEX_VERSION,
            "archive": self.archive,
            "size": self.size,
            "members": [[m.offset, m.length, m.raw_length] for m in self.members],
            "chunks": [
                [cid, *loc, *((self.raw_lengths[cid],) if cid in self.raw_lengths else ())]
                for cid, loc in self.chunks.items()
            ],
        }
        packed: bytes = msgpack.packb(doc, use_bin_type=True)
        return packed

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
                raw_lengths={bytes(r[0]): int(r[4]) for r in doc["chunks"] if len(r) > 4},
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
        return sum(self.raw_lengths.get(c, n) for c, (_, _, n) in self.chunks.items())


def index_name(archive: str) -> str:
    return archive[: -len(ARCHIVE_SUFFIX)] + INDEX_SUFFIX


def archive_name_of_index(index: str) -> str:
    return index[: -len(INDEX_SUFFIX)] + ARCHIVE_SUFFIX


def tar_header(cid: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(cid.hex())
    info.size = size
    info.mode = 0o444
    info.mtime = 0
    info.type = tarfile.REGTYPE
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def pad(n: int) -> bytes:
    return b"\0" * (-n % BLOCK)


def gzip_member(raw: bytes, level: int) -> bytes:
    # wbits 31: a gzip member (header + deflate + CRC32/ISIZE trailer), mtime 0 for
    # reproducible archives.
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(raw) + c.flush()


def inflate(data: bytes, where: str) -> bytes:
    """Inflate one whole gzip member (its CRC32 and length are checked by zlib)."""
    d = zlib.decompressobj(31)
    try:
        out = d.decompress(data)
    except zlib.error as e:
        raise CorruptData(f"{where}: gzip data is damaged ({e})") from None
    if not d.eof:
        raise CorruptData(f"{where}: gzip member is truncated")
    return out


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
