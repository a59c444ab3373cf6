"""Writing a snapshot tree out: into a new directory, or as a tar stream.

Both take nodes in ``walk`` order (parents before children). A directory is written into a
staging folder beside the destination and renamed into place only when complete, so an
interrupted export never leaves a half-written tree under the requested name; a tar file
is written to a temporary name beside it and renamed at the end (or streamed to stdout).
Every file's bytes are verified as they are read from the chunk store. Entries are created
with ``O_EXCL`` and ``O_NOFOLLOW`` inside folders this writer made itself, and the tree has
already been checked (no entry below a symlink, no ``..``), so nothing is written outside
the destination.
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
from typing import BinaryIO

from snapstore.errors import InvalidInput
from snapstore.tree.nodes import DIR, FILE, SYMLINK, Node
from snapstore.tree.pathmax import fits, too_long
from snapstore.tree.remove import remove_directory


@dataclass
class WriteStats:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0


def check_new_destination(dest: Path) -> None:
    """An export target must be new (or an empty folder): never merge into existing data."""
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise InvalidInput(f"{dest} exists and is not a folder; choose a new path")
    if dest.is_dir() and any(dest.iterdir()):
        raise InvalidInput(f"{dest} is not empty; export writes into a new or empty folder")
    if not dest.parent.is_dir():
        raise InvalidInput(f"{dest.parent} does not exist")


def write_directory(nodes: Iterable[Node], dest: Path) -> WriteStats:
    """Write ``nodes`` as the tree ``dest`` (new or empty), atomically."""
    check_new_destination(dest)
    stage = dest.parent / f".{dest.name}.snapstore-export-{secrets.token_hex(4)}"
    stats = WriteStats()
    as_root = os.geteuid() == 0
    dirs: list[Node] = []  # folder times are set last: writing inside them changes them
    try:
        for node in nodes:
            path = stage / os.fsdecode(node.path) if node.path else stage
            if not fits(str(path)):
                raise InvalidInput(
                    too_long(str(path), "cannot export to") + "; `export --tar` has no such limit"
                )
            if node.type == DIR:
                os.mkdir(path, 0o700)
                dirs.append(node)
                stats.dirs += 1
            elif node.type == SYMLINK:
                os.symlink(node.target or b"", path)
                stats.symlinks += 1
            elif node.type == FILE:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with open(fd, "wb") as f:
                    for piece in node.content.chunks() if node.content else ():
                        f.write(piece)
                        stats.bytes += len(piece)
                stats.files += 1
            if node.type != DIR:
                _set_metadata(path, node, as_root)
        for node in reversed(dirs):
            _set_metadata(stage / os.fsdecode(node.path) if node.path else stage, node, as_root)
        os.sync()  # the staged tree is durable before it gets its final name
        if dest.is_dir():
            dest.rmdir()  # empty (checked above)
        os.rename(stage, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            remove_directory(stage)
        raise
    return stats


def _set_metadata(path: Path, node: Node, as_root: bool) -> None:
    if as_root and node.uid is not None and node.gid is not None:
        os.chown(path, node.uid, node.gid, follow_symlinks=False)
    if node.type != SYMLINK:
        os.chmod(path, node.mode)
    os.utime(path, ns=(node.mtime_ns, node.mtime_ns), follow_symlinks=False)


class _ChunkReader(io.RawIOBase):
    """A file object over a node's content, for tarfile."""

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


def write_tar(nodes: Iterable[Node], out: BinaryIO, *, gzip: bool, top: str) -> WriteStats:
    """Write ``nodes`` as a tar stream (gzip-compressed with ``gzip``) under the folder
    name ``top``."""
    stats = WriteStats()
    with tarfile.open(fileobj=out, mode="w|gz" if gzip else "w|", format=tarfile.PAX_FORMAT) as tar:
        for node in nodes:
            name = top + ("/" + os.fsdecode(node.path) if node.path else "")
            info = tarfile.TarInfo(name)
            info.mode = node.mode
            info.mtime = node.mtime_ns / 1e9
            if node.uid is not None:
                info.uid, info.gid = node.uid, node.gid or 0
            info.uname, info.gname = node.user or "", node.group or ""
            if node.type == DIR:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                stats.dirs += 1
            elif node.type == SYMLINK:
                info.type = tarfile.SYMTYPE
                info.linkname = os.fsdecode(node.target or b"")
                tar.addfile(info)
                stats.symlinks += 1
            else:
                info.size = node.size
                reader = _ChunkReader(node.content.chunks() if node.content else iter(()))
                tar.addfile(info, reader)
                stats.files += 1
                stats.bytes += node.size
    return stats


def write_tar_file(nodes: Iterable[Node], dest: Path, *, top: str) -> WriteStats:
    """``write_tar`` into the file ``dest`` (``.tar.gz``/``.tgz``: compressed), atomically."""
    if dest.is_dir():
        raise InvalidInput(f"{dest} is a folder; give the name of the tar file to write")
    if not dest.parent.is_dir():
        raise InvalidInput(f"{dest.parent} does not exist")
    gzip = dest.name.endswith((".gz", ".tgz"))
    tmp = dest.parent / f".{dest.name}.snapstore-{secrets.token_hex(4)}"
    try:
        with open(tmp, "xb") as f:
            stats = write_tar(nodes, f, gzip=gzip, top=top)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return stats
