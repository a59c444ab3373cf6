"""Writing a snapshot tree out: one walker, one checker, one read plan, several Outputs.

``write_tree`` walks nodes (parents before children) into an :class:`Output`, as kopia's
restore walks a snapshot into a directory, a tar or a zip: ``directory``, ``symlink`` and
``file`` for each node, then ``finish`` (publish), or ``abort`` when anything failed or was
interrupted (leave nothing half-written under the requested name). Every node passes the one
``ShapeChecker`` before the Output sees it, and every file's bytes come from one read plan over
the whole walk (store/readplan.py): chunks of neighbouring files are fetched together, verified
on the store's workers, and a damaged chunk is an error naming the snapshot and the path.

Outputs here: ``DirectoryOutput`` (a new folder, written in a staging folder beside it and
renamed into place when complete and synced; entries created with ``O_EXCL`` and
``O_NOFOLLOW`` inside folders it made itself) and ``TarOutput`` (a tar stream, to a temporary
file renamed at the end by ``TarFileOutput``, or to standard output). Restore's staged tree
(sources/files/restore/stage.py) is the directory output with hard links to unchanged live files;
it reads through the same read plan. spec/browse.md, "Writing a tree out", is the contract.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from snapstore.base.errors import CorruptData, InvalidInput
from snapstore.store.readplan import ReadPlan, ReadsMany
from snapstore.tree.nodes import DIR, FILE, SYMLINK, Node, named
from snapstore.tree.pathmax import fits, too_long
from snapstore.tree.remove import remove_directory
from snapstore.tree.shape import ShapeChecker


@dataclass
class WriteStats:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0


class Output(Protocol):
    """Where a tree is written. Nodes come parents first, already checked (``ShapeChecker``)."""

    def directory(self, node: Node) -> None:
        """Make the folder ``node`` (its metadata may be set in ``finish``)."""
        ...

    def symlink(self, node: Node) -> None: ...

    def file(self, node: Node, data: Iterator[bytes]) -> None:
        """Write the file from ``data``: its verified bytes, exactly ``node.size`` of them
        (a short or long file raises CorruptData from ``data``)."""
        ...

    def finish(self) -> None:
        """Everything is written: make it durable and visible under its name."""
        ...

    def abort(self) -> None:
        """Something failed or was interrupted: remove what was written."""
        ...


def _planned(node: Node) -> Iterable[bytes]:
    """The stored chunks the read plan fetches for ``node``."""
    if node.type != FILE or node.content is None:
        return ()
    return node.content.chunk_ids() or ()


def write_tree(store: ReadsMany, nodes: Iterable[Node], out: Output, where: str) -> WriteStats:
    """Walk ``nodes`` into ``out`` (module doc); ``where`` names the snapshot in errors."""
    stats = WriteStats()
    checker = ShapeChecker(where)
    try:
        with ReadPlan(store, nodes, _planned) as plan:
            for node in plan.items():
                checker.check(node)
                if node.type == DIR:
                    out.directory(node)
                    stats.dirs += 1
                elif node.type == SYMLINK:
                    out.symlink(node)
                    stats.symlinks += 1
                else:
                    data = _FileData(node, plan)
                    out.file(node, data)
                    data.drain()
                    stats.files += 1
                    stats.bytes += data.total
        out.finish()
    except BaseException:
        out.abort()
        raise
    return stats


class _FileData(Iterator[bytes]):
    """One file's bytes for an Output: from the read plan (or, for content held in memory,
    from the content), errors naming the file, the size checked against the node's."""

    def __init__(self, node: Node, plan: ReadPlan[Node]) -> None:
        content = node.content
        self.node = node
        self.where = content.where if content is not None else ""
        if content is None:
            source: Iterator[bytes] = iter(())
        elif content.chunk_ids() is None:
            source = content.chunks()
        else:
            source = named(plan.content(), self.where)
        self._source = source
        self.total = 0

    def __next__(self) -> bytes:
        try:
            piece = next(self._source)
        except StopIteration:
            if self.total != self.node.size:
                raise CorruptData(
                    f"{self.where or os.fsdecode(self.node.path)}: read {self.total} bytes, "
                    f"the snapshot says {self.node.size}"
                ) from None
            raise
        self.total += len(piece)
        return piece

    def drain(self) -> None:
        """Read what the Output left (a tar member takes exactly ``size`` bytes), so that
        a file longer than its size is caught too."""
        for _ in self:
            pass


def check_new_destination(dest: Path) -> None:
    """An export target must be new (or an empty folder): never merge into existing data."""
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise InvalidInput(f"{dest} exists and is not a folder; choose a new path")
    if dest.is_dir() and any(dest.iterdir()):
        raise InvalidInput(f"{dest} is not empty; export writes into a new or empty folder")
    if not dest.parent.is_dir():
        raise InvalidInput(f"{dest.parent} does not exist")


class DirectoryOutput:
    """A new (or empty) folder ``dest``, written atomically (module doc)."""

    def __init__(self, dest: Path) -> None:
        check_new_destination(dest)
        self.dest = dest
        self.stage = dest.parent / f".{dest.name}.snapstore-export-{secrets.token_hex(4)}"
        self.as_root = os.geteuid() == 0
        self.dirs: list[tuple[Path, Node]] = []  # folder times are set last

    def _path(self, node: Node) -> Path:
        path = self.stage / os.fsdecode(node.path) if node.path else self.stage
        if not fits(str(path)):
            raise InvalidInput(
                too_long(str(path), "cannot export to") + "; `export --tar` has no such limit"
            )
        return path

    def directory(self, node: Node) -> None:
        path = self._path(node)
        os.mkdir(path, 0o700)
        self.dirs.append((path, node))

    def symlink(self, node: Node) -> None:
        path = self._path(node)
        os.symlink(node.target or b"", path)
        _set_metadata(path, node, self.as_root)

    def file(self, node: Node, data: Iterator[bytes]) -> None:
        path = self._path(node)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with open(fd, "wb") as f:
            for piece in data:
                f.write(piece)
        _set_metadata(path, node, self.as_root)

    def finish(self) -> None:
        # Writing inside the folders changed their times: set them now, deepest first.
        for path, node in reversed(self.dirs):
            _set_metadata(path, node, self.as_root)
        os.sync()  # the staged tree is durable before it gets its final name
        if self.dest.is_dir():
            self.dest.rmdir()  # empty (checked above)
        os.rename(self.stage, self.dest)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            remove_directory(self.stage)


def _set_metadata(path: Path, node: Node, as_root: bool) -> None:
    if as_root and node.uid is not None and node.gid is not None:
        os.chown(path, node.uid, node.gid, follow_symlinks=False)
    if node.type != SYMLINK:
        os.chmod(path, node.mode)
    os.utime(path, ns=(node.mtime_ns, node.mtime_ns), follow_symlinks=False)


class _Pieces(io.RawIOBase):
    """A file object over a file's pieces, for tarfile."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._buf = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._buf += piece
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


class TarOutput:
    """A tar stream (gzip-compressed with ``gzip``) on ``out``, every path under the folder
    name ``top``. ``abort`` leaves the stream without its end marker, so no reader takes a
    cut stream for a whole one."""

    def __init__(self, out: BinaryIO, *, gzip: bool, top: str) -> None:
        # Closed by finish or abort.
        self.tar = (
            tarfile.open(fileobj=out, mode="w|gz", format=tarfile.PAX_FORMAT)  # noqa: SIM115
            if gzip
            else tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        )
        self.top = top

    def _info(self, node: Node, kind: bytes) -> tarfile.TarInfo:
        info = tarfile.TarInfo(self.top + ("/" + os.fsdecode(node.path) if node.path else ""))
        info.type = kind
        info.mode = node.mode
        info.mtime = node.mtime_ns / 1e9
        if node.uid is not None:
            info.uid, info.gid = node.uid, node.gid or 0
        info.uname, info.gname = node.user or "", node.group or ""
        return info

    def directory(self, node: Node) -> None:
        self.tar.addfile(self._info(node, tarfile.DIRTYPE))

    def symlink(self, node: Node) -> None:
        info = self._info(node, tarfile.SYMTYPE)
        info.linkname = os.fsdecode(node.target or b"")
        self.tar.addfile(info)

    def file(self, node: Node, data: Iterator[bytes]) -> None:
        info = self._info(node, tarfile.REGTYPE)
        info.size = node.size
        self.tar.addfile(info, _Pieces(data))

    def finish(self) -> None:
        self.tar.close()

    def abort(self) -> None:
        # What tarfile's own exit does on an error: close, without the end-of-archive blocks.
        with contextlib.suppress(OSError):
            self.tar.__exit__(CorruptData, None, None)


class TarFileOutput(TarOutput):
    """``TarOutput`` into the file ``dest`` (``.tar.gz``/``.tgz``: compressed), written to a
    temporary name beside it, synced and renamed at the end."""

    def __init__(self, dest: Path, *, top: str) -> None:
        if dest.is_dir():
            raise InvalidInput(f"{dest} is a folder; give the name of the tar file to write")
        if not dest.parent.is_dir():
            raise InvalidInput(f"{dest.parent} does not exist")
        self.dest = dest
        self.tmp = dest.parent / f".{dest.name}.snapstore-{secrets.token_hex(4)}"
        self.file_ = open(self.tmp, "xb")  # noqa: SIM115 - closed by finish or abort
        super().__init__(self.file_, gzip=dest.name.endswith((".gz", ".tgz")), top=top)

    def finish(self) -> None:
        super().finish()
        self.file_.flush()
        os.fsync(self.file_.fileno())
        self.file_.close()
        os.replace(self.tmp, self.dest)

    def abort(self) -> None:
        super().abort()
        self.file_.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)
