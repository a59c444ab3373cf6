"""Shared test setup: hypothesis profiles, isolation from the real machine, workspaces.

Profiles: ``ci`` (bounded, the default) and ``verify`` (thousands of examples, long stateful
runs; ``make verify``); ``dev`` is ``ci``. ``HYPOTHESIS_PROFILE`` picks one.

Every test gets its own index cache directory (``SNAPSTORE_CACHE_DIR``), its own ``HOME`` and
XDG folders, and settings from the developer's environment that would point snapstore
elsewhere are removed; a test that forgets to name a repository therefore fails in its tmp dir
instead of touching ``/bulk-store`` or the developer's home.

The suite runs on several pytest-xdist workers (``make test``). Each worker is its own pytest
session with its own tmp folders, so the session fixtures (the SeaweedFS server, the ArangoDB
test server) are one per worker, on ports picked free. The hypothesis example database is the
checkout's ``.hypothesis/examples``, shared by the workers (hypothesis writes each example with
an atomic rename, so workers do not corrupt it; sharing lets a failure found on one worker be
replayed first next run, whichever worker the test lands on).

Ctrl-C reaches the processes the tests start: a shell starts a background job (``make test &``,
a CI runner's detached step) with SIGINT ignored, and an ignored signal stays ignored across
``exec``, so every CLI process a test interrupts would ignore it too. The default handler is
put back here, once, before any test runs.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

if TYPE_CHECKING:  # imported lazily so a broken product module fails tests, not collection
    from snapstore.manager import SnapshotManager
    from tests.helpers import Workspace

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Beside this checkout's tests (not the working directory's), whatever folder pytest runs in.
_EXAMPLES = DirectoryBasedExampleDatabase(
    Path(__file__).resolve().parents[1] / ".hypothesis" / "examples"
)

settings.register_profile(
    "ci",
    database=_EXAMPLES,
    max_examples=30,
    deadline=None,
    stateful_step_count=20,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "verify",
    database=_EXAMPLES,
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
    """Per-test cache dir and home; repository and bulk defaults point into tmp, never
    /bulk-store."""
    existed = os.path.lexists(_BULK_STORE)
    guard = tmp_path_factory.mktemp("env")
    monkeypatch.setenv("SNAPSTORE_CACHE_DIR", str(guard / "cache"))
    monkeypatch.setenv("SNAPSTORE_REPO", str(guard / "unset-repository"))
    monkeypatch.setenv("SNAPSTORE_BULK", str(guard / "unset-bulk"))
    # settings.py reads the user's config folder (platformdirs, $XDG_CONFIG_HOME on Linux).
    monkeypatch.setenv("XDG_CONFIG_HOME", str(guard / "user-config"))
    # Anything else that looks in the home folder (git's config for the snapshot's git
    # info, `~` in a path, a browser profile) finds an empty one of this test's own.
    home = guard / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
    ):
        monkeypatch.setenv(var, str(home / sub))
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


# The costliest tests, costliest first (CPU seconds each, measured with SNAPSTORE_CPU_LOG on
# 2 cores: about 4 to 14). Started first and in this order, so that pytest-xdist's load
# schedule spreads them over the workers and the run does not end waiting for one of them
# while the others are idle; a hint for the schedule only, nothing depends on it.
_LONG_FIRST = (
    "tests/store/test_pipeline.py::test_pipeline_fills_packs_exactly_like_one_add_at_a_time",
    "tests/restore/test_deep_trees.py::test_a_forged_5000_level_listing",
    "tests/arango/test_restore_merge_property.py",
    "tests/restore/test_include.py::test_killed_at_every_step",
    "tests/ui/test_web_ui.py::test_bad_input_gets_a_clear_page_and_status",
    "tests/lifecycle/test_stateful_lifecycle.py",
    "tests/arango/test_roundtrip_property.py",
    "tests/restore/test_crash.py",
    "tests/test_bench_smoke.py",
    "tests/faults/test_kill_commands.py",
    "tests/restore/test_deep_trees.py::test_a_deep_restore_killed_mid_swap",
    "tests/test_stateful.py",
    "tests/test_properties.py",
)


def _rank(item: pytest.Item) -> int:
    return next(
        (i for i, prefix in enumerate(_LONG_FIRST) if item.nodeid.startswith(prefix)),
        len(_LONG_FIRST),
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: the rest keep their order


# ``SNAPSTORE_CPU_LOG=FILE`` appends one line per test: the CPU seconds its set-up, call and
# tear-down cost this worker and the children it waited for, then the test's id. How the suite's
# cost is measured on a shared machine, where wall time says more about the neighbours.
_CPU_LOG = os.environ.get("SNAPSTORE_CPU_LOG")


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    zygote = sys.modules.get("tests.zygote")  # its runs are not this process's children
    forked = zygote.forked_cpu_seconds() if zygote is not None else 0.0
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + forked


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[object]:
    if not _CPU_LOG:
        return (yield)
    start = _cpu_seconds()
    try:
        return (yield)
    finally:
        with open(_CPU_LOG, "a") as log:
            log.write(f"{_cpu_seconds() - start:.2f} {item.nodeid}\n")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Say so in one line when nothing ran: exit code 5 is a failure of the selection (a
    marker, -k or path that matches nothing), not a green run."""
    is_xdist_worker = hasattr(session.config, "workerinput")
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and not is_xdist_worker:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                "error: no tests ran (exit code 5): the selection matched no test", red=True
            )
