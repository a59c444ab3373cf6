"""Restoring part of a bulk tree: the paths ``restore --include`` names (spec/restore.md).

An include is a path inside the snapshot (relative to the bulk root; with several roots its
first component is the root's label) or a shell pattern (``*``, ``?``, ``[``) matched like
``find`` does: on the whole path when it holds a ``/``, on the base name otherwise. Every
snapshot entry an include matches that is not inside another match is a *part*. Each part is
restored on its own at the same path below the target, as a whole root is: staged beside it
(a folder from the snapshot merged with the live folder, so unchanged files are linked and
excluded names kept; a file or symlink written alone), committed by the journal, swapped in.
The staging and the swap touch nothing but the part's own name, so nothing outside the
included paths changes; a folder part becomes the snapshot's folder, like a full restore.

The live path of a part must not lead through a symlink (restore never writes through one):
every folder above a part is checked with ``lstat`` before anything is staged.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from snapstore.base.errors import InvalidInput, PathNotFound, SourceError
from snapstore.manifest.listing import DIR, Coverage, FileEntry, load_listing, sort_key
from snapstore.manifest.schema import BulkRoot, Manifest
from snapstore.store.chunkstore import ChunkStore
from snapstore.tree.bulk import TreeChecker, check_label, matches, parse_path

GLOB_CHARS = "*?["


@dataclass(frozen=True)
class Part:
    """One included path: ``path`` inside ``root`` (b"" is the whole root), its type, and
    for a file or symlink its entry (path b""), found while matching: no second scan."""

    root: BulkRoot
    path: bytes
    type: str
    entry: FileEntry | None = None

    def entries(self, store: ChunkStore, where: str) -> Iterator[FileEntry]:
        """The part's entries with paths relative to it (the part itself is b""), the
        root's whole listing checked as it streams."""
        checker = TreeChecker(where)
        want = sort_key(self.path)
        below = self.path + b"/"
        for e in load_listing(store, self.root.listing, where):
            checker.check(e)
            if not self.path:
                yield e
            elif e.path == self.path:
                yield replace(e, path=b"")
            elif e.path.startswith(below):
                yield replace(e, path=e.path[len(below) :])
            elif sort_key(e.path) > want:
                return  # listing order: nothing of the part comes later
        checker.finish()


def is_glob(text: str) -> bool:
    return any(c in text for c in GLOB_CHARS)


def select_parts(store: ChunkStore, m: Manifest, includes: list[str]) -> list[Part]:
    """The parts the ``includes`` name in snapshot ``m``, in listing order per root; one
    error (bad input) for an include that names nothing in the snapshot."""
    roots = m.bulk or []
    if not roots:
        raise InvalidInput(f"snapshot {m.name} has no bulk storage for --include to restore")
    labels = [check_label(m, r.label) for r in roots] if len(roots) > 1 else []
    wanted: dict[int, list[tuple[str, bytes]]] = {}
    for text in includes:
        rel = parse_path(text)
        index = 0
        if labels:
            first, _, rel = rel.partition(b"/")
            names = [os.fsencode(label) for label in labels]
            if first not in names:
                raise InvalidInput(
                    f"--include {text}: with several bulk roots a path starts with the root's "
                    f"name ({', '.join(labels)})"
                )
            index = names.index(first)
        elif not rel:
            raise InvalidInput(
                f"--include {text} names the whole snapshot: restore without --include"
            )
        wanted.setdefault(index, []).append((text, rel))
    parts: list[Part] = []
    for index, pats in sorted(wanted.items()):
        root = roots[index]
        if any(not rel for _, rel in pats):
            parts.append(Part(root, b"", DIR))
            continue
        parts.extend(_match(store, m, root, pats))
    return parts


def _match(
    store: ChunkStore, m: Manifest, root: BulkRoot, pats: list[tuple[str, bytes]]
) -> list[Part]:
    where = f"snapshot {m.name}: {root.path}"
    hit = dict.fromkeys((text for text, _ in pats), False)
    out: list[Part] = []
    top: bytes | None = None
    # Decided once per include, not once per entry: a glob's text, or the literal path.
    tests = [(text, os.fsdecode(rel) if is_glob(text) else None, rel) for text, rel in pats]
    checker = TreeChecker(where)
    for e in load_listing(store, root.listing, where):
        checker.check(e)
        if not e.path:
            continue
        found = False
        for text, glob, rel in tests:
            if matches(glob, e.path) if glob is not None else rel == e.path:
                hit[text] = found = True
        if top is not None and e.path.startswith(top + b"/"):
            continue  # inside a part already chosen
        if found:
            out.append(Part(root, e.path, e.type, None if e.type == DIR else replace(e, path=b"")))
            top = e.path
    checker.finish()
    for text, was_hit in hit.items():
        if not was_hit:
            what = "matches nothing" if is_glob(text) else "is not"
            raise PathNotFound(f"--include {text} {what} in snapshot {m.name}")
    return out


def part_target(base: Path, part: Part) -> Path:
    """Where ``part`` goes below ``base`` (the root's restore target). The folders on the
    way must be real folders (created when missing): never a symlink, never a file."""
    if not part.path:
        return base
    try:
        base.mkdir(parents=True, exist_ok=True)  # the root's own target (--target DIR)
    except OSError as e:
        raise SourceError(f"cannot create {base}: {e.strerror}") from None
    here = base
    for name in part.path.split(b"/")[:-1]:
        here = here / os.fsdecode(name)
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            try:
                os.mkdir(here, 0o755)
            except OSError as e:
                raise SourceError(f"cannot create {here}: {e.strerror}") from None
            continue
        if stat.S_ISLNK(st.st_mode):
            raise SourceError(
                f"cannot restore {os.fsdecode(part.path)}: {here} is a symlink, and restore "
                "never writes through one (replace it with a folder, or restore its parent)"
            )
        if not stat.S_ISDIR(st.st_mode):
            raise SourceError(
                f"cannot restore {os.fsdecode(part.path)}: {here} is not a folder (move it "
                "away, or restore its parent)"
            )
    target = base / os.fsdecode(part.path)
    if part.type != DIR and os.path.isdir(target) and not os.path.islink(target):
        raise SourceError(
            f"cannot restore {os.fsdecode(part.path)} as a file: a folder is there (move it "
            "away first; restore never deletes what it was not asked to)"
        )
    return target


def part_coverage(coverage: Coverage, part: Part) -> Coverage:
    """``coverage`` of the root, seen from inside the part."""
    if not part.path:
        return coverage
    below = part.path + b"/"

    def inside(paths: frozenset[bytes]) -> frozenset[bytes]:
        out = {p[len(below) :] for p in paths if p.startswith(below)}
        return frozenset(out | ({b""} if part.path in paths else set()))

    return Coverage(coverage.excluded, inside(coverage.unread), inside(coverage.unlisted))
