"""Run gc (or archive + gc) and kill -9 this process at a named step: the crash tests' child.

    python -m tests.lifecycle.crash_gc REPO CACHE STEP [archive NAME...|max-unused=FRACTION]

STEP is one of gc's durable steps (snapstore.maintenance.gc: packs-written, index-written,
old-index-deleted, old-packs-deleted, archive-index-deleted, archive-rewritten) or
"after-archive" (archives and index written, nothing else yet). Exit code 0 means the step
was never reached (nothing to do there).
"""

from __future__ import annotations

import os
import signal
import sys

from snapstore.config.settings import Settings
from snapstore.maintenance.gc import DEFAULT_MAX_UNUSED, collect_garbage
from snapstore.maintenance.lifecycle import archive_cold, load_manifests
from snapstore.manager import SnapshotManager


def main() -> int:
    repo, cache, step, *rest = sys.argv[1:]
    manager = SnapshotManager(Settings(repository=repo, cache_dir=cache, bulk=()))

    def hook(at: str) -> None:
        if at == step:
            os.kill(os.getpid(), signal.SIGKILL)

    with manager.repository.session("gc", exclusive=True) as opened:
        backend, store = opened.backend, opened.store
        manifests = load_manifests(backend, "gc")
        marks = None
        max_unused = DEFAULT_MAX_UNUSED
        if rest and rest[0].startswith("max-unused="):
            max_unused = float(rest[0].split("=", 1)[1])
        elif rest and rest[0] == "archive":
            _, marks = archive_cold(backend, store, manifests, set(rest[1:]), manager.reporter)
            hook("after-archive")
        collect_garbage(
            backend,
            store,
            manifests,
            manager.reporter,
            marks=marks,
            crash_hook=hook,
            max_unused=max_unused,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
