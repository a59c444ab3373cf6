"""How far a database restore got: the step it is on and what it has changed so far.

A restore that stops half-way reports this (``DatabaseRestoreStopped``: ``step``,
``changed``, ``incomplete``, ``summary``) so that snapstore/ops/database_restore.py can say
exactly what is left and roll back the right collections.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Progress:
    """What has been done so far, for the error message if the restore stops half-way."""

    step: str = "starting"
    changed: bool = False  # anything dropped, created or written yet
    dropped: list[str] = field(default_factory=list)  # dropped, or emptied in place
    created: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)  # written by difference (kept, not dropped)
    partial: str | None = None
    wanted: list[str] = field(default_factory=list)  # the snapshot collections restored
    warnings: list[str] = field(default_factory=list)

    def at(self, text: str, *, changes: bool = False) -> None:
        """Now doing ``text``; ``changes``: this step changes the database."""
        self.step = text
        if changes:
            self.changed = True

    def incomplete(self) -> list[str]:
        """Snapshot collections the restore left dropped, empty or partly loaded."""
        touched = (set(self.dropped) | set(self.created) | set(self.merged)) & set(self.wanted)
        return sorted(touched - set(self.loaded))

    def summary(self) -> str:
        if not self.changed:
            return "the database was not changed"
        parts = []
        if self.loaded:
            parts.append(f"fully loaded: {', '.join(self.loaded)}")
        if self.partial:
            parts.append(f"partly loaded: {self.partial}")
        left = self.incomplete()
        if left:
            parts.append(f"incomplete: {', '.join(left)}")
        gone = sorted(set(self.dropped) - set(self.wanted))
        if gone:
            parts.append(f"dropped (not in the snapshot): {', '.join(gone)}")
        return "; ".join(parts) if parts else "the database was changed"
