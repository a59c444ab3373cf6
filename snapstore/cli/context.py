"""What every command gets from the global options: settings, a reporter, the manager."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from snapstore.base.errors import NotConfirmed
from snapstore.cli.progress import ClickReporter
from snapstore.config.settings import Settings, load_settings

if TYPE_CHECKING:
    from snapstore.manager import SnapshotManager


@dataclass
class AppContext:
    config_file: str | None
    overrides: dict[str, Any]
    quiet: bool
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_file, self.overrides)
        return self._settings

    def done(self, message: str) -> None:
        """A line that only confirms success (``✓ ...``): printed on stdout unless ``-q``."""
        if not self.quiet:
            click.echo(message)

    def manager(self, *, json_output: bool = False) -> SnapshotManager:
        from snapstore.manager import SnapshotManager  # the whole engine: only once a command runs

        reporter = ClickReporter(quiet=self.quiet or json_output, notes=not self.quiet)
        return SnapshotManager(self.settings, reporter=reporter)


pass_app = click.make_pass_decorator(AppContext)


def confirm(question: str, yes: bool) -> None:
    """Ask for the word ``yes`` unless ``--yes`` was given; anything else cancels."""
    if yes:
        return
    try:
        answer = click.prompt(question, default="", show_default=False, err=True)
    except click.Abort:
        click.echo(err=True)  # end the prompt's line: the error must start a line of its own
        raise NotConfirmed("not confirmed (no answer; pass --yes to skip the prompt)") from None
    if not sys.stdin.isatty():
        click.echo(err=True)  # piped answers are not echoed: end the prompt's line ourselves
    if answer.strip() != "yes":
        raise NotConfirmed("cancelled: nothing was changed")
