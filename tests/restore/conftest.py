"""A chunk store with small chunks in a fresh repository, for the restore tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from snapstore.backend.local import LocalBackend
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.config import RepoConfig, write_config
from tests.helpers import SMALL_CHUNKER


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChunkStore]:
    backend = LocalBackend(tmp_path / "repo")
    write_config(backend, RepoConfig(chunker=SMALL_CHUNKER))
    s = ChunkStore.open(backend, str(tmp_path / "cache"))
    yield s
    s.close()
