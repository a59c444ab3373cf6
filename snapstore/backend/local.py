"""Local-directory backend: one file per object, written to a temporary file and published by
an atomic rename (or link, for create-only puts), with fsync of the file and its directory.

Layout (see spec/repository.md): ``config``, ``packs/<first two hex digits>/<name>``,
``index/<name>``, ``snapshots/<name>``, ``archives/<name>``, ``locks/<name>``, and ``tmp/`` for
objects being written. Pack names are spread over 256 folders so no folder grows huge.

Permissions (spec/backends.md, "Permissions"): private by default, files 0600 and folders 0700
whatever the umask, as restic and borg do; in group mode files are 0640 and folders 2770
(setgid, so every file gets the repository's group). Group mode is on when the settings ask
for it (``permissions = "group"``) or when the repository folder itself is group-writable or
setgid, so a repository an administrator shared (``chgrp -R``, ``chmod g+rwxs``) stays shared
whoever writes to it next.

Full disks (spec/backends.md, "Reserve"): a file ``reserve`` of ``RESERVE_BYTES`` is kept at
the root. It is given up only to the exclusive operations that free space (delete, cleanup,
gc): when the put of an exclusive lock, or any put while this backend holds one, fails with
ENOSPC, the reserve is removed and the put retried once. It is written at ``create`` (init), after
each published snapshot and after each exclusive lock is released, when there is room.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from snapstore.backend.base import Backend, Kind, ObjectInfo, check_name
from snapstore.base.errors import ObjectExists, ObjectNotFound, RepositoryError

_LAYOUT = ("packs", "index", "snapshots", "archives", "locks", "tmp")
RESERVE = "reserve"
# The reserve holds room for a lock, manifest rewrites and one index object as big as the whole
# index today (gc's compacted index): 1 MiB plus the index's size, at most 256 MiB.
RESERVE_BASE = 1 << 20
RESERVE_MAX = 256 << 20
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)

PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700
GROUP_FILE, GROUP_DIR = 0o640, 0o2770

T = TypeVar("T")


def _allocate(fd: int, size: int) -> None:
    """Give the file ``size`` bytes of real disk space: fallocate where the file system has it
    (no data written), else real random bytes (zeros might be compressed away)."""
    try:
        os.posix_fallocate(fd, 0, size)
        return
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    block = os.urandom(1 << 20)
    for start in range(0, size, len(block)):
        os.write(fd, block[: size - start])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBackend(Backend):
    """Objects as files under a root directory."""

    def __init__(self, root: str | os.PathLike[str], *, group_access: bool = False) -> None:
        self.root = Path(root).absolute()
        self.location = str(self.root)
        self._group_setting = group_access
        self._group: bool | None = None  # decided on first use (the root may not exist yet)
        self._exclusive: str | None = None  # name of the exclusive lock this backend placed

    # -- modes --------------------------------------------------------------------------------

    @property
    def group_access(self) -> bool:
        """Group mode: asked for, or the repository folder is group-writable or setgid."""
        if self._group is None:
            try:
                mode = self.root.stat().st_mode
            except OSError:
                return self._group_setting  # not created yet: decide again later
            self._group = self._group_setting or bool(mode & (stat.S_IWGRP | stat.S_ISGID))
        return self._group

    @property
    def file_mode(self) -> int:
        return GROUP_FILE if self.group_access else PRIVATE_FILE

    @property
    def dir_mode(self) -> int:
        return GROUP_DIR if self.group_access else PRIVATE_DIR

    def _mkdir(self, path: Path) -> None:
        """Create one folder with the repository's mode (explicitly: the umask would narrow
        group mode, and mkdir cannot set setgid)."""
        try:
            path.mkdir()
        except FileExistsError:
            return
        os.chmod(path, self.dir_mode)

    def _open_new(self, path: Path) -> int:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, self.file_mode)
        try:
            os.fchmod(fd, self.file_mode)  # the umask may have taken group bits away
        except BaseException:
            os.close(fd)
            raise
        return fd

    # -- the reserve --------------------------------------------------------------------------

    def _no_space_retry(self, kind: Kind, name: str, attempt: Callable[[], T]) -> T:
        """Run a put; on ENOSPC give up the reserve and retry once, but only for the exclusive
        operations that free space (a create must never eat the room a delete needs)."""
        try:
            return attempt()
        except OSError as e:
            exclusive_lock = kind is Kind.LOCKS and name.startswith("x-")
            if e.errno not in _NO_SPACE or not (exclusive_lock or self._exclusive):
                raise
            if not self._drop_reserve():
                raise
            return attempt()

    def _drop_reserve(self) -> bool:
        try:
            os.unlink(self.root / RESERVE)
        except FileNotFoundError:
            return False
        return True

    def reserve_size(self) -> int:
        """How big the reserve should be now (see RESERVE_BASE)."""
        index = sum(o.size for o in self.list(Kind.INDEX))
        wanted = RESERVE_BASE + -(-index // RESERVE_BASE) * RESERVE_BASE
        return min(wanted, RESERVE_MAX)

    def ensure_reserve(self) -> bool:
        """Write (or grow) the reserve file when there is room; True if it is as big as it
        should be. Best effort: never fails the operation that calls it."""
        final = self.root / RESERVE
        try:
            wanted = self.reserve_size()
            have = 0
            with contextlib.suppress(FileNotFoundError):
                have = final.stat().st_size
            if have >= wanted:
                return True
            fs = os.statvfs(self.root)
            if (fs.f_bavail * fs.f_frsize) + have < 2 * wanted:
                return False  # the reserve must never take the last room: leave as much again
            tmp = self.root / "tmp" / f"reserve-{secrets.token_hex(8)}"
            try:
                fd = self._open_new(tmp)
                try:
                    _allocate(fd, wanted)
                finally:
                    os.close(fd)
                # Not fsynced: a reserve lost in a crash is written again by the next create.
                os.replace(tmp, final)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        except OSError:
            return False  # no room (or no write access): the next create tries again
        return True

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
        ours = (*_LAYOUT, RESERVE, "keys")  # keys/: an encrypted repository's, made on use
        foreign = self.root.is_dir() and any(p.name not in ours for p in self.root.iterdir())
        if foreign and not self.exists():
            raise RepositoryError(
                f"{self.root} is not empty and not a snapstore repository; choose another path"
            )
        if not self.root.is_dir():
            self.root.parent.mkdir(parents=True, exist_ok=True)
            self._mkdir(self.root)
        elif self._group_setting and os.stat(self.root).st_uid == os.geteuid():
            # An existing folder (made by an administrator) keeps its mode, except that group
            # mode asked for in the settings makes it group-writable and setgid.
            os.chmod(self.root, stat.S_IMODE(os.stat(self.root).st_mode) | GROUP_DIR)
        self._group = None
        for sub in _LAYOUT:
            self._mkdir(self.root / sub)
        _fsync_dir(self.root)
        self.ensure_reserve()

    # -- objects ------------------------------------------------------------------------------

    def _parent(self, final: Path) -> None:
        if not final.parent.is_dir():
            self._mkdir(final.parent)
            _fsync_dir(final.parent.parent)

    def put(self, kind: Kind, name: str, data: bytes, *, overwrite: bool = True) -> None:
        final = self._path(kind, name)
        self._no_space_retry(kind, name, lambda: self._put(kind, name, final, data, overwrite))
        if kind is Kind.LOCKS and name.startswith("x-"):
            self._exclusive = name
        elif kind is Kind.SNAPSHOTS and not overwrite:
            self.ensure_reserve()  # a create published a snapshot: no exclusive op is running

    def _put(self, kind: Kind, name: str, final: Path, data: bytes, overwrite: bool) -> None:
        self._parent(final)
        tmp = self.root / "tmp" / f"{kind.value}-{secrets.token_hex(8)}"
        try:
            with open(self._open_new(tmp), "wb") as f:
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
        self._parent(final)
        tmp = Path(path)
        try:
            if tmp.parent != self.root / "tmp":
                staged = self.root / "tmp" / f"{kind.value}-{secrets.token_hex(8)}"
                shutil.copyfile(tmp, staged)
                os.unlink(tmp)
                tmp = staged
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fchmod(fd, self.file_mode)  # written by someone else, with their mode
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
    def _names(d: Path) -> builtins.list[str]:  # `list` here is the method above
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
        if kind is Kind.LOCKS and name == self._exclusive:
            # The exclusive operation is over (or backed off): take the room back if it freed
            # enough. No other exclusive operation can be running now.
            self._exclusive = None
            self.ensure_reserve()

    def clean_tmp(self, older_than: float) -> int:
        """Remove leftovers of interrupted puts, spooled packs and archives (``tmp/``) older
        than ``older_than`` seconds. Best effort: what cannot be removed stays for next time."""
        removed = 0
        now = time.time()
        spool = self.root / "tmp"
        for name in self._names(spool):
            p = spool / name
            try:
                st = p.lstat()
                if stat.S_ISREG(st.st_mode) and now - st.st_mtime > older_than:
                    p.unlink()
                    removed += 1
            except OSError:
                continue  # gone meanwhile, or not ours to remove
        return removed
