"""A database restore with its way back (an interrupted restore ends as it began).

``DatabaseRestore.run`` restores a snapshot's database section. When that stops half-way
(the server refused something, or Ctrl-C), the database is brought back to its state before
the restore began, and the message says exactly what was done:

- nothing was changed yet: nothing to undo;
- a safety snapshot holds the database as it was: it is restored (with progress), in full,
  or for a ``--collection`` restore those collections, dropping the ones that did not exist
  before; a second Ctrl-C (or a failure) during that rollback stops it, and the message
  gives the command that finishes it;
- the restore created the database: it is dropped again;
- otherwise (``--no-safety-snapshot``): nothing can be undone; the message names the
  collections left incomplete and the command that finishes the restore.

The message never claims more than is true: each branch says what it did and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from snapstore.base.errors import DatabaseError, DatabaseRestoreStopped, Interrupted, SnapstoreError
from snapstore.base.reporting import Reporter
from snapstore.manifest.schema import Manifest
from snapstore.sources.database import DatabaseSection, DatabaseSource
from snapstore.store.chunkstore import ChunkStore

ROLLBACK_ATTEMPTS = 3


@dataclass
class DatabaseRestore:
    """One database restore. ``safety``: the safety snapshot taken before it (holding the
    database as it was), if any; ``existed``: whether the database existed before."""

    store: ChunkStore
    source: DatabaseSource
    snapshot: Manifest
    reporter: Reporter
    collections: list[str] | None
    safety: Manifest | None
    existed: bool
    flags: str = ""  # extra flags for the commands we print (e.g. " --target-db X")
    done_before: str = ""  # what the restore did before the database ("the bulk files ...")
    verify: bool = False  # read every document back (restore --verify)

    def run(self) -> dict[str, Any]:
        assert self.snapshot.database is not None
        try:
            return self.source.restore(
                self.store, self.snapshot.database, self.reporter, self.collections, self.verify
            )
        except DatabaseRestoreStopped as e:
            raise self._recover(e) from None

    def _error(self, stopped: DatabaseRestoreStopped, text: str) -> SnapstoreError:
        head = f"restore of {self.snapshot.name}: the database restore {stopped.reason} "
        head += f"(while {stopped.step}"
        head += f"; {stopped.summary}); " if stopped.changed and stopped.summary else "); "
        full = head + (self.done_before + "; " if self.done_before else "") + text
        return Interrupted(full) if stopped.interrupted else DatabaseError(full)

    def _recover(self, stopped: DatabaseRestoreStopped) -> SnapstoreError:
        if not stopped.changed:
            return self._error(stopped, "the database was not changed")
        if self.safety is not None and self.safety.database is not None:
            return self._roll_back(stopped, self.safety)
        if not self.existed:
            try:
                self.source.drop_database()
            except (Exception, KeyboardInterrupt):  # whatever stops it, say what is left
                return self._error(
                    stopped,
                    "the database it created is incomplete and could not be dropped again: "
                    "drop it, or run the restore again",
                )
            return self._error(stopped, "the database it had created was dropped again")
        left = ", ".join(stopped.incomplete) or "none (indexes, views or graphs may be missing)"
        retry = f"snapstore restore {self.snapshot.name} --no-bulk --yes{self.flags}"
        retry += "".join(f" --collection {c}" for c in self.collections or [])
        return self._error(
            stopped,
            f"no safety snapshot was taken, so it cannot be rolled back; incomplete "
            f"collections: {left}; to finish the restore run: {retry}",
        )

    def _roll_back(self, stopped: DatabaseRestoreStopped, safety: Manifest) -> SnapstoreError:
        assert safety.database is not None
        before = sorted(DatabaseSection(safety.database).collections)
        again: list[str] | None = None
        new: list[str] = []
        if self.collections is not None:
            again = [c for c in self.collections if c in before]
            new = [c for c in self.collections if c not in before]
        finish = f"snapstore restore {safety.name} --no-bulk --yes --no-safety-snapshot"
        finish += self.flags + "".join(f" --collection {c}" for c in again or [])
        self.reporter.info(
            f"Rolling the database back to its state before the restore "
            f"(safety snapshot {safety.name})..."
        )
        self.store.resync()  # the safety snapshot was written after this store was opened
        try:
            for attempt in range(1, ROLLBACK_ATTEMPTS + 1):
                try:
                    if again is None or again:
                        self.source.restore(self.store, safety.database, self.reporter, again)
                    break
                except DatabaseRestoreStopped as e:
                    # A write sent just before the interrupt may still land on the server
                    # after the rollback rebuilt its collection (a server finishes requests
                    # whose client went away): the rollback's own verification sees it, and
                    # once that request is done a second pass is clean.
                    if (
                        e.interrupted
                        or not e.step.startswith("verifying")
                        or (attempt == ROLLBACK_ATTEMPTS)
                    ):
                        raise
                    self.reporter.info(
                        "The rolled-back database differs from the safety snapshot (a write "
                        "sent before the interrupt landed late); rolling back again..."
                    )
            if new:
                self.source.drop_collections(new)
        except (Exception, KeyboardInterrupt) as e:  # whatever stops it, say what is left
            interrupted = isinstance(e, KeyboardInterrupt) or getattr(e, "interrupted", False)
            if interrupted:
                what = "was interrupted"
            elif isinstance(e, DatabaseRestoreStopped):
                what = f"{e.reason} (while {e.step})"
            else:
                what = f"failed ({e})"
            return self._error(
                stopped,
                f"the rollback {what}: the database is incomplete; to finish the rollback "
                f"run: {finish}",
            )
        return self._error(
            stopped,
            f"the database was rolled back to its state before the restore (from safety "
            f"snapshot {safety.name})",
        )
