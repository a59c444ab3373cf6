"""Fixtures for the lifecycle tests: a workspace whose repository uses tiny chunks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from snapstore.manager import SnapshotManager
from tests.helpers import SMALL_CHUNKER, Workspace

# A policy small enough to exercise every rule with a handful of snapshots.
SMALL_POLICY = {"keep_last": 2, "keep_weekly_weeks": 2, "compress_after_days": 7}


def lifecycle_manager(ws: Workspace, **overrides: Any) -> SnapshotManager:
    settings: dict[str, Any] = {"auto_cleanup": False, "retention": SMALL_POLICY}
    settings.update(overrides)
    return ws.manager(**settings)


@pytest.fixture
def lws(ws: Workspace) -> Workspace:
    """``ws`` with a repository of tiny chunks (many chunks, many packs per test)."""
    ws.manager().init_repository(SMALL_CHUNKER)
    return ws


@pytest.fixture
def lm(lws: Workspace) -> SnapshotManager:
    return lifecycle_manager(lws)


def text(seed: int, size: int) -> bytes:
    """Compressible text (words from a small vocabulary), different for each seed."""
    import random

    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "\n"]
    out = []
    n = 0
    while n <= size:
        w = rng.choice(words)
        out.append(w)
        n += len(w) + 1
    return " ".join(out).encode()[:size]


def write(root: Path, rel: str, data: bytes) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
