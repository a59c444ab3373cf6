"""Removing a directory tree of any depth (spec/restore.md, "Swap, journal and recovery").

``shutil.rmtree`` of Python 3.11 recurses once per level (a tree about 1,000 levels deep
ends in RecursionError) and keeps one descriptor open per level. This walk is a loop: it
holds one directory descriptor at a time, goes down by name relative to it and back up
through ``..``, and checks on the way up that ``..`` is the directory it came down from (its
device and inode), so a folder moved away mid-walk stops the removal instead of leading it
outside the tree. No path is ever longer than one name, so trees deeper than PATH_MAX go
too. It never crosses into another file system: a folder on another device (a mount point
left inside the tree) is left as it is, with everything in it, and so are the folders above
it. Folders without write or search permission are made 0700 and retried, as an owner
may; what still cannot be removed is left and the walk goes on (best effort, as
``rmtree(onerror=...)`` was).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class _Level:
    """One directory on the way down: its name in its parent, its identity, and the
    subdirectories of it still to remove."""

    name: str
    ident: tuple[int, int]
    pending: list[str] = field(default_factory=list)


def _ident(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


def _retry_writable(dir_fd: int, op: Callable[..., None], name: str) -> None:
    """Run ``op(name, dir_fd=dir_fd)``; on a permission error make the folder 0700 and retry
    once. A name that has gone already is fine; other failures are left (best effort)."""
    for attempt in (0, 1):
        try:
            op(name, dir_fd=dir_fd)
            return
        except FileNotFoundError:
            return
        except PermissionError:
            if attempt:
                return
            with contextlib.suppress(OSError):
                os.fchmod(dir_fd, 0o700)
        except OSError:
            return


def _open_child(dir_fd: int, name: str) -> int | None:
    """The subdirectory ``name`` opened (made readable first when it is not), or None."""
    for attempt in (0, 1):
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except PermissionError:
            if attempt:
                return None
            with contextlib.suppress(OSError):
                os.chmod(name, 0o700, dir_fd=dir_fd)
        except OSError:
            return None
    return None


def _clear(fd: int) -> list[str]:
    """Remove every non-directory in the open directory ``fd``; return its subdirectories."""
    try:
        entries = list(os.scandir(fd))
    except PermissionError:
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o700)
        try:
            entries = list(os.scandir(fd))
        except OSError:
            return []
    except OSError:
        return []
    subdirs = []
    for e in entries:
        try:
            is_dir = e.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            subdirs.append(e.name)
        else:
            _retry_writable(fd, os.unlink, e.name)
    subdirs.reverse()  # popped from the end: removed in listing order
    return subdirs


def remove_directory(path: str | os.PathLike[str]) -> None:
    """Remove the directory ``path`` and everything below it (see the module doc). A
    symlink or file at ``path`` is unlinked; a missing ``path`` is nothing to do."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    try:
        cur = os.open(path, _DIR_FLAGS)
    except PermissionError:
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
        cur = os.open(path, _DIR_FLAGS)
    try:
        device = os.fstat(cur).st_dev
        stack = [_Level("", _ident(cur), _clear(cur))]
        while True:
            level = stack[-1]
            if level.pending:
                name = level.pending.pop()
                child = _open_child(cur, name)
                if child is None:
                    continue
                if os.fstat(child).st_dev != device:  # a mount point: not ours to empty
                    os.close(child)
                    continue
                os.close(cur)
                cur = child
                stack.append(_Level(name, _ident(cur), _clear(cur)))
                continue
            if len(stack) == 1:
                break
            # Empty now: go up and remove it from its parent.
            stack.pop()
            parent = os.open("..", _DIR_FLAGS, dir_fd=cur)
            os.close(cur)
            cur = parent
            if _ident(cur) != stack[-1].ident:
                raise OSError(
                    f"{os.fspath(path)}: a folder inside it was moved while it was being "
                    "removed; stopped"
                )
            _retry_writable(cur, os.rmdir, level.name)
    finally:
        os.close(cur)
    with contextlib.suppress(FileNotFoundError):
        try:
            os.rmdir(path)
        except PermissionError:
            with contextlib.suppress(OSError):
                os.chmod(os.path.dirname(os.path.abspath(path)), 0o700)
            with contextlib.suppress(OSError):
                os.rmdir(path)
        except OSError:
            pass
