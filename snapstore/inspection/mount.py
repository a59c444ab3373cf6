"""``snapstore mount``: every snapshot as a read-only folder, served by FUSE.

The mount point shows one folder per snapshot, each in the reference's layout
(``snapstore.tree.layout``: ``metadata.json``, ``bulk_store/<root>/...``, ``database/``).
Each open file handle reads through a stream that fetches the file's next chunks through the
store's batched reader (tree/stream.py), so reading a file through costs a few ranged reads;
listings and the database's files go through a small cache of recent chunks. Every chunk is
verified like every other read; a damaged chunk makes that read fail with EIO (and a line on
stderr), never return wrong bytes. A snapshot's tree is indexed, through the same shape check
as an export, the first time it is opened.

FUSE comes from the system's libfuse through mfusepy (``pip install 'snapstore[mount]'``,
``apt install fuse3``). The file system runs in the foreground on one thread and is
unmounted when the process gets Ctrl-C (SIGINT) or SIGTERM, or by ``fusermount -u``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from snapstore.backend import Backend
from snapstore.base.errors import InvalidInput, SnapstoreError, SourceError
from snapstore.base.reporting import Reporter
from snapstore.inspection import tree_view as browse
from snapstore.manifest.catalog import Catalog
from snapstore.store.cache import Location
from snapstore.store.chunkstore import ChunkStore
from snapstore.tree.layout import TreeIndex
from snapstore.tree.nodes import DIR, SYMLINK, Node
from snapstore.tree.stream import Streams

CACHE_BYTES = 64 << 20
FUSE_DEVICE = "/dev/fuse"
HOW_TO_INSTALL = "pip install 'snapstore[mount]' and apt install fuse3 (or your system's libfuse)"


class ChunkCache:
    """The chunk store's single reads with an LRU of recent chunks: a collection's
    ``data.json`` is read in pieces at offsets, each descending its document tree again, so
    without it each node and leaf would be fetched and verified several times over. Streams
    (``read_many``) go straight to the store's batched reader."""

    def __init__(self, store: ChunkStore, limit: int = CACHE_BYTES) -> None:
        self.store = store
        self.limit = limit
        self._data: OrderedDict[bytes, bytes] = OrderedDict()
        self._size = 0

    def read(self, cid: bytes) -> bytes:
        data = self._data.get(cid)
        if data is not None:
            self._data.move_to_end(cid)
            return data
        data = self.store.read(cid)
        self._data[cid] = data
        self._size += len(data)
        while self._size > self.limit and len(self._data) > 1:
            _, old = self._data.popitem(last=False)
            self._size -= len(old)
        return data

    def read_many(self, ids: Iterable[bytes]) -> Iterator[bytes]:
        """Streams (a file read ahead, a listing) go through the store's batched reader,
        not through the cache: they read each chunk once."""
        return self.store.read_many(ids)

    def locate(self, cid: bytes) -> Location | None:
        return self.store.locate(cid)


def check_mountpoint(mountpoint: str, device: str = FUSE_DEVICE) -> Path:
    """The mount point must be an existing, empty folder, and FUSE must be available."""
    if not mountpoint.strip():
        raise InvalidInput("give a folder to mount the snapshots on")
    path = Path(mountpoint).expanduser().absolute()
    if not path.exists():
        raise InvalidInput(f"mount point {path} does not exist (create an empty folder)")
    if not path.is_dir():
        raise InvalidInput(f"mount point {path} is not a folder")
    if os.path.ismount(path):
        raise InvalidInput(f"{path} is already a mount point")
    if any(path.iterdir()):
        raise InvalidInput(f"mount point {path} is not empty")
    if not os.path.exists(device):
        raise SourceError(
            f"FUSE is not available here ({device} is missing): load the fuse module or "
            "use `snapstore export` instead"
        )
    return path


def _fuse() -> Any:
    try:
        import mfusepy
    except ImportError:
        raise SourceError(f"mount needs the mfusepy package: {HOW_TO_INSTALL}") from None
    except OSError as e:  # mfusepy raises this when libfuse is not installed
        raise SourceError(f"mount needs libfuse ({e}): {HOW_TO_INSTALL}") from None
    return mfusepy


def serve(backend: Backend, store: ChunkStore, mountpoint: Path, reporter: Reporter) -> None:
    """Mount and serve until unmounted (Ctrl-C). The caller holds a shared lock."""
    fuse = _fuse()
    ops = SnapshotFS(backend, ChunkCache(store), reporter, mountpoint)
    try:
        fuse.FUSE(
            ops, str(mountpoint), foreground=True, nothreads=True, ro=True, fsname="snapstore"
        )
    except RuntimeError as e:
        # libfuse reports a loop ended by SIGINT/SIGTERM as an error too (its code 8);
        # once the file system was up, that is the unmount the user asked for.
        if not ops.mounted:
            raise SourceError(f"could not mount on {mountpoint} (libfuse code {e})") from None


def _fail(code: int) -> OSError:
    # mfusepy answers the kernel with the errno of any OSError an operation raises.
    return OSError(code, os.strerror(code))


class SnapshotFS:
    """The FUSE operations (mfusepy registers the methods this class defines)."""

    use_ns = True  # times in nanoseconds

    def __init__(
        self, backend: Backend, cache: ChunkCache, reporter: Reporter, mountpoint: Path
    ) -> None:
        self.mountpoint = mountpoint
        self.catalog = Catalog(backend)
        self.cache = cache
        self.reporter = reporter
        self.trees: dict[str, TreeIndex] = {}
        self.streams = Streams()
        self.uid, self.gid = os.getuid(), os.getgid()
        self.mounted = False

    def init(self, path: str) -> None:
        self.mounted = True
        self.reporter.info(
            f"Snapshots mounted read-only on {self.mountpoint}; Ctrl-C (or fusermount -u) unmounts"
        )

    def _tree(self, name: str) -> TreeIndex:
        tree = self.trees.get(name)
        if tree is None:
            if name not in self.catalog.names():
                raise _fail(errno.ENOENT)
            try:
                manifest = self.catalog.load(name)
                layout = browse.layout(self.cache, manifest)  # type: ignore[arg-type]
                tree = TreeIndex(layout.walk(), f"snapshot {name}")
            except SnapstoreError as e:
                self.reporter.warn(f"{name}: {e}")
                raise _fail(errno.EIO) from None
            self.trees[name] = tree
        return tree

    def _lookup(self, path: str) -> tuple[str, Node | None]:
        """(snapshot name, node) for ``path``; the node is None for a snapshot's own folder,
        and the name is "" for the mount's root."""
        parts = path.strip("/").split("/", 1)
        if not parts[0]:
            return "", None
        tree = self._tree(parts[0])
        if len(parts) == 1:
            return parts[0], None
        node = tree.get(os.fsencode(parts[1]))
        if node is None:
            raise _fail(errno.ENOENT)
        return parts[0], node

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        _, node = self._lookup(path)
        if node is None:
            return {
                "st_mode": stat.S_IFDIR | 0o555,
                "st_nlink": 2,
                "st_uid": self.uid,
                "st_gid": self.gid,
            }
        size = node.size if node.type != SYMLINK else len(node.target or b"")
        return {
            "st_mode": node.st_mode,
            "st_nlink": 2 if node.type == DIR else 1,
            "st_size": size,
            "st_mtime": node.mtime_ns,
            "st_ctime": node.mtime_ns,
            "st_atime": node.mtime_ns,
            "st_uid": node.uid if node.uid is not None else self.uid,
            "st_gid": node.gid if node.gid is not None else self.gid,
        }

    def readdir(self, path: str, fh: int) -> list[str]:
        name, node = self._lookup(path)
        if not name:
            names = self.catalog.names()
        elif node is None:
            names = [os.fsdecode(n) for n in self._tree(name).children(b"")]
        elif node.type == DIR:
            names = [os.fsdecode(n) for n in self._tree(name).children(node.path)]
        else:
            raise _fail(errno.ENOTDIR)
        return [".", "..", *names]

    def readlink(self, path: str) -> str:
        _, node = self._lookup(path)
        if node is None or node.type != SYMLINK:
            raise _fail(errno.EINVAL)
        return os.fsdecode(node.target or b"")

    def open(self, path: str, flags: int) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_TRUNC):
            raise _fail(errno.EROFS)
        _, node = self._lookup(path)
        if node is None or node.type == DIR:
            raise _fail(errno.EISDIR)
        return self.streams.new_handle()

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        _, node = self._lookup(path)
        if node is None or node.content is None:
            raise _fail(errno.EISDIR)
        try:
            return self.streams.read(fh, node.content, offset, size)
        except SnapstoreError as e:
            self.reporter.warn(f"{path}: {e}")
            raise _fail(errno.EIO) from None

    def release(self, path: str, fh: int) -> int:
        self.streams.close(fh)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 255}
