"""create, list, show, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from snapstore.base.errors import PartialSnapshot
from snapstore.cli.complete import complete_snapshot
from snapstore.cli.context import AppContext, confirm, pass_app
from snapstore.cli.render import emit_json, one_line, render_created, render_list, render_show

if TYPE_CHECKING:
    from snapstore.ops.maintain import DeletePlan


@click.command("create")
@click.argument("description")
@click.option("--permanent", is_flag=True, help="Never delete this snapshot automatically.")
@click.option("--no-bulk", is_flag=True, help="Skip bulk storage (database only).")
@click.option("--no-db", is_flag=True, help="Skip the database (bulk storage only).")
@click.option(
    "--no-cleanup",
    is_flag=True,
    help="Do not apply the retention policy afterwards (config auto_cleanup).",
)
@click.option(
    "--reread",
    is_flag=True,
    help="Read every file and every document again instead of trusting what the newest "
    "snapshot has for unchanged ones (file size and times; document _rev).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot as JSON.")
@pass_app
def create_cmd(
    app: AppContext,
    description: str,
    permanent: bool,
    no_bulk: bool,
    no_db: bool,
    no_cleanup: bool,
    reread: bool,
    as_json: bool,
) -> None:
    """Take a snapshot of bulk storage and the database."""
    manager = app.manager(json_output=as_json)
    result = manager.create(
        description,
        permanent=permanent,
        include_bulk=not no_bulk,
        include_db=not no_db,
        cleanup=not no_cleanup,
        reread=reread,
    )
    if as_json:
        emit_json(result.as_dict())
    elif app.quiet:  # the name is the result a script needs
        click.echo(f"✓ Snapshot created: {result.snapshot.snapshot_name}")
    else:
        render_created(result, app.settings.database_configured, no_db)
    if result.skipped:
        raise PartialSnapshot(
            f"snapshot {result.snapshot.snapshot_name} is partial: "
            f"{len(result.skipped)} path(s) could not be read"
        )


@click.command("list")
@click.option("-v", "--verbose", is_flag=True, help="Per-collection counts and stored sizes.")
@click.option("--json", "as_json", is_flag=True, help="Print an array of metadata objects.")
@pass_app
def list_cmd(app: AppContext, verbose: bool, as_json: bool) -> None:
    """List snapshots, newest first."""
    manager = app.manager(json_output=as_json)
    snaps, problems = manager.list_with_problems()
    usage = manager.usage() if verbose and hasattr(manager, "usage") else None
    if as_json:
        emit_json([s.metadata for s in snaps])
    else:
        render_list(snaps, verbose, usage)
    for p in problems:
        click.echo(f"warning: {p}", err=True)
    if problems:
        raise click.exceptions.Exit(1)


@click.command("show")
@click.argument("name", shell_complete=complete_snapshot)
@click.option("--json", "as_json", is_flag=True, help="Print metadata.json's shape.")
@pass_app
def show_cmd(app: AppContext, name: str, as_json: bool) -> None:
    """Show one snapshot's metadata."""
    manager = app.manager(json_output=as_json)
    snap = manager.get_snapshot(name)
    if as_json:
        emit_json(snap.metadata)
    else:
        render_show(snap)


@click.command("delete")
@click.argument("name", shell_complete=complete_snapshot)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Allow deleting a permanent snapshot.")
@click.option("--json", "as_json", is_flag=True, help="Print what was deleted as JSON.")
@pass_app
def delete_cmd(app: AppContext, name: str, yes: bool, force: bool, as_json: bool) -> None:
    """Delete a snapshot (permanent ones need --force)."""
    # With --force a damaged manifest, or one removed outside snapstore, is dropped too
    # (spec/manifest.md).
    plan = app.manager(json_output=as_json).delete(
        name, force=force, confirm=None if yes else ask_delete
    )
    if as_json:
        emit_json({"deleted": plan.name})
    else:
        app.done(f"✓ Snapshot deleted: {plan.name}")


def ask_delete(plan: DeletePlan) -> None:
    """Show what ``plan`` deletes and ask for the word ``yes``."""
    snap = plan.snapshot
    if snap is None:
        click.echo(f"Delete broken snapshot: {plan.broken}", err=True)
    else:
        click.echo(f"Delete snapshot: {snap.snapshot_name}", err=True)
        click.echo(f"  Description: {one_line(snap.description)}", err=True)
        click.echo(f"  Created: {snap.timestamp}", err=True)
        if snap.permanent:
            click.echo("  ⚠️  This snapshot is PERMANENT.", err=True)
    confirm("Type 'yes' to confirm deletion", False)
