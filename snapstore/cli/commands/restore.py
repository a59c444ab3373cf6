"""restore: confirm with the seed's prompt, then restore (staged, with a safety snapshot)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from snapstore.cli.complete import complete_snapshot
from snapstore.cli.context import AppContext, confirm, pass_app
from snapstore.cli.render import emit_json, render_database_writes, render_diff, render_plan
from snapstore.ops.records import RestoreOptions, RestorePlan

if TYPE_CHECKING:
    from snapstore.ops.restore import PlannedRestore
    from snapstore.sources.database import DatabaseRestoreReport


@click.command("restore")
@click.argument("name", shell_complete=complete_snapshot)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-bulk", is_flag=True, help="Restore the database only.")
@click.option("--no-db", is_flag=True, help="Restore bulk storage only.")
@click.option(
    "--target",
    metavar="DIR",
    help="Restore the files into DIR instead (several roots: DIR/<name>); the live "
    "database is then left alone unless --target-db is given too. Needed for a snapshot "
    "of folders that are not the configured bulk roots.",
)
@click.option("--no-safety-snapshot", is_flag=True, help="Do not snapshot the current state first.")
@click.option(
    "--collection",
    "collections",
    multiple=True,
    metavar="NAME",
    help="Restore only this collection (repeatable); the files only with --include.",
)
@click.option(
    "--target-db",
    metavar="NAME",
    help="Restore the database into database NAME instead (created if missing).",
)
@click.option(
    "--include",
    "include",
    multiple=True,
    metavar="PATH",
    help="Restore only this path, folder or glob of the bulk tree (repeatable); nothing else "
    "changes. The database only with --collection.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print which folders and database the restore would write and what it would "
    "change there; change nothing.",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Compare the content of live files too (read them) before keeping them, and read "
    "every restored document back.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def restore_cmd(
    app: AppContext,
    name: str,
    yes: bool,
    no_bulk: bool,
    no_db: bool,
    target: str | None,
    no_safety_snapshot: bool,
    collections: tuple[str, ...],
    target_db: str | None,
    include: tuple[str, ...],
    dry_run: bool,
    verify: bool,
    as_json: bool,
) -> None:
    """Replace current bulk storage and database with a snapshot.

    Without --target the files go back into the configured bulk roots only (a snapshot
    taken of other folders needs --target). --target DIR writes the files into DIR and
    leaves the live database alone, unless --target-db NAME is given too. --collection
    restores only those collections, and no files unless --include is given. The
    confirmation and --dry-run say which folders and which database are written.
    """
    manager = app.manager(json_output=as_json)
    options = RestoreOptions(
        restore_bulk=not no_bulk,
        restore_db=not no_db,
        target=target,
        safety_snapshot=not no_safety_snapshot,
        collections=collections,
        target_db=target_db,
        include=include,
        verify=verify,
    )
    # Planned once, in the command's one opening of the repository: the dry run and the
    # confirmation show this plan, and it is what runs.
    with manager.restore_session(name, options, dry_run=dry_run) as planned:
        plan = planned.plan
        if dry_run:
            _dry_run(planned, as_json)
            return
        if not yes:
            render_plan(plan)
            for line in _notes(plan):
                click.echo(line, err=True)
            click.echo(f"⚠️  WARNING: This will REPLACE {_replaced(plan, options)}!", err=True)
        confirm("Type 'yes' to confirm restoration", yes)
        if not as_json:
            click.echo("Restoring snapshot...")
        result = planned.execute()
    if as_json:
        emit_json(result.as_dict())
    else:
        _echo_database(result.database_report)
        click.echo("✓ Snapshot restored successfully")


def _dry_run(planned: PlannedRestore, as_json: bool) -> None:
    """Lifecycle addition: the plan, and a diff of the live state against the snapshot."""
    plan, changes = planned.plan, planned.preview()
    if as_json:
        emit_json({**changes.as_dict(), "writes": plan.writes()})
    else:
        title = f"Restoring {changes.after} would change (nothing was changed):"
        render_diff(changes, "\n".join([title, *_parts(plan)]))
        render_database_writes(changes)


def _parts(plan: RestorePlan) -> list[str]:
    """The dry run's first lines: which folders and which database the restore writes."""
    out = []
    if plan.restore_bulk:
        out += [f"  files: into {t.target}" for t in plan.targets]
    elif plan.bulk_note:
        out.append(f"  files: not restored ({plan.bulk_note})")
    if plan.restore_db:
        out.append(f"  database: {plan.database}")
    elif plan.database_note:
        out.append(f"  database: not restored ({plan.database_note})")
    out += [f"  {sp.source}: {line}" for sp in plan.sources for line in sp.lines]
    return out


def _notes(plan: RestorePlan) -> list[str]:
    """The confirmation's lines after the plan: what is not restored, what is kept."""
    out = []
    if plan.bulk_note:
        out.append(f"  Bulk storage: not restored ({plan.bulk_note})")
    if plan.database_note:
        out.append(f"  Database: not restored ({plan.database_note})")
    if plan.restore_bulk:
        for t in plan.targets:
            out += [f"  Kept as it is: {what} (inside {t.target})" for _, what in t.kept]
        out.append(
            "  Kept as they are: excluded names (see `exclude`), sockets, FIFOs, devices\n"
            "  and files the snapshot could not read; unchanged files are not rewritten.\n"
        )
    return out


def _replaced(plan: RestorePlan, options: RestoreOptions) -> str:
    what = []
    if plan.restore_db:
        what.append(f"database {plan.database}" if options.target_db else "the database")
    if plan.restore_bulk:
        if plan.include:
            what.append("the included paths")
        elif options.target is None:
            what.append("bulk storage")
        else:
            what.append("the files in " + ", ".join(str(t.target) for t in plan.targets))
    return " and ".join(what)


def _echo_database(report: DatabaseRestoreReport | None) -> None:
    """The database part of a restore: what changed and the verification against the snapshot."""
    if report is None:
        return
    colls = report.collections
    click.echo(
        f"  Database {report.database}: {report.documents} documents in "
        f"{len(colls)} collection(s) restored"
        + (" (database created)" if report.created_database else "")
    )
    for what, names in (
        ("dropped", report.dropped),
        ("created", report.created),
        ("replaced", report.replaced),
    ):
        if names:
            click.echo(f"    {what}: {', '.join(names)}")
    if report.merged:
        parts = [f"{n} (-{r} +{i} ~{c})" for n, (r, i, c) in report.merged.items()]
        click.echo(f"    written by difference, indexes kept: {', '.join(parts)}")
    for name, reason in report.reloaded.items():
        click.echo(f"    reloaded {name}: {reason}")
    for name, c in sorted(colls.items()):
        state = "count and checksum match" if c.checksum_ok else "DIFFERS"
        click.echo(f"    {name}: {c.count} of {c.expected_count} documents, {state}")
    for w in report.warnings:
        click.echo(f"  warning: {w}", err=True)
