"""The tree walk: every entry once, in listing order, excluded names left out with what is
under them, and a root that does not exist is an error rather than an empty tree."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from snapstore.manifest.listing import sort_key
from snapstore.sources.files.walk import TreeWalker


def _tree(root: Path, files: int, seed: int = 5) -> set[bytes]:
    rng = random.Random(seed)
    dirs = [root]
    made: set[bytes] = {b""}
    for i in range(files):
        if rng.random() < 0.1:
            d = rng.choice(dirs) / f"d{i}"
            d.mkdir()
            dirs.append(d)
            made.add(bytes(d.relative_to(root)))
        name = rng.choice(["a", "B", "z", "é", "_", "0"]) + str(i)
        f = rng.choice(dirs) / name
        f.write_bytes(b"x")
        made.add(bytes(f.relative_to(root)))
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "m.pyc").write_bytes(b"x")
    return made


def test_walk_gives_every_entry_once_in_listing_order(tmp_path: Path) -> None:
    made = _tree(tmp_path, 600)
    rels = [i.rel for i in TreeWalker((b"__pycache__",)).walk(bytes(tmp_path), [], print)]
    assert rels == sorted(rels, key=sort_key)
    assert len(rels) == len(set(rels)) and set(rels) == made


def test_a_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(TreeWalker(()).walk(bytes(tmp_path / "gone"), [], print))
