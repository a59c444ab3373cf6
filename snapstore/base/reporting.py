"""How long operations tell the front end about progress and warnings.

The library never prints. It calls a :class:`Reporter`; the CLI's reporter draws progress bars
on a terminal and prints warnings on stderr, the default one only collects the warnings.
"""

from __future__ import annotations


class Reporter:
    """Receives progress and warnings; the base class keeps warnings and ignores progress."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def start(self, label: str, total: int | None = None) -> None:
        """A phase begins; ``total`` is in bytes (or items) when known."""

    def advance(self, amount: int) -> None:
        """``amount`` more units of the current phase are done."""

    def skip(self, amount: int) -> None:
        """``amount`` more units are done without work: files reused from the parent
        snapshot, or linked instead of written. They fill the bar but are no throughput."""
        self.advance(amount)

    def finish(self) -> None:
        """The current phase is over."""

    def warn(self, message: str) -> None:
        """Something the user should know that does not stop the operation."""
        self.warnings.append(message)

    def info(self, message: str) -> None:
        """A status line (shown by the CLI unless quiet)."""

    def note(self, message: str) -> None:
        """A one-line remark about how the operation runs (reading without a lock): shown
        unless the user asked for quiet, also by commands whose output is data."""
        self.info(message)
