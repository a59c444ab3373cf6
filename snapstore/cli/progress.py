"""The CLI's Reporter: progress bars on stderr when stdout is a terminal, warnings always."""

from __future__ import annotations

import itertools
import sys
import time
from typing import Any

import click

from snapstore.base.reporting import Reporter


def _rate_text(done: int, skipped: int, elapsed: float) -> str:
    """``12.3 MB, 45.6 MB/s``: what a long phase has done, and how fast; bytes it did not
    have to read or write (reused, linked) count apart, ``(201.5 MB reused)``, so that the
    rate stays the rate of real work."""
    worked = (done - skipped) / (1024 * 1024)
    rate = worked / elapsed if elapsed > 0 else 0.0
    text = f"{worked:.1f} MB, {rate:.1f} MB/s"
    if skipped:
        text += f" ({skipped / (1024 * 1024):.1f} MB reused)"
    return text


class ClickReporter(Reporter):
    """Progress with click's bar, on stderr, only when stdout is a terminal and not quiet:
    with a known total a filling bar, without one (a walk of a tree of unknown size) click's
    moving indicator; both show the amount done and the throughput (of real work: what was
    reused or linked is shown apart)."""

    def __init__(
        self, *, quiet: bool = False, bars: bool | None = None, notes: bool | None = None
    ) -> None:
        super().__init__()
        self.quiet = quiet
        self.notes = not quiet if notes is None else notes  # -q, not --json, hides notes
        self.bars = (sys.stdout.isatty() and not quiet) if bars is None else bars
        self._bar: Any = None
        self._done = 0
        self._skipped = 0
        self._started = 0.0

    def start(self, label: str, total: int | None = None) -> None:
        self.finish()
        if not self.bars:
            return
        self._done, self._skipped, self._started = 0, 0, time.monotonic()
        # An iterable without a length makes click draw its indicator for an unknown total.
        source = None if total else itertools.repeat(None)
        self._bar = click.progressbar(
            source,
            length=total or None,
            label=label,
            file=sys.stderr,
            width=30,
            item_show_func=lambda text: text,
        )
        self._bar.__enter__()

    def advance(self, amount: int) -> None:
        if self._bar is not None:
            self._done += amount
            elapsed = time.monotonic() - self._started
            self._bar.update(amount, _rate_text(self._done, self._skipped, elapsed))

    def skip(self, amount: int) -> None:
        self._skipped += amount
        self.advance(amount)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def warn(self, message: str) -> None:
        super().warn(message)
        self.finish()
        click.echo(f"warning: {message}", err=True)

    def info(self, message: str) -> None:
        if not self.quiet:
            self.finish()
            click.echo(message, err=True)

    def note(self, message: str) -> None:
        if self.notes:
            self.finish()
            click.echo(message, err=True)
