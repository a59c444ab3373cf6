"""cleanup, gc, pin, unpin, diff, archive: the snapshot lifecycle (thin layer over the manager)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from snapstore.base.errors import InvalidInput
from snapstore.base.retention import parse_now
from snapstore.cli.complete import complete_snapshot
from snapstore.cli.context import AppContext, confirm, pass_app
from snapstore.cli.paramtypes import FiniteFloatRange
from snapstore.cli.render import (
    emit_json,
    render_archive,
    render_cleanup,
    render_diff,
    render_gc,
)
from snapstore.maintenance.gc import DEFAULT_MAX_UNUSED

if TYPE_CHECKING:
    from snapstore.maintenance.lifecycle import CleanupPlan


@click.command("cleanup")
@click.option("--dry-run", is_flag=True, help="Print every snapshot's fate; change nothing.")
@click.option(
    "--now",
    "now_text",
    metavar="TIMESTAMP",
    help="With --dry-run: decide as of this time (ISO 8601 or YYYYMMDD_HHMMSS).",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask before deleting snapshots.")
@click.option("--json", "as_json", is_flag=True, help="Print the decisions as JSON.")
@pass_app
def cleanup_cmd(
    app: AppContext, dry_run: bool, now_text: str | None, yes: bool, as_json: bool
) -> None:
    """Apply the retention policy: delete, compress old snapshots, reclaim space."""
    if app.settings.no_lock and not dry_run:
        raise InvalidInput(
            "--no-lock is for commands that only read; cleanup writes to the "
            "repository (cleanup --dry-run only reads)"
        )
    now = None
    if now_text is not None:
        try:
            now = parse_now(now_text)
        except ValueError as e:
            raise InvalidInput(f"--now: {e}") from None
        if not dry_run:
            raise InvalidInput(
                "--now only works with --dry-run: a real cleanup decides at the current time"
            )
    # At a terminal, deleting snapshots is shown and asked for, as delete does. Without one
    # (cron) cleanup runs as the reference's does and as the automatic cleanup after create
    # does: it applies the user's own policy, which never touches a pinned snapshot, and
    # prints what it deleted (spec/cli.md, "Who confirms what").
    ask = not dry_run and not yes and sys.stdin.isatty()
    result = app.manager(json_output=as_json).apply_retention_policy(
        dry_run=dry_run, now=now, confirm=ask_cleanup if ask else None
    )
    if as_json:
        emit_json(result.as_dict())
    elif dry_run or not app.quiet:  # a dry run's plan is what was asked for
        render_cleanup(result)


def ask_cleanup(plan: CleanupPlan) -> None:
    """Show the snapshots ``plan`` deletes and ask for the word ``yes`` (none: no question)."""
    doomed = plan.doomed
    if doomed:
        click.echo(f"Cleanup will delete {len(doomed)} snapshot(s):", err=True)
        for d in doomed:
            click.echo(f"  {d.name} ({'; '.join(d.reasons)})", err=True)
        confirm(f"Type 'yes' to delete {len(doomed)} snapshot(s)", False)


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Report what would be reclaimed; change nothing.")
@click.option(
    "--max-unused",
    type=FiniteFloatRange(0, 100),
    default=DEFAULT_MAX_UNUSED * 100,
    show_default=True,
    metavar="PERCENT",
    help="Rewrite packs and archives with more than this share of dead bytes.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def gc_cmd(app: AppContext, dry_run: bool, max_unused: float, as_json: bool) -> None:
    """Delete data no snapshot references (cleanup and delete run this too)."""
    result = app.manager(json_output=as_json).gc(max_unused=max_unused / 100, dry_run=dry_run)
    if as_json:
        emit_json(result.as_dict())
    elif dry_run or not app.quiet:
        render_gc(result)


@click.command("pin")
@click.argument("name", shell_complete=complete_snapshot)
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot's metadata as JSON.")
@pass_app
def pin_cmd(app: AppContext, name: str, as_json: bool) -> None:
    """Make a snapshot permanent: cleanup never deletes it."""
    snap = app.manager(json_output=as_json).pin(name)
    if as_json:
        emit_json(snap.metadata)
    else:
        app.done(f"📌 Pinned {snap.snapshot_name} (permanent: cleanup never deletes it)")


@click.command("unpin")
@click.argument("name", shell_complete=complete_snapshot)
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot's metadata as JSON.")
@pass_app
def unpin_cmd(app: AppContext, name: str, as_json: bool) -> None:
    """Clear a snapshot's permanent flag: the retention policy applies to it again."""
    snap = app.manager(json_output=as_json).unpin(name)
    if as_json:
        emit_json(snap.metadata)
    else:
        app.done(f"📦 Unpinned {snap.snapshot_name} (the retention policy applies to it again)")


@click.command("diff")
@click.argument("before", shell_complete=complete_snapshot)
@click.argument("after", shell_complete=complete_snapshot)
@click.option("--json", "as_json", is_flag=True, help="Print every change as JSON.")
@pass_app
def diff_cmd(app: AppContext, before: str, after: str, as_json: bool) -> None:
    """What changed from snapshot BEFORE to snapshot AFTER (files and collections)."""
    diff = app.manager(json_output=as_json).diff(before, after)
    if as_json:
        emit_json(diff.as_dict())
    else:
        render_diff(diff)


@click.command("archive")
@click.argument("names", nargs=-1, metavar="[NAME]...", shell_complete=complete_snapshot)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def archive_cmd(app: AppContext, names: tuple[str, ...], as_json: bool) -> None:
    """Compress snapshots now (default: those the policy says to compress); deletes nothing."""
    result = app.manager(json_output=as_json).archive(list(names) or None)
    if as_json:
        emit_json(result.as_dict())
    elif not app.quiet:
        render_archive(result)


COMMANDS = (cleanup_cmd, gc_cmd, pin_cmd, unpin_cmd, diff_cmd, archive_cmd)
