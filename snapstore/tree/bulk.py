"""The bulk roots of one snapshot as one tree, read from the snapshot's listings.

With one root, paths are relative to it (``results/run1.csv``); with several, the first
component is the root's label (its base name, made unique at create time). Listings are
streamed (never held whole), and every entry is checked as it is read: a path must be
relative and clean (no empty, ``.`` or ``..`` component, no NUL byte), come in listing order
(depth first, children sorted, each path once), and sit below a directory of the same
listing. A damaged or hostile listing is therefore refused with one error naming the
snapshot, before anything is done with the entry. Listing order is the lexicographic order
of the paths' component tuples, which lets a lookup stop as soon as it has passed its path.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from snapstore.base.errors import CorruptData, InvalidInput
from snapstore.manifest.listing import DIR, FileEntry, load_listing, show_path, sort_key
from snapstore.manifest.schema import BulkRoot, Manifest
from snapstore.store.chunkstore import ChunkStore
from snapstore.tree.nodes import Node


def check_label(m: Manifest, label: object) -> str:
    """A root label names one folder (of ``--target DIR``, of the tree with several roots):
    one plain path component."""
    if (
        not isinstance(label, str)
        or label in ("", ".", "..")
        or "/" in label
        or "\0" in label
        or label.strip() != label
    ):
        raise CorruptData(f"snapshot {m.name}: bulk root label {label!r} is not a folder name")
    return label


def parse_path(text: str | bytes) -> bytes:
    """A user-given path inside a snapshot (``results/a.csv``, ``/results/a.csv``, ``.``) in
    the tree's form; ``..`` is refused (nothing lies outside a snapshot)."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
    parts = [p for p in raw.split(b"/") if p not in (b"", b".")]
    if b".." in parts:
        raise InvalidInput(f"path {text!r} leaves the snapshot (no '..' inside a snapshot)")
    if any(b"\0" in p for p in parts):
        raise InvalidInput("a path cannot hold a NUL byte")
    return b"/".join(parts)


def matches(pattern: str, path: bytes) -> bool:
    """A glob on the whole path when the pattern holds a '/', on the base name otherwise
    (``find`` and ``restore --include``)."""
    text = os.fsdecode(path)
    if "/" in pattern:
        return fnmatch.fnmatchcase(text, pattern.strip("/"))
    return fnmatch.fnmatchcase(text.rsplit("/", 1)[-1], pattern)


@dataclass
class TreeChecker:
    """Checks that a listing is one tree in listing order: the root directory first, then
    paths strictly increasing in ``sort_key`` order (so no path twice), each one's parent a
    directory listed before it (so nothing below a symlink or a file)."""

    where: str  # "snapshot NAME: ROOT", for messages
    _last: tuple[bytes, ...] | None = None
    _dirs: list[bytes] = field(default_factory=list)  # the directories above the last entry

    def _fail(self, what: str) -> CorruptData:
        return CorruptData(f"{self.where}: file listing is damaged: {what}")

    def check(self, e: FileEntry) -> None:
        path = e.path
        if self._last is None:
            if path != b"":
                raise self._fail(
                    f"it does not start with the root directory (first: {show_path(path)})"
                )
            if e.type != DIR:
                raise self._fail("its root is not a directory")
            self._last = ()
            self._dirs = [b""]
            return
        key = sort_key(path)
        if key <= self._last:
            what = "twice" if key == self._last else "out of order"
            raise self._fail(f"entry {show_path(path)} is listed {what}")
        self._last = key
        parent = path.rpartition(b"/")[0]
        dirs = self._dirs
        while dirs and dirs[-1] and not path.startswith(dirs[-1] + b"/"):
            dirs.pop()
        if not dirs or dirs[-1] != parent:
            raise self._fail(
                f"entry {show_path(path)} is not inside a directory of the listing "
                f"({show_path(parent)} is missing, a file or a symlink)"
            )
        if e.type == DIR:
            dirs.append(path)

    def finish(self) -> None:
        if self._last is None:
            raise self._fail("it is empty")


@dataclass
class _Root:
    root: BulkRoot
    prefix: bytes  # b"" or b"<label>/"
    where: str


class BulkTree:
    """The bulk part of one snapshot, as nodes. Every method streams the listings."""

    def __init__(self, store: ChunkStore, manifest: Manifest) -> None:
        self.store = store
        self.manifest = manifest
        roots = manifest.bulk or []
        self.roots = [
            _Root(
                r,
                b"" if len(roots) == 1 else os.fsencode(check_label(manifest, r.label)) + b"/",
                f"snapshot {manifest.name}: {r.path}",
            )
            for r in roots
        ]
        self.mtime_ns = int(manifest.created_at.timestamp() * 1e9)

    @property
    def empty(self) -> bool:
        return not self.roots

    def _entries(self, r: _Root) -> Iterator[tuple[bytes, FileEntry]]:
        checker = TreeChecker(r.where)
        for e in load_listing(self.store, r.root.listing, r.where):
            checker.check(e)
            path = (r.prefix + e.path) if e.path else r.prefix.rstrip(b"/")
            yield path, e

    def _node(self, path: bytes, e: FileEntry, r: _Root) -> Node:
        return Node.from_entry(e, path, self.store, f"{r.where}: {e.path.decode(errors='replace')}")

    def _top(self) -> Node:
        return Node.directory(b"", self.mtime_ns)

    def _roots_for(self, path: bytes) -> list[_Root]:
        if len(self.roots) <= 1 or not path:
            return self.roots
        label = path.split(b"/", 1)[0] + b"/"
        return [r for r in self.roots if r.prefix == label]

    def walk(self, path: bytes = b"") -> Iterator[Node]:
        """The node at ``path`` and everything below it, in listing order."""
        want = sort_key(path)
        if len(self.roots) > 1 and not path:
            yield self._top()
        for r in self._roots_for(path):
            for p, e in self._entries(r):
                key = sort_key(p)
                if key[: len(want)] == want:
                    yield self._node(p, e, r)
                elif key > want:
                    break

    def get(self, path: bytes) -> Node | None:
        """The node at ``path``, or None."""
        if not path and len(self.roots) != 1:
            return self._top() if self.roots else None
        want = sort_key(path)
        for r in self._roots_for(path):
            for p, e in self._entries(r):
                key = sort_key(p)
                if key == want:
                    return self._node(p, e, r)
                if key > want:
                    break
        return None

    def children(self, path: bytes) -> Iterator[Node]:
        """The entries directly inside the folder at ``path`` (which must exist)."""
        depth = len(sort_key(path)) + 1
        for node in self.walk(path):
            if len(sort_key(node.path)) == depth:
                yield node
