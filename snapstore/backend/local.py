"""Local-directory backend: one file per object, written to a temporary file and published by
an atomic rename (or link, for create-only puts), with fsync of the file and its directory.

Layout (see spec/repository.md): ``config``, ``packs/<first two hex digits>/<name>``,
``index/<name>``, ``snapshots/<name>``, ``archives/<name>``, ``locks/<name>``, and ``tmp/`` for
objects being written. Pack names are spread over 256 folders so no folder grows huge.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from snapstore.backend.base import Backend, Kind, ObjectInfo, check_name
from snapstore.errors import ObjectExists, ObjectNotFound, RepositoryError

_LAYOUT = ("packs", "index", "snapshots", "archives", "locks", "tmp")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBackend(Backend):
    """Objects as files under a root directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.location = str(self.root)

    # -- layout -------------------------------------------------------------------------------

    def _path(self, kind: Kind, name: str) -> Path:
        if kind is Kind.CONFIG:
            return self.root / "config"
        check_name(name)
        if kind is Kind.PACKS:
            return self.root / "packs" / name[:2] / name
        return self.root / kind.value / name

    def exists(self) -> bool:
        return (self.root / "config").is_file()

    def create(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise RepositoryError(f"{self.root} exists and is not a directory")
        # Our own layout folders are not foreign content, so create() is idempotent.
        foreign = self.root.is_dir() and any(p.name not in _LAYOUT for p in self.root.iterdir())
        if foreign and not self.exists():
            raise RepositoryError(
                f"{self.root} is not empty and not a snapstore repository; choose another path"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in _LAYOUT:
            (self.root / sub).mkdir(exist_ok=True)
        _fsync_dir(self.root)

    # -- objects ------------------------------------------------------------------------------

    def put(self, kind: Kind, name: str, data: bytes, *, overwrite: bool = True) -> None:
        final = self._path(kind, name)
        if not final.parent.is_dir():
            final.parent.mkdir(parents=True, exist_ok=True)
            _fsync_dir(final.parent.parent)
        tmp = self.root / "tmp" / f"{kind.value}-{secrets.token_hex(8)}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if overwrite:
                os.replace(tmp, final)
            else:
                try:
                    os.link(tmp, final)
                except FileExistsError:
                    raise ObjectExists(f"{kind.value}/{name} already exists") from None
                os.unlink(tmp)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(final.parent)

    def spool_dir(self) -> str:
        return str(self.root / "tmp")

    def put_file(self, kind: Kind, name: str, path: str, *, overwrite: bool = True) -> None:
        """Publish a file written in ``spool_dir()`` by a rename (others are copied there
        first); the same atomic, durable publish as ``put``."""
        final = self._path(kind, name)
        if not final.parent.is_dir():
            final.parent.mkdir(parents=True, exist_ok=True)
            _fsync_dir(final.parent.parent)
        tmp = Path(path)
        try:
            if tmp.parent != self.root / "tmp":
                staged = self.root / "tmp" / f"{kind.value}-{secrets.token_hex(8)}"
                shutil.copyfile(tmp, staged)
                os.unlink(tmp)
                tmp = staged
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            if overwrite:
                os.replace(tmp, final)
            else:
                try:
                    os.link(tmp, final)
                except FileExistsError:
                    raise ObjectExists(f"{kind.value}/{name} already exists") from None
                os.unlink(tmp)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(final.parent)

    def get(self, kind: Kind, name: str, offset: int = 0, length: int | None = None) -> bytes:
        path = self._path(kind, name)
        try:
            with open(path, "rb") as f:
                if offset:
                    f.seek(offset)
                data = f.read() if length is None else f.read(length)
        except FileNotFoundError:
            raise ObjectNotFound(f"{kind.value}/{name} is missing") from None
        if length is not None and len(data) != length:
            raise ObjectNotFound(
                f"{kind.value}/{name} is shorter than expected "
                f"(wanted {length} bytes at {offset}, got {len(data)})"
            )
        return data

    def stat(self, kind: Kind, name: str) -> ObjectInfo:
        try:
            st = self._path(kind, name).stat()
        except FileNotFoundError:
            raise ObjectNotFound(f"{kind.value}/{name} is missing") from None
        return ObjectInfo(name, st.st_size, st.st_mtime)

    def list(self, kind: Kind) -> Iterator[ObjectInfo]:
        if kind is Kind.CONFIG:
            if self.exists():
                yield self.stat(kind, "config")
            return
        base = self.root / kind.value
        dirs = [base]
        if kind is Kind.PACKS:
            dirs = [base / d for d in self._names(base)]
        for d in dirs:
            for name in self._names(d):
                try:
                    st = (d / name).stat()
                except FileNotFoundError:
                    continue  # deleted while we listed
                yield ObjectInfo(name, st.st_size, st.st_mtime)

    @staticmethod
    def _names(d: Path) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(d) if not e.name.startswith("."))
        except FileNotFoundError:
            return []
        except NotADirectoryError as e:
            raise RepositoryError(f"{d} is not a directory") from e

    def delete(self, kind: Kind, name: str) -> None:
        path = self._path(kind, name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
        _fsync_dir(path.parent)

    def clean_tmp(self, older_than: float) -> int:
        """Remove leftovers of interrupted puts older than ``older_than`` seconds."""
        import time

        removed = 0
        now = time.time()
        for name in self._names(self.root / "tmp"):
            p = self.root / "tmp" / name
            with contextlib.suppress(FileNotFoundError):
                if now - p.stat().st_mtime > older_than:
                    p.unlink()
                    removed += 1
        return removed
