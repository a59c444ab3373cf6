"""The CLI's Reporter: progress bars on stderr when stdout is a terminal, warnings always."""

from __future__ import annotations

import itertools
import sys
import time
from typing import Any

import click

from snapstore.reporting import Reporter


def _rate_text(done: int, elapsed: float) -> str:
    """``12.3 MB, 45.6 MB/s``: what a long phase has done, and how fast."""
    mb = done / (1024 * 1024)
    rate = mb / elapsed if elapsed > 0 else 0.0
    return f"{mb:.1f} MB, {rate:.1f} MB/s"


class ClickReporter(Reporter):
    """Progress with click's bar, on stderr, only when stdout is a terminal and not quiet:
    with a known total a filling bar, without one (a walk of a tree of unknown size) click's
    moving indicator; both show the amount done and the throughput."""

    def __init__(self, *, quiet: bool = False, bars: bool | None = None) -> None:
        super().__init__()
        self.quiet = quiet
        self.bars = (sys.stdout.isatty() and not quiet) if bars is None else bars
        self._bar: Any = None
        self._done = 0
        self._started = 0.0

    def start(self, label: str, total: int | None = None) -> None:
        self.finish()
        if not self.bars:
            return
        self._done, self._started = 0, time.monotonic()
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
            self._bar.update(amount, _rate_text(self._done, time.monotonic() - self._started))

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
