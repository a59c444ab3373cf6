"""File listings: the entries of one bulk root, stored as a msgpack stream cut into chunks.

Entries come in depth-first order with each directory's children sorted by name bytes (the
order ``sort_key`` gives), which lets diff and restore stream two listings side by side. The
stream is chunked with a smaller chunker than file data (``LISTING_DIVISOR``), so a change to
one entry re-stores about 16 KB rather than a megabyte (spec/manifest.md says why 64).

Entries are validated as they are decoded (``FileEntry.from_map``), and ``Coverage`` says which
live paths a listing speaks for (spec/restore.md).
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgpack

from snapstore.base.errors import CorruptData
from snapstore.store.chunker import Chunker
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.config import ChunkerParams

LISTING_DIVISOR = 64
LISTING_BLOCK = 1024 * 1024  # encoded bytes per chunking round when storing a listing
FILE, DIR, SYMLINK = "f", "d", "l"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file, directory or symlink, with the metadata restore and diff need."""

    path: bytes  # relative to the root, b"/"-separated; b"" is the root directory itself
    type: str  # FILE, DIR or SYMLINK
    mode: int  # permission bits (stat.S_IMODE)
    mtime_ns: int
    size: int = 0
    uid: int | None = None
    gid: int | None = None
    user: str | None = None
    group: str | None = None
    target: bytes | None = None  # symlink target
    chunks: tuple[bytes, ...] = ()
    inode: int = 0  # with ctime_ns: only for "unchanged since the parent snapshot" checks
    ctime_ns: int = 0

    def to_map(self) -> dict[str, object]:
        d: dict[str, object] = {"p": self.path, "t": self.type, "m": self.mode, "mt": self.mtime_ns}
        if self.type == FILE:
            d["s"] = self.size
            d["c"] = list(self.chunks)
        if self.type == SYMLINK:
            d["l"] = self.target
        if self.uid is not None:
            d["u"], d["g"] = self.uid, self.gid
        if self.user is not None:
            d["un"] = self.user
        if self.group is not None:
            d["gn"] = self.group
        d["i"], d["ct"] = self.inode, self.ctime_ns
        return d

    @classmethod
    def from_map(cls, d: dict[str, Any]) -> FileEntry:
        """Decode one entry, refusing what no capture writes (ValueError / TypeError naming
        the entry): a listing is read from a repository that may be damaged or hostile, and
        restore must not pass such values on to the file system (spec/restore.md)."""
        path, kind, mode, mtime = d["p"], d["t"], d["m"], d["mt"]
        size, uid, gid = d.get("s", 0), d.get("u"), d.get("g")
        user, group, target = d.get("un"), d.get("gn"), d.get("l")
        chunks, inode, ctime = d.get("c", ()), d.get("i", 0), d.get("ct", 0)
        # A few plain predicates for the common case (the checks cost per entry); _explain
        # says why an entry was refused.
        if not (
            type(path) is bytes
            and (not path or _plain_path(path))
            and _kind_ok(kind, target)
            and _numbers_ok(mode, mtime, size, inode, ctime)
            and _owners_ok(uid, gid, user, group)
            and _chunks_ok(chunks)
        ):
            _explain(d)
        return cls(
            path,
            kind,
            mode,
            mtime,
            size,
            uid,
            gid,
            user,
            group,
            target if kind == SYMLINK else None,
            tuple(chunks),
            inode,
            ctime,
        )


def _kind_ok(kind: Any, target: Any) -> bool:
    if kind == SYMLINK:
        return type(target) is bytes and bool(target) and b"\0" not in target
    return kind in _TYPES


def _numbers_ok(mode: Any, mtime: Any, size: Any, inode: Any, ctime: Any) -> bool:
    return (
        (type(mode), type(mtime), type(size), type(inode), type(ctime)) == _FIVE_INTS
        and 0 <= mode <= 0o7777
        and _I64[0] <= mtime <= _I64[1]
        and 0 <= size <= _I64[1]
        and 0 <= inode < 2**64
        and _I64[0] <= ctime <= _I64[1]
    )


def _owners_ok(uid: Any, gid: Any, user: Any, group: Any) -> bool:
    return (
        (uid is None or (type(uid) is int and 0 <= uid <= MAX_ID))
        and (gid is None or (type(gid) is int and 0 <= gid <= MAX_ID))
        and (user is None or type(user) is str)
        and (group is None or type(group) is str)
    )


def _chunks_ok(chunks: Any) -> bool:
    return type(chunks) in (list, tuple) and all(
        type(c) is bytes and len(c) == ID_BYTES for c in chunks
    )


_FIVE_INTS = (int, int, int, int, int)


def _plain_path(path: bytes) -> bool:
    return path_problem(path) is None


_I64 = (-(2**63), 2**63 - 1)


def _explain(d: dict[str, Any]) -> None:
    """Raise the error that names what is wrong with an entry ``from_map`` refused."""
    path = d["p"]
    if not isinstance(path, bytes):
        raise TypeError(f"entry path {show_path(path)} is not bytes")
    problem = path_problem(path)
    if problem:
        raise ValueError(f"entry {show_path(path)}: {problem}")
    kind = d["t"]
    if kind not in _TYPES:
        raise ValueError(f"entry {show_path(path)}: unknown entry type {kind!r}")
    target = d.get("l")
    if kind == SYMLINK and (not isinstance(target, bytes) or not target or b"\0" in target):
        raise ValueError(f"entry {show_path(path)}: symlink target {target!r} is not a valid path")
    chunks = d.get("c", ())
    if not isinstance(chunks, (list, tuple)) or not all(
        isinstance(c, bytes) and len(c) == ID_BYTES for c in chunks
    ):
        raise ValueError(f"entry {show_path(path)}: chunk ids are not {ID_BYTES}-byte strings")
    _int(d["m"], path, "mode", 0, 0o7777)
    _int(d["mt"], path, "mtime", *_I64)
    _int(d.get("s", 0), path, "size", 0, _I64[1])
    _owner(d.get("u"), path, "uid")
    _owner(d.get("g"), path, "gid")
    _name(d.get("un"), path, "user")
    _name(d.get("gn"), path, "group")
    _int(d.get("i", 0), path, "inode", 0, 2**64 - 1)
    _int(d.get("ct", 0), path, "ctime", *_I64)
    raise ValueError(f"entry {show_path(path)} is not a valid entry")


_TYPES = (FILE, DIR, SYMLINK)
ID_BYTES = 32
MAX_ID = 2**32 - 2  # uid_t / gid_t; 2**32 - 1 means "unchanged" to chown


def _int(value: object, path: bytes, what: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"entry {show_path(path)}: {what} {value!r} is out of range")
    return value


def _owner(value: object, path: bytes, what: str) -> int | None:
    return None if value is None else _int(value, path, what, 0, MAX_ID)


def _name(value: object, path: bytes, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"entry {show_path(path)}: {what} name {value!r} is not a string")
    return value


def show_path(path: object) -> str:
    """A listing path for messages: quoted text (undecodable bytes as escapes)."""
    return repr(os.fsdecode(path)) if isinstance(path, bytes) else repr(path)


def path_problem(path: bytes) -> str | None:
    """Why ``path`` cannot be a listing path (relative, ``/``-separated, no empty, ``.`` or
    ``..`` component, no NUL byte), or None when it can. ``b""`` is the root itself."""
    if not path:
        return None
    if b"\0" in path:
        return "holds a NUL byte"
    if path.startswith(b"/"):
        return "is absolute"
    if path.endswith(b"/") or b"//" in path:
        return "has an empty component"
    if b"." in path and any(p in (b".", b"..") for p in path.split(b"/")):
        return "has a '.' or '..' component"
    return None


def sort_key(path: bytes) -> tuple[bytes, ...]:
    """The listing order: compare paths component by component."""
    return tuple(path.split(b"/")) if path else ()


def listing_params(params: ChunkerParams) -> ChunkerParams:
    """The chunker parameters for listings, derived from the repository's."""
    return ChunkerParams(
        min_size=max(64, params.min_size // LISTING_DIVISOR),
        avg_size=max(256, params.avg_size // LISTING_DIVISOR),
        max_size=max(1024, params.max_size // LISTING_DIVISOR),
        normalization=params.normalization,
        seed=params.seed,
    )


class _EncodedEntries:
    """The msgpack stream of ``entries`` as a readable stream, encoded as it is read. An
    entry may also be given in ``to_map`` form (a dict), e.g. one reused from a listing."""

    def __init__(self, entries: Iterable[FileEntry | dict[str, Any]]) -> None:
        self._entries = iter(entries)
        self._packer = msgpack.Packer(use_bin_type=True)
        self._buf = bytearray()

    def read(self, n: int) -> bytes:
        while len(self._buf) < n:
            entry = next(self._entries, None)
            if entry is None:
                break
            self._buf += self._packer.pack(entry if isinstance(entry, dict) else entry.to_map())
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


def store_listing(store: ChunkStore, entries: Iterable[FileEntry | dict[str, Any]]) -> list[bytes]:
    """Store a listing; return the ids of its chunks.

    ``entries`` is consumed as a stream and the listing is chunked as it is encoded (the same
    cuts as chunking the whole encoding at once), so a listing of millions of entries is never
    held in memory whole.
    """
    chunker = Chunker(listing_params(store.identity.chunker))
    stream = _EncodedEntries(entries)
    return [store.add(piece)[0] for piece in chunker.cut_stream(stream, block=LISTING_BLOCK)]


def load_listing(store: ChunkStore, chunk_ids: Iterable[bytes], where: str) -> Iterator[FileEntry]:
    """Stream the entries of a stored listing, verifying every chunk as it is read."""
    maps = load_listing_maps(store, chunk_ids, where)
    try:
        for d in maps:
            yield FileEntry.from_map(d)
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptData(f"{where}: file listing is damaged ({e})") from None


def load_listing_maps(
    store: ChunkStore, chunk_ids: Iterable[bytes], where: str
) -> Iterator[dict[str, Any]]:
    """``load_listing`` without building FileEntry objects: the decoded maps (``to_map``'s
    form), for callers that look at a few fields of many entries (stat-based reuse)."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=1 << 30)
    for cid in chunk_ids:
        try:
            data = store.read(cid)
        except CorruptData as e:
            # Name the snapshot and root: a bare chunk id tells the user nothing.
            raise type(e)(f"{where}: file listing: {e}") from None
        unpacker.feed(data)
        try:
            for d in unpacker:
                if not isinstance(d, dict):
                    raise TypeError(f"entry is a {type(d).__name__}, not a map")
                yield d
        except (ValueError, TypeError, msgpack.UnpackException) as e:
            raise CorruptData(f"{where}: file listing is damaged ({e})") from None


# -- what a listing speaks for -----------------------------------------------------------------


def exclude_matcher(patterns: Iterable[bytes]) -> Callable[[bytes], bool]:
    """Whether a base name matches one of the shell patterns (``exclude`` setting): all
    patterns as one regex, as ``fnmatchcase`` builds them, so one match call per name."""
    pats = tuple(patterns)
    if not pats:
        return lambda name: False
    regex = re.compile(
        b"|".join(bytes(fnmatch.translate(str(p, "ISO-8859-1")), "ISO-8859-1") for p in pats)
    )
    return lambda name: regex.match(name) is not None


@dataclass(frozen=True)
class Coverage:
    """Which live paths a root's listing speaks for (spec/restore.md, "What restore keeps").

    A listing says nothing about names excluded from capture, about sockets, FIFOs and device
    files (never captured), and in a partial snapshot about the files create could not read
    and the contents of the directories it could not list. Restore keeps such live entries
    as they are, and ``restore --dry-run`` does not count them as removals."""

    excluded: Callable[[bytes], bool]
    unread: frozenset[bytes] = frozenset()  # paths create could not read
    unlisted: frozenset[bytes] = frozenset()  # directories create could not list

    @classmethod
    def of(cls, root_path: str, warnings: Iterable[str], excludes: Iterable[str]) -> Coverage:
        """From the exclude patterns and the snapshot's ``warnings``, whose lines for this
        root are ``cannot read <root>/<path>: <reason>`` and ``cannot list <dir>: <reason>``
        (the lines create writes for a partial snapshot)."""
        unread: set[bytes] = set()
        unlisted: set[bytes] = set()
        for line in warnings:
            for prefix, into in (("cannot read ", unread), ("cannot list ", unlisted)):
                if not isinstance(line, str) or not line.startswith(prefix):
                    continue
                where = line[len(prefix) :].rpartition(": ")[0]
                if where == root_path:
                    into.add(b"")
                elif where.startswith(root_path.rstrip("/") + "/"):
                    into.add(os.fsencode(where[len(root_path.rstrip("/")) + 1 :]))
        return cls(
            exclude_matcher(os.fsencode(p) for p in excludes),
            frozenset(unread),
            frozenset(unlisted),
        )

    def covers(self, rel: bytes, mode: int) -> bool:
        """Whether the listing speaks for the live entry at ``rel`` (``mode``: its lstat)."""
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            return False
        parent, _, name = rel.rpartition(b"/")
        if self.excluded(name) or rel in self.unread:
            return False
        return not self.unlisted or parent not in self.unlisted
