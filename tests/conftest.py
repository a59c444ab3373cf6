"""Shared test setup: hypothesis profiles, isolation from the real machine, workspaces.

Profiles: ``ci`` (bounded, the default) and ``verify`` (thousands of examples, long stateful
runs; ``make verify``); ``dev`` is ``ci``. ``HYPOTHESIS_PROFILE`` picks one.

Every test gets its own index cache directory (``SNAPSTORE_CACHE_DIR``), and settings from the
developer's environment that would point snapstore elsewhere are removed; a test that forgets to
name a repository therefore fails in its tmp dir instead of touching ``/bulk-store``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:  # imported lazily so a broken product module fails tests, not collection
    from snapstore.manager import SnapshotManager
    from tests.helpers import Workspace

settings.register_profile(
    "ci",
    max_examples=30,
    deadline=None,
    stateful_step_count=20,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "verify",
    max_examples=2000,
    deadline=None,
    stateful_step_count=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("dev", parent=settings.get_profile("ci"))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Variables that would make a test read the developer's configuration or repository.
_FOREIGN_ENV = (
    "SNAPSTORE_CONFIG",
    "SNAPSTORE_PREFIX",
    "SNAPSTORE_EXCLUDE",
    "SNAPSTORE_LOCK_WAIT",
    "SNAPSTORE_PROJECT_DIR",
)
_BULK_STORE = "/bulk-store"


@pytest.fixture(autouse=True)
def _isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Per-test cache dir; repository and bulk defaults point into tmp, never /bulk-store."""
    existed = os.path.lexists(_BULK_STORE)
    guard = tmp_path_factory.mktemp("env")
    monkeypatch.setenv("SNAPSTORE_CACHE_DIR", str(guard / "cache"))
    monkeypatch.setenv("SNAPSTORE_REPO", str(guard / "unset-repository"))
    monkeypatch.setenv("SNAPSTORE_BULK", str(guard / "unset-bulk"))
    # settings.py reads the user's config folder (platformdirs, $XDG_CONFIG_HOME on Linux).
    monkeypatch.setenv("XDG_CONFIG_HOME", str(guard / "user-config"))
    for var in _FOREIGN_ENV:
        monkeypatch.delenv(var, raising=False)
    yield
    if not existed:
        assert not os.path.lexists(_BULK_STORE), "a test created /bulk-store"


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A bulk tree (a few files) and a not yet created repository, both in tmp_path.

    The environment points SNAPSTORE_REPO / SNAPSTORE_BULK at them, and the working directory
    is tmp_path, so CLI runs (in-process or subprocess) find them without flags.
    """
    from tests.helpers import Workspace

    w = Workspace.make(tmp_path)
    monkeypatch.setenv("SNAPSTORE_REPO", str(w.repo))
    monkeypatch.setenv("SNAPSTORE_BULK", str(w.bulk))
    monkeypatch.setenv("SNAPSTORE_PROJECT_DIR", str(w.root))
    monkeypatch.setenv("SNAPSTORE_CACHE_DIR", str(w.cache))
    monkeypatch.chdir(w.root)
    return w


@pytest.fixture
def manager(ws: Workspace) -> SnapshotManager:
    """A SnapshotManager on ``ws`` (the repository is created by the first create)."""
    return ws.manager()


@pytest.fixture
def small_ws(ws: Workspace) -> Workspace:
    """``ws`` with its repository initialized with tiny chunker parameters (many chunks)."""
    from tests.helpers import SMALL_CHUNKER

    ws.manager().init_repository(SMALL_CHUNKER)
    return ws


@pytest.fixture
def small_manager(small_ws: Workspace) -> SnapshotManager:
    return small_ws.manager()
