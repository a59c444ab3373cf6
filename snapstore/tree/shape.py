"""The one check every tree passes before an Output writes it: that the nodes form one tree.

``TreeChecker`` (tree/bulk.py) checks a listing as it streams, in listing order. A tree that
is written out (``export``'s reference layout: ``metadata.json``, the bulk roots, the
database's files) is made of several parts, walked depth first but with siblings in the
layout's order, and some of its names come from the manifest (root labels, collection and view
names). ``ShapeChecker`` holds the whole walk to the rules an Output relies on to write
nothing outside its destination (spec/browse.md, "Writing a tree out"): the root directory
first, then paths that are relative and clean (no empty, ``.`` or ``..`` component, no NUL
byte), each directly inside a directory walked before it and not left since.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snapstore.base.errors import CorruptData
from snapstore.manifest.listing import show_path
from snapstore.tree.nodes import DIR, Node

BAD_PARTS = (b"", b".", b"..")


@dataclass
class ShapeChecker:
    """Checks nodes walked depth first, parents before children (module doc)."""

    where: str  # "snapshot NAME", for messages
    _dirs: list[bytes] = field(default_factory=list)  # the directories above the last node

    def _fail(self, what: str) -> CorruptData:
        return CorruptData(f"{self.where}: {what}")

    def check(self, node: Node) -> None:
        path = node.path
        dirs = self._dirs
        if not dirs:
            if path != b"" or node.type != DIR:
                raise self._fail("the tree does not start with its root folder")
            dirs.append(b"")
            return
        parts = path.split(b"/")
        if any(p in BAD_PARTS or b"\0" in p for p in parts):
            raise self._fail(f"{show_path(path)} is not a clean relative path")
        parent = path.rpartition(b"/")[0]
        while len(dirs) > 1 and dirs[-1] != parent:
            dirs.pop()
        if dirs[-1] != parent:
            raise self._fail(
                f"{show_path(path)} is not inside a folder of the tree "
                f"({show_path(parent)} is missing, a file or a symlink)"
            )
        if node.type == DIR:
            dirs.append(path)
