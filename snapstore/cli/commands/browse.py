"""ls, cat, find, export, mount: look inside snapshots without restoring them."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Iterable

import click

from snapstore.cli.complete import complete_snapshot
from snapstore.cli.context import AppContext, pass_app
from snapstore.cli.render import one_line, size_bytes
from snapstore.inspection.tree_view import EntryInfo

_TYPE_BITS = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}


def _long(e: EntryInfo, with_snapshot: bool) -> str:
    mode = stat.filemode(_TYPE_BITS[e.type] | e.mode)
    when = e.mtime.replace("T", " ").removesuffix("+00:00")
    owner = f"{e.user or '?'}/{e.group or '?'}"
    line = f"{mode} {owner:>17} {e.size:>12} {when}  {one_line(e.path)}"
    if e.target is not None:
        line += f" -> {one_line(e.target)}"
    return (f"{e.snapshot}  " if with_snapshot else "") + line


def _emit_json_stream(entries: Iterable[EntryInfo]) -> None:
    """A JSON array written as it is produced: listings may be millions long."""
    out = sys.stdout
    items = iter(entries)
    head = next(items, None)  # an error (unknown snapshot, missing path) comes before any output
    if head is None:
        out.write("[]\n")
        return
    out.write("[\n  " + json.dumps(head.as_dict(), ensure_ascii=False))
    for e in items:
        out.write(",\n  " + json.dumps(e.as_dict(), ensure_ascii=False))
    out.write("\n]\n")


@click.command("ls")
@click.argument("name", shell_complete=complete_snapshot)
@click.argument("path", required=False, default="")
@click.option(
    "-r", "--recursive", is_flag=True, help="Everything below PATH, not only its entries."
)
@click.option("-l", "--long", "long_", is_flag=True, help="Mode, owner, size and time too.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of entries.")
@pass_app
def ls_cmd(
    app: AppContext, name: str, path: str, recursive: bool, long_: bool, as_json: bool
) -> None:
    """List the files of snapshot NAME under PATH (relative to the bulk root).

    \b
    Examples:
      snapstore ls metis_20251007_143022 results/
      snapstore ls metis_20251007 -rl --json | jq '.[].path'
    """
    entries = app.manager(json_output=True).ls(name, path, recursive=recursive)
    if as_json:
        _emit_json_stream(entries)
        return
    for e in entries:
        click.echo(
            _long(e, False) if long_ else one_line(e.path) + ("/" if e.type == "dir" else "")
        )


@click.command("cat")
@click.argument("name", shell_complete=complete_snapshot)
@click.argument("path")
@pass_app
def cat_cmd(app: AppContext, name: str, path: str) -> None:
    """Write the bytes of file PATH of snapshot NAME to standard output (verified).

    \b
    Example:
      snapstore cat metis_20251007_143022 results/run1.csv > run1.csv
    """
    out = sys.stdout.buffer
    for piece in app.manager(json_output=True).cat(name, path):
        out.write(piece)
    out.flush()


@click.command("find")
@click.argument("pattern")
@click.option(
    "-s", "--snapshot", "snapshots", multiple=True, metavar="NAME", help="Search only these."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of matches.")
@pass_app
def find_cmd(app: AppContext, pattern: str, snapshots: tuple[str, ...], as_json: bool) -> None:
    """Which snapshots hold a path matching PATTERN (a glob on the base name, or on the
    whole path when it contains '/').

    \b
    Examples:
      snapstore find results.csv
      snapstore find 'runs/*/metrics.json' --snapshot metis_20251007
    """
    matches = app.manager(json_output=True).find(pattern, list(snapshots) or None)
    if as_json:
        _emit_json_stream(matches)
        return
    found = 0
    for e in matches:
        found += 1
        click.echo(f"{e.snapshot}  {e.size:>12}  {e.mtime}  {one_line(e.path)}")
    if not found:
        click.echo(f"No snapshot holds a path matching {pattern!r}.", err=True)


@click.command("export")
@click.argument("name", shell_complete=complete_snapshot)
@click.argument("dest", required=False)
@click.option(
    "--tar", metavar="FILE", help="Write a tar file instead (.tar.gz compresses; - for stdout)."
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@pass_app
def export_cmd(
    app: AppContext, name: str, dest: str | None, tar: str | None, as_json: bool
) -> None:
    """Write snapshot NAME out as plain files in the reference's layout: metadata.json,
    bulk_store/, and database/ as arangodump writes it (arangorestore can load it).

    \b
    Examples:
      snapstore export metis_20251007_143022 /tmp/baseline
      snapstore export metis_20251007_143022 --tar baseline.tar.gz
      arangorestore --input-directory /tmp/baseline/database --create-database true
    """
    snapshot, stats = app.manager(json_output=as_json or tar == "-").export(name, dest, tar=tar)
    where = tar if tar is not None else dest
    if as_json:
        doc = {"snapshot": snapshot, "destination": where, **stats.__dict__}
        click.echo(json.dumps(doc), err=tar == "-")
    elif tar != "-":
        app.done(
            f"✓ Exported {snapshot} to {where}: {stats.files} files, {stats.dirs} folders, "
            f"{size_bytes(stats.bytes)}"
        )


@click.command("mount")
@click.argument("mountpoint")
@pass_app
def mount_cmd(app: AppContext, mountpoint: str) -> None:
    """Show every snapshot as a read-only folder under MOUNTPOINT until Ctrl-C.

    Each snapshot folder holds metadata.json, bulk_store/ and database/ (as export writes
    them). While mounted, delete, cleanup and gc wait for the unmount.

    \b
    Example:
      mkdir /tmp/snaps && snapstore mount /tmp/snaps
    """
    manager = app.manager()
    manager.mount(mountpoint)
    click.echo("Unmounted.", err=True)


COMMANDS = (ls_cmd, cat_cmd, find_cmd, export_cmd, mount_cmd)
