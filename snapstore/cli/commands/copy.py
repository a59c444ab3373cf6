"""copy: snapshots to (or from) another repository."""

from __future__ import annotations

import click

from snapstore.base.errors import InvalidInput
from snapstore.cli.context import AppContext, pass_app
from snapstore.cli.render import emit_json, size_bytes


@click.command("copy")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--to", "to", metavar="REPO", help="Copy from the configured repository to REPO.")
@click.option("--from", "from_", metavar="REPO", help="Copy from REPO into the configured one.")
@click.option("--dry-run", is_flag=True, help="Say what would be copied and sent; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def copy_cmd(
    app: AppContext,
    names: tuple[str, ...],
    to: str | None,
    from_: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Copy snapshots to (--to) or from (--from) another repository.

    Only the chunks the destination lacks are sent. REPO is a folder or an s3:// URL (the
    [s3] settings apply to both). Without NAME, every snapshot the destination lacks is
    copied, except those the destination's own retention deleted; a NAME may be a unique
    prefix. A snapshot appears in the destination only once all its data is there, so an
    interrupted copy is simply run again. Copy never deletes or overwrites anything: it
    works with credentials that cannot delete.
    """
    if (to is None) == (from_ is None):
        raise InvalidInput("give exactly one of --to REPO and --from REPO")
    manager = app.manager(json_output=as_json)
    other = to if to is not None else from_
    assert other is not None
    result = manager.copy(other, to=to is not None, names=names, dry_run=dry_run)
    if as_json:
        emit_json(result.as_dict())
        return
    verb = "would copy" if dry_run else "copied"
    for s in result.snapshots:
        if s.status in ("copied", "to copy"):
            app.done(
                f"✓ {s.name}: {verb}, {s.chunks} chunks ({size_bytes(s.bytes)}) sent"
                if not dry_run
                else f"• {s.name}: {s.chunks} chunks ({size_bytes(s.bytes)}) to send"
            )
        elif s.status == "present":
            app.done(f"  {s.name}: already in {result.destination}")
        else:
            app.done(f"  {s.name}: skipped ({s.reason})")
    count = sum(s.status in ("copied", "to copy") for s in result.snapshots)
    app.done(
        f"{'Would copy' if dry_run else '✓ Copied'} {count} snapshot(s) to {result.destination}: "
        f"{result.chunks} chunks, {size_bytes(result.bytes)}"
        + ("" if dry_run else f" ({size_bytes(result.stored_bytes)} written)")
        + (", re-identified" if result.reidentified else "")
    )
