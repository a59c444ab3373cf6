"""The CLI's Reporter: progress bars on stderr when stdout is a terminal, warnings always."""

from __future__ import annotations

import sys
from typing import Any

import click

from snapstore.reporting import Reporter


class ClickReporter(Reporter):
    def __init__(self, *, quiet: bool = False, bars: bool | None = None) -> None:
        super().__init__()
        self.quiet = quiet
        self.bars = (sys.stdout.isatty() and not quiet) if bars is None else bars
        self._bar: Any = None

    def start(self, label: str, total: int | None = None) -> None:
        self.finish()
        if self.bars and total:
            self._bar = click.progressbar(length=total, label=label, file=sys.stderr, width=30)
            self._bar.__enter__()

    def advance(self, amount: int) -> None:
        if self._bar is not None:
            self._bar.update(amount)

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
