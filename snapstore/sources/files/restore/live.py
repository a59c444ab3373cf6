"""The live tree against the listing: what restore does with each path (spec/restore.md).

The listing and the live tree are walked side by side in listing order (both sorted the same
way), holding one entry of each at a time. Each snapshot entry becomes an action: a directory
or symlink to create, a file to write from the store, or a live file that already equals the
entry (type, size, mtime, mode, owner; content too with ``verify``) to hard-link into the
staged tree instead. Live entries the snapshot does not hold are dropped, unless the listing
cannot speak for them (``Coverage``: excluded names, special files, what a partial snapshot
could not read): those are kept, linked into the staged tree with the live directories that
lead to them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

from snapstore.base.errors import SourceError
from snapstore.manifest.listing import DIR, FILE, SYMLINK, Coverage, FileEntry, sort_key
from snapstore.sources.files.walk import Item, TreeWalker
from snapstore.store.chunker import Chunker

# Action kinds.
MAKE_DIR, MAKE_SYMLINK, WRITE, LINK, KEEP_DIR, KEEP = range(6)


@dataclass(slots=True)
class Action:
    """One path of the staged tree: ``entry`` is the snapshot's, ``live`` the live one's."""

    kind: int
    rel: bytes
    entry: FileEntry | None = None
    live: Item | None = None


@dataclass
class Comparer:
    """Decides whether a live file already is the snapshot's entry, so it can be linked.

    Linking shares the inode with the live tree, so nothing of it may differ: restore never
    changes a linked inode (that would change the old tree, which must stay intact until the
    swap). Owners: as root they must equal the entry's; otherwise (restore cannot chown) the
    live owner must be the entry's or ours, the owner a rewrite would give. Links are made only
    within one file system and (not root) to our own files, which the kernel's
    ``protected_hardlinks`` always allows."""

    dev: int  # the staging directory's device
    verify: bool
    chunker: Chunker | None = None
    as_root: bool = field(default_factory=lambda: os.geteuid() == 0)
    euid: int = field(default_factory=os.geteuid)

    def same(self, e: FileEntry, item: Item) -> bool:
        st = item.st
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_size != e.size
            or st.st_mtime_ns != e.mtime_ns
            or stat.S_IMODE(st.st_mode) != e.mode
            or st.st_dev != self.dev
        ):
            return False
        if self.as_root:
            if e.uid is not None and (st.st_uid, st.st_gid) != (e.uid, e.gid):
                return False
        elif st.st_uid != self.euid:
            return False
        if self.verify:
            return self._content(e, item.abs)
        return True

    def _content(self, e: FileEntry, path: bytes) -> bool:
        assert self.chunker is not None
        try:
            with open(path, "rb", buffering=0) as f:
                ids = tuple(self.chunker.chunk_id(c) for c in self.chunker.cut_stream(f, e.size))
        except OSError:
            return False
        return ids == e.chunks


@dataclass
class _Held:
    """A live directory the snapshot lacks: created in the staged tree only if something
    below it is kept."""

    item: Item
    made: bool = False


def _below(rel: bytes, anc: bytes) -> bool:
    return rel.startswith(anc + b"/")


class LivePlanner:
    """Merges a listing with the live tree into ``Action``s (``actions``)."""

    def __init__(
        self, live: bytes | None, coverage: Coverage, compare: Comparer, where: str
    ) -> None:
        self.live = live
        self.coverage = coverage
        self.compare = compare
        self.where = where
        self.removed = 0  # live entries the restored tree drops
        self.kept = 0  # live entries kept because the snapshot cannot speak for them
        self._held: list[_Held] = []  # live-only directories above the current live entry
        self._conflict: list[tuple[bytes, str]] = []  # live dirs the snapshot makes non-dirs
        self._keeping: list[bytes] = []  # kept directories, kept whole

    def _walk(self) -> Iterator[Item]:
        if self.live is None:
            return iter(())

        def unreadable(msg: str) -> None:
            raise SourceError(
                f"{msg}: restore would lose what it holds (fix its permissions first)"
            )

        items = TreeWalker(()).walk(self.live, [], unreadable)
        next(items)  # the root itself: the listing's root entry stands for it
        return items

    def actions(self, entries: Iterator[FileEntry]) -> Iterator[Action]:
        live = self._walk()
        pending = next(live, None)
        pending_key = sort_key(pending.rel) if pending is not None else ()
        for e in entries:
            if not e.path:
                yield Action(MAKE_DIR, b"", e)
                continue
            key = sort_key(e.path)
            while pending is not None and pending_key < key:
                yield from self._live_only(pending)
                pending = next(live, None)
                pending_key = sort_key(pending.rel) if pending is not None else ()
            match = None
            if pending is not None and pending_key == key:
                match = pending
                pending = next(live, None)
                pending_key = sort_key(pending.rel) if pending is not None else ()
            # Nothing the snapshot holds is below a live-only or kept directory.
            self._held.clear()
            self._conflict.clear()
            self._keeping.clear()
            yield self._decide(e, match)
            if match is not None and e.type != DIR and stat.S_ISDIR(match.st.st_mode):
                self._conflict.append((e.path, e.type))
        while pending is not None:
            yield from self._live_only(pending)
            pending = next(live, None)

    def _decide(self, e: FileEntry, match: Item | None) -> Action:
        if e.type == DIR:
            return Action(MAKE_DIR, e.path, e)
        if e.type == SYMLINK:
            return Action(MAKE_SYMLINK, e.path, e)
        if match is not None and self.compare.same(e, match):
            return Action(LINK, e.path, e, match)
        return Action(WRITE, e.path, e)

    def _live_only(self, item: Item) -> Iterator[Action]:
        rel = item.rel
        for stack in (self._held, self._conflict, self._keeping):
            while stack and not _below(rel, _path(stack[-1])):
                stack.pop()
        is_dir = stat.S_ISDIR(item.st.st_mode)
        if self._keeping:
            self.kept += 1
            yield Action(KEEP_DIR if is_dir else KEEP, rel, None, item)
            if is_dir:
                self._keeping.append(rel)
            return
        if self.coverage.covers(rel, item.st.st_mode):
            if is_dir:
                self._held.append(_Held(item))
            else:
                self.removed += 1
            return
        if self._conflict:
            path, kind = self._conflict[-1]
            raise SourceError(
                f"{self.where}: cannot restore {os.fsdecode(path)} as a "
                f"{_KIND[kind]}: the live directory holds {os.fsdecode(rel)}, which restore "
                "keeps (excluded or not captured); move it away first"
            )
        for held in self._held:
            if not held.made:
                held.made = True
                yield Action(KEEP_DIR, held.item.rel, None, held.item)
        self.kept += 1
        yield Action(KEEP_DIR if is_dir else KEEP, rel, None, item)
        if is_dir:
            self._keeping.append(rel)


_KIND = {FILE: "file", SYMLINK: "symlink", DIR: "directory"}


def _path(x: _Held | tuple[bytes, str] | bytes) -> bytes:
    if isinstance(x, _Held):
        return x.item.rel
    if isinstance(x, tuple):
        return x[0]
    return x
