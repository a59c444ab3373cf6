"""The ``snapstore`` command group: global options, error mapping, command registration.

Every failure reaches the user as one line ``error: ...`` on stderr with a non-zero exit code
(2 bad input, 1 failure, 3 partial snapshot, 75 repository locked, 130 interrupted); tracebacks
are for bugs only.
"""

from __future__ import annotations

import errno
import gc
from typing import Any

import click

from snapstore import __version__
from snapstore.cli.commands.browse import COMMANDS as BROWSE_COMMANDS
from snapstore.cli.commands.lifecycle import COMMANDS as LIFECYCLE_COMMANDS
from snapstore.cli.commands.repo import check_cmd, init_cmd, rebuild_index_cmd, unlock_cmd
from snapstore.cli.commands.restore import restore_cmd
from snapstore.cli.commands.snapshots import create_cmd, delete_cmd, list_cmd, show_cmd
from snapstore.cli.commands.ui import ui_cmd
from snapstore.cli.context import AppContext
from snapstore.errors import SnapstoreError


def os_error_message(e: OSError) -> str:
    where = f": {e.filename}" if getattr(e, "filename", None) else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full{where}; nothing was published, free space and try again"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied{where}"
    if e.errno == errno.EROFS:
        return f"read-only file system{where}"
    return f"{e.strerror or e}{where}"


class SnapstoreGroup(click.Group):
    """A group that turns snapstore and OS errors into one stderr line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SnapstoreError as e:
            click.echo(f"error: {e}", err=True)
            raise click.exceptions.Exit(e.exit_code) from None
        except OSError as e:
            click.echo(f"error: {os_error_message(e)}", err=True)
            raise click.exceptions.Exit(1) from None
        except KeyboardInterrupt:
            # Only operations that know what they left say more (DatabaseRestoreStopped,
            # a restore's journal); a bare Ctrl-C claims nothing it cannot vouch for.
            click.echo("error: interrupted", err=True)
            raise click.exceptions.Exit(130) from None


@click.group(cls=SnapstoreGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--repo", metavar="PATH", help="Repository location [env SNAPSTORE_REPO].")
@click.option(
    "--bulk", metavar="PATH", multiple=True, help="Bulk root; repeatable [env SNAPSTORE_BULK]."
)
@click.option("--config", "config_file", metavar="FILE", help="TOML file [env SNAPSTORE_CONFIG].")
@click.option("--project-dir", metavar="PATH", help="Where to read git metadata from.")
@click.option("--prefix", metavar="NAME", help="Snapshot name prefix (default metis).")
@click.option("--exclude", metavar="PATTERN", multiple=True, help="Name pattern to skip.")
@click.option("--lock-wait", type=float, metavar="SECONDS", help="Wait this long for a lock.")
@click.option("--arango-url", metavar="URL", help="ArangoDB endpoint [env SNAPSTORE_ARANGO_URL].")
@click.option("--arango-db", metavar="NAME", help="Database [env SNAPSTORE_ARANGO_DB].")
@click.option("--arango-user", metavar="USER", help="User [env SNAPSTORE_ARANGO_USER].")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or status lines.")
@click.version_option(__version__, prog_name="snapstore")
@click.pass_context
def cli(
    ctx: click.Context,
    repo: str | None,
    bulk: tuple[str, ...],
    config_file: str | None,
    project_dir: str | None,
    prefix: str | None,
    exclude: tuple[str, ...],
    lock_wait: float | None,
    arango_url: str | None,
    arango_db: str | None,
    arango_user: str | None,
    quiet: bool,
) -> None:
    """Deduplicating snapshots of an ArangoDB database and a tree of experiment files."""
    arango = {"url": arango_url, "database": arango_db, "user": arango_user}
    overrides = {
        "repository": repo,
        "bulk": bulk,
        "project_dir": project_dir,
        "prefix": prefix,
        "exclude": exclude,
        "lock_wait": lock_wait,
        "arangodb": {k: v for k, v in arango.items() if v} or None,
    }
    ctx.obj = AppContext(config_file, overrides, quiet)


for command in (
    init_cmd,
    create_cmd,
    list_cmd,
    show_cmd,
    restore_cmd,
    delete_cmd,
    check_cmd,
    unlock_cmd,
    rebuild_index_cmd,
    *LIFECYCLE_COMMANDS,
    *BROWSE_COMMANDS,
    ui_cmd,
):
    cli.add_command(command)


def main() -> None:
    # The cyclic garbage collector would otherwise run every 700 allocations and walk every
    # live object each time it reaches the oldest generation: a snapshot of thousands of
    # files allocates millions of short-lived, acyclic objects (entries, stat results), and
    # those walks cost about a twentieth of a create's CPU. Collections still happen, rarely.
    gc.set_threshold(50_000, 20, 20)
    gc.freeze()  # what start-up imported lives for the whole command: never walk it
    cli(prog_name="snapstore")


if __name__ == "__main__":
    main()
