"""Two repositories for the copy tests: the workspace's own (the source) and a destination."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from snapstore.config.settings import Settings
from snapstore.manager import SnapshotManager
from tests.helpers import Node, Workspace, tree_state


@dataclass
class Pair:
    """The workspace (its repository is the source) and a destination repository."""

    ws: Workspace
    dest: Path
    trees: dict[str, dict[bytes, Node]]

    def source(self) -> SnapshotManager:
        return self.ws.manager(auto_cleanup=False)

    def destination(self) -> SnapshotManager:
        settings = Settings(
            repository=str(self.dest), bulk=(), cache_dir=str(self.ws.cache), auto_cleanup=False
        )
        return SnapshotManager(settings)

    def snap(self, description: str, *, permanent: bool = False) -> str:
        made = self.source().create(description, include_db=False, permanent=permanent)
        name = made.snapshot.snapshot_name
        self.trees[name] = tree_state(self.ws.bulk)
        return name

    def restores_exactly(self, manager: SnapshotManager, name: str, out: Path) -> None:
        manager.restore_snapshot(name, confirm=True, target=str(out), safety_snapshot=False)
        assert tree_state(out) == self.trees[name]


def random_files(root: Path, count: int, size: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(count):
        (root / f"data{i:02d}.bin").write_bytes(rng.randbytes(size))


@pytest.fixture
def pair(ws: Workspace) -> Pair:
    """A source with the sample tree plus 1 MB of incompressible files, and an empty
    destination repository."""
    random_files(ws.bulk, 8, 128 * 1024, seed=1)
    p = Pair(ws, ws.root / "dest", {})
    p.destination().init_repository()
    return p
