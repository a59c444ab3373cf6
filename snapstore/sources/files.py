"""The bulk-storage source: walk a tree into a file listing, and restore a listing into a tree.

Create: every regular file is cut into chunks and stored, unless its size, mtime, ctime and
inode equal those in the parent snapshot's listing, in which case its chunk list is reused
without reading it. Directories (empty ones too), symlinks, modes, mtimes and (as root) owners
are kept; sockets, fifos and devices are skipped with a warning; files that cannot be read are
reported and leave the snapshot marked partial.

Restore is staged: the tree is rebuilt in a hidden sibling of the target and swapped in only
when every file is complete and every chunk verified, so an interrupted or failed restore
leaves the old tree exactly as it was.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import grp
import os
import pwd
import secrets
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from snapstore.errors import CorruptData, InvalidInput, SourceError
from snapstore.manifest.listing import (
    DIR,
    FILE,
    SYMLINK,
    FileEntry,
    load_listing,
    store_listing,
)
from snapstore.manifest.schema import BulkRoot
from snapstore.reporting import Reporter
from snapstore.store.chunker import Chunker
from snapstore.store.chunkstore import ChunkStore

STAGING_TAG = ".snapstore-staging-"
OLD_TAG = ".snapstore-old-"


@lru_cache(maxsize=4096)
def _user(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


@lru_cache(maxsize=4096)
def _group(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


@dataclass
class _Item:
    rel: bytes
    abs: bytes
    st: os.stat_result


@dataclass
class BackupResult:
    """A captured root and what it cost."""

    root: BulkRoot
    read_bytes: int = 0
    reused_files: int = 0
    skipped: list[str] = field(default_factory=list)


class FilesBackup:
    """Captures bulk roots into the chunk store."""

    def __init__(self, store: ChunkStore, excludes: tuple[str, ...], reporter: Reporter) -> None:
        self.store = store
        self.excludes = tuple(os.fsencode(p) for p in excludes)
        self.reporter = reporter
        self.chunker = Chunker(store.config.chunker)

    # -- walking ------------------------------------------------------------------------------

    def _excluded(self, name: bytes) -> bool:
        return any(fnmatch.fnmatchcase(name, pat) for pat in self.excludes)

    def _walk(self, root: bytes, skipped: list[str]) -> Iterator[_Item]:
        """Depth-first, children sorted by name bytes: the listing order."""
        yield _Item(b"", root, os.lstat(root))
        stack: list[tuple[bytes, bytes]] = [(b"", root)]
        while stack:
            rel_dir, abs_dir = stack.pop()
            try:
                with os.scandir(abs_dir) as it:
                    names = sorted(e.name for e in it)
            except OSError as e:
                msg = f"cannot list {os.fsdecode(abs_dir)}: {e.strerror}"
                skipped.append(msg)
                self.reporter.warn(msg)
                continue
            subdirs = []
            for name in names:
                if self._excluded(name):
                    continue
                rel = rel_dir + b"/" + name if rel_dir else name
                full = os.path.join(abs_dir, name)
                try:
                    st = os.lstat(full)
                except FileNotFoundError:
                    continue  # vanished between listing and stat
                yield _Item(rel, full, st)
                if stat.S_ISDIR(st.st_mode):
                    subdirs.append((rel, full))
            # Depth-first in order: the first subdirectory must be popped first.
            stack.extend(reversed(subdirs))

    def backup_root(
        self, root: Path, label: str, parent: dict[bytes, FileEntry] | None
    ) -> BackupResult:
        root_b = os.fsencode(root)
        if not os.path.isdir(root_b):
            raise InvalidInput(f"bulk root {root} does not exist or is not a directory")
        skipped: list[str] = []
        items = []
        total = 0
        # The walk goes first so the progress bar knows the total (stat-only, cheap).
        for item in self._walk(root_b, skipped):
            items.append(item)
            if stat.S_ISREG(item.st.st_mode):
                total += item.st.st_size
        self.reporter.start(f"Reading {root}", total)
        entries: list[FileEntry] = []
        result = BackupResult(BulkRoot(str(root), label, []))
        r = result.root
        for item in items:
            entry = self._capture(item, parent, result, skipped)
            if entry is None:
                continue
            entries.append(entry)
            if entry.type == FILE:
                r.files += 1
                r.bytes += entry.size
            elif entry.type == DIR:
                r.dirs += 1
            else:
                r.symlinks += 1
        self.reporter.finish()
        r.listing = store_listing(self.store, entries)
        result.skipped = skipped
        return result

    def _capture(
        self,
        item: _Item,
        parent: dict[bytes, FileEntry] | None,
        result: BackupResult,
        skipped: list[str],
    ) -> FileEntry | None:
        st = item.st
        common = dict(
            path=item.rel,
            mode=stat.S_IMODE(st.st_mode),
            mtime_ns=st.st_mtime_ns,
            uid=st.st_uid,
            gid=st.st_gid,
            user=_user(st.st_uid),
            group=_group(st.st_gid),
            inode=st.st_ino,
            ctime_ns=st.st_ctime_ns,
        )
        if stat.S_ISDIR(st.st_mode):
            return FileEntry(type=DIR, **common)  # type: ignore[arg-type]
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(item.abs)
            except OSError as e:
                return self._skip(item, e.strerror or str(e), skipped)
            return FileEntry(type=SYMLINK, target=target, **common)  # type: ignore[arg-type]
        if not stat.S_ISREG(st.st_mode):
            kind = "socket" if stat.S_ISSOCK(st.st_mode) else "special file"
            self.reporter.warn(f"skipped {kind} {os.fsdecode(item.abs)}")
            return None
        old = parent.get(item.rel) if parent else None
        if (
            old is not None
            and old.type == FILE
            and old.size == st.st_size
            and old.mtime_ns == st.st_mtime_ns
            and old.ctime_ns == st.st_ctime_ns
            and old.inode == st.st_ino
            and all(self.store.has(c) for c in old.chunks)
        ):
            result.reused_files += 1
            self.reporter.advance(st.st_size)
            return FileEntry(type=FILE, size=st.st_size, chunks=old.chunks, **common)  # type: ignore[arg-type]
        try:
            chunks, size = self._read_file(item.abs)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise
            return self._skip(item, e.strerror or str(e), skipped)
        result.read_bytes += size
        return FileEntry(type=FILE, size=size, chunks=tuple(chunks), **common)  # type: ignore[arg-type]

    def _skip(self, item: _Item, why: str, skipped: list[str]) -> None:
        msg = f"cannot read {os.fsdecode(item.abs)}: {why}"
        skipped.append(msg)
        self.reporter.warn(msg)
        return None

    def _read_file(self, path: bytes) -> tuple[list[bytes], int]:
        chunks = []
        size = 0
        with open(path, "rb", buffering=0) as f:
            for piece in self.chunker.cut_stream(f):
                cid, _ = self.store.add(piece)
                chunks.append(cid)
                size += len(piece)
                self.reporter.advance(len(piece))
        return chunks, size


def load_entries(store: ChunkStore, root: BulkRoot, where: str) -> Iterator[FileEntry]:
    return load_listing(store, root.listing, f"{where}: {root.path}")


# -- restore ----------------------------------------------------------------------------------


def _safe_rel(path: bytes) -> bytes:
    parts = path.split(b"/")
    if path and (path.startswith(b"/") or any(p in (b"", b".", b"..") for p in parts)):
        raise CorruptData(f"listing holds an unsafe path {path!r}")
    return path


@dataclass
class RestoreStats:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0


def recover_interrupted_swap(target: Path) -> bool:
    """If a crash hit between the two renames of a swap, put the old tree back."""
    if target.exists() or not target.parent.is_dir():
        return False
    for cand in sorted(target.parent.glob(f".{target.name}{OLD_TAG}*")):
        os.rename(cand, target)
        return True
    return False


def restore_root(
    store: ChunkStore,
    root: BulkRoot,
    target: Path,
    reporter: Reporter,
    where: str,
) -> RestoreStats:
    """Rebuild ``root`` at ``target`` through a staging directory, then swap it in."""
    target = target.absolute()
    parent_dir = target.parent
    recover_interrupted_swap(target)
    if target.exists() and not target.is_dir():
        raise InvalidInput(f"restore target {target} exists and is not a directory")
    try:
        parent_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SourceError(f"cannot create {parent_dir}: {e.strerror}") from None
    if not os.access(parent_dir, os.W_OK | os.X_OK):
        raise SourceError(
            f"restore target {target} is not writable (no write access to {parent_dir})"
        )
    token = secrets.token_hex(4)
    staging = parent_dir / f".{target.name}{STAGING_TAG}{token}"
    stats = RestoreStats()
    try:
        staging.mkdir(mode=0o700)
        _fill(store, root, staging, reporter, stats, where)
        # One sync for the whole tree: the swap must not publish files still in the page cache.
        os.sync()
        if target.exists():
            old = parent_dir / f".{target.name}{OLD_TAG}{token}"
            os.rename(target, old)
            os.rename(staging, target)
            remove_tree(old)
        else:
            os.rename(staging, target)
    except BaseException:
        remove_tree(staging)
        raise
    return stats


def _fill(
    store: ChunkStore,
    root: BulkRoot,
    staging: Path,
    reporter: Reporter,
    stats: RestoreStats,
    where: str,
) -> None:
    as_root = os.geteuid() == 0
    base = os.fsencode(staging)
    dirs: list[tuple[bytes, FileEntry]] = []
    reporter.start(f"Restoring {root.path}", root.bytes)
    for entry in load_entries(store, root, where):
        rel = _safe_rel(entry.path)
        dest = os.path.join(base, rel) if rel else base
        if entry.type == DIR:
            if rel:
                os.mkdir(dest, 0o700)
            dirs.append((dest, entry))
            stats.dirs += 1
        elif entry.type == SYMLINK:
            os.symlink(entry.target or b"", dest)
            if as_root and entry.uid is not None:
                os.lchown(dest, entry.uid, entry.gid if entry.gid is not None else -1)
            os.utime(dest, ns=(entry.mtime_ns, entry.mtime_ns), follow_symlinks=False)
            stats.symlinks += 1
        elif entry.type == FILE:
            _write_file(store, entry, dest, reporter, where)
            if as_root and entry.uid is not None:
                os.chown(dest, entry.uid, entry.gid if entry.gid is not None else -1)
            os.chmod(dest, entry.mode)
            os.utime(dest, ns=(entry.mtime_ns, entry.mtime_ns))
            stats.files += 1
            stats.bytes += entry.size
        else:
            raise CorruptData(f"{where}: {os.fsdecode(rel)}: unknown entry type {entry.type!r}")
    # Directories last and deepest first: their mode may forbid writing, and writing
    # children changes their mtime.
    for dest, entry in reversed(dirs):
        if as_root and entry.uid is not None:
            os.chown(dest, entry.uid, entry.gid if entry.gid is not None else -1)
        os.chmod(dest, entry.mode)
        os.utime(dest, ns=(entry.mtime_ns, entry.mtime_ns))
    reporter.finish()


def _write_file(
    store: ChunkStore, entry: FileEntry, dest: bytes, reporter: Reporter, where: str
) -> None:
    written = 0
    with open(dest, "xb") as f:
        for cid in entry.chunks:
            try:
                data = store.read(cid)
            except CorruptData as e:
                raise CorruptData(
                    f"snapshot {where}: file {os.fsdecode(entry.path)}: {e}"
                ) from None
            f.write(data)
            written += len(data)
            reporter.advance(len(data))
    if written != entry.size:
        raise CorruptData(
            f"snapshot {where}: file {os.fsdecode(entry.path)}: restored {written} bytes, "
            f"listing says {entry.size}"
        )


def remove_tree(path: Path) -> None:
    """Delete a directory tree even when some of its folders are read-only."""

    def onerror(func, p, exc_info):  # type: ignore[no-untyped-def]
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            func(p)

    if os.path.lexists(path):
        shutil.rmtree(path, onerror=onerror)
