"""The ``snapstore`` command group: global options, error mapping, command registration.

Every failure reaches the user as one line ``error: ...`` on stderr with a non-zero exit code
(2 bad input, 1 failure, 3 partial snapshot, 75 repository locked, 130 interrupted); tracebacks
are for bugs only.
"""

from __future__ import annotations

import errno
import gc
import json
import logging
import os
import select
import sys
from collections.abc import Callable, Iterable
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
from snapstore.cli.help import add_epilogs
from snapstore.cli.paramtypes import SECONDS
from snapstore.errors import InvalidInput, SnapstoreError


def os_error_message(e: OSError) -> str:
    where = f": {e.filename}" if getattr(e, "filename", None) else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full{where}; nothing was published, free space and try again"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied{where}"
    if e.errno == errno.EROFS:
        return f"read-only file system{where}"
    return f"{e.strerror or e}{where}"


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone; if so it is pointed at
    /dev/null, so that nothing later (the final flush) fails on it again."""
    try:
        fd = sys.stdout.fileno()
    except (ValueError, OSError):  # not a real file (click's test runner)
        return False
    try:
        sys.stdout.flush()
        # A pipe without a reader polls as an error (Linux pipe_poll), even when nothing is
        # buffered that would make the flush fail.
        poll = select.poll()
        poll.register(fd, select.POLLOUT)
        if not any(ev & select.POLLERR for _, ev in poll.poll(0)):
            return False
    except BrokenPipeError:
        pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
    return True


# The global options (given before or after the subcommand) and whether each takes a value.
GLOBAL_OPTIONS = {
    "--repo": True,
    "--bulk": True,
    "--config": True,
    "--project-dir": True,
    "--prefix": True,
    "--exclude": True,
    "--lock-wait": True,
    "--arango-url": True,
    "--arango-db": True,
    "--arango-user": True,
    "--no-lock": False,
    "-q": False,
    "--quiet": False,
    "-v": False,
    "-vv": False,
    "--verbose": False,
}
JSON_ERRORS = "snapstore.json_errors"  # ctx.meta key: the command was given --json
# Commands that always write to the repository: --no-lock is refused before they start
# (cleanup without --dry-run and restore's safety snapshot are refused where they write).
WRITING_COMMANDS = frozenset(
    {"init", "create", "delete", "gc", "archive", "pin", "unpin", "unlock", "rebuild-index"}
)


def _before_dashes(args: list[str]) -> list[str]:
    """The arguments before ``--``: after it everything is an argument, not an option."""
    return args[: args.index("--")] if "--" in args else args


def wants_json(args: list[str]) -> bool:
    """Whether ``--json`` was given as an option (``list -- --json`` gives it as an argument)."""
    return "--json" in _before_dashes(args)


def subcommand(args: list[str], names: Iterable[str]) -> str | None:
    """The subcommand ``args`` name (the first word that is not a global option or its value),
    if it is one of ``names``."""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return None
        if GLOBAL_OPTIONS.get(a):
            i += 2
        elif a.startswith("-") and a != "-":
            i += 1
        else:
            return a if a in set(names) else None
    return None


def globals_first(args: list[str], own: Callable[[str], set[str]] = lambda _: set()) -> list[str]:
    """``args`` with the global options found after the subcommand moved before it, so that
    ``snapstore create "x" -q`` and ``snapstore list --json -q`` work like
    ``snapstore -q create "x"``. Nothing after ``--`` is moved, nor an option the subcommand
    has itself (``own(name)``: its option names; ``list -v`` is list's own ``--verbose``)."""
    i = 0
    while i < len(args):
        a = args[i]
        if GLOBAL_OPTIONS.get(a):
            i += 2
        elif a.startswith("-") and a != "-":
            i += 1
        else:
            break  # the subcommand
    if i >= len(args):
        return args
    head, sub, rest = args[:i], args[i], args[i + 1 :]
    mine = own(sub)
    moved: list[str] = []
    kept: list[str] = []
    j = 0
    while j < len(rest):
        a = rest[j]
        if a == "--":
            kept += rest[j:]
            break
        name = a.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and name not in mine and (GLOBAL_OPTIONS[name] or "=" not in a):
            if GLOBAL_OPTIONS[name] and "=" not in a and j + 1 < len(rest):
                moved += rest[j : j + 2]
                j += 2
                continue
            moved.append(a)
        else:
            kept.append(a)
        j += 1
    return [*head, *moved, sub, *kept]


def report_error(message: str, code: int, as_json: bool) -> None:
    """One error on stderr: ``error: ...``, or with ``--json`` a JSON object
    ``{"error": ..., "exit_code": ...}`` (spec/cli.md)."""
    if as_json:
        click.echo(json.dumps({"error": message, "exit_code": code}), err=True)
    else:
        click.echo(f"error: {message}", err=True)


class SnapstoreGroup(click.Group):
    """A group that turns snapstore and OS errors into one stderr line and an exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[JSON_ERRORS] = wants_json(args)
        return super().parse_args(ctx, globals_first(args, self._option_names))

    def _option_names(self, name: str) -> set[str]:
        command = self.commands.get(name)
        if command is None:
            return set()
        return {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}

    def invoke(self, ctx: click.Context) -> Any:
        as_json = bool(ctx.meta.get(JSON_ERRORS))
        try:
            return super().invoke(ctx)
        except SnapstoreError as e:
            report_error(str(e), e.exit_code, as_json)
            raise click.exceptions.Exit(e.exit_code) from None
        except BrokenPipeError as e:
            if not _stdout_closed():
                report_error(os_error_message(e), 1, as_json)
                raise click.exceptions.Exit(1) from None
            # The reader went away (`snapstore list | head -5`): what it did not want to
            # read is not an error.
            raise click.exceptions.Exit(0) from None
        except OSError as e:
            report_error(os_error_message(e), 1, as_json)
            raise click.exceptions.Exit(1) from None
        except KeyboardInterrupt:
            # Only operations that know what they left say more (DatabaseRestoreStopped,
            # a restore's journal); a bare Ctrl-C claims nothing it cannot vouch for.
            report_error("interrupted", 130, as_json)
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
@click.option(
    "--lock-wait", type=SECONDS, metavar="SECONDS", help="Wait this long for a lock (default 0)."
)
@click.option("--arango-url", metavar="URL", help="ArangoDB endpoint [env SNAPSTORE_ARANGO_URL].")
@click.option("--arango-db", metavar="NAME", help="Database [env SNAPSTORE_ARANGO_DB].")
@click.option("--arango-user", metavar="USER", help="User [env SNAPSTORE_ARANGO_USER].")
@click.option(
    "--no-lock",
    is_flag=True,
    help="Read without taking the repository's lock (a read-only repository is read so "
    "anyway); commands that write refuse it.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or status lines.")
@click.option("-v", "--verbose", count=True, help="Log what is done on stderr (-vv: in detail).")
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
    no_lock: bool,
    quiet: bool,
    verbose: int,
) -> None:
    """Deduplicating snapshots of an ArangoDB database and a tree of experiment files."""
    if verbose:
        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            format="snapstore: %(name)s: %(message)s",
            stream=sys.stderr,
        )
    if no_lock and ctx.invoked_subcommand in WRITING_COMMANDS:
        raise InvalidInput(
            f"--no-lock is for commands that only read; {ctx.invoked_subcommand} writes to "
            "the repository"
        )
    arango = {"url": arango_url, "database": arango_db, "user": arango_user}
    overrides = {
        "repository": repo,
        "bulk": bulk,
        "project_dir": project_dir,
        "prefix": prefix,
        "exclude": exclude,
        "lock_wait": lock_wait,
        "no_lock": no_lock or None,
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
add_epilogs(cli)


def main() -> None:
    # The cyclic garbage collector would otherwise run every 700 allocations and walk every
    # live object each time it reaches the oldest generation: a snapshot of thousands of
    # files allocates millions of short-lived, acyclic objects (entries, stat results), and
    # those walks cost about a twentieth of a create's CPU. Collections still happen, rarely.
    gc.set_threshold(50_000, 20, 20)
    gc.freeze()  # what start-up imported lives for the whole command: never walk it
    args = sys.argv[1:]
    as_json = wants_json(args)
    code = 0
    try:
        rv = cli.main(args=args, prog_name="snapstore", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help() if e.ctx is not None else e.format_message())  # no command
        code = 0
    except click.UsageError as e:
        # One line, as every other error; the usage is one --help away. Some errors (an
        # option without its value) come without the context of the command they belong to.
        if e.ctx is not None:
            where = e.ctx.command_path
        else:
            sub = subcommand(args, cli.commands)
            where = f"snapstore {sub}" if sub else "snapstore"
        report_error(f"{e.format_message()} (see {where} --help)", e.exit_code, as_json)
        code = e.exit_code
    except click.ClickException as e:
        report_error(e.format_message(), e.exit_code, as_json)
        code = e.exit_code
    except click.Abort:
        report_error("aborted", 1, as_json)
        code = 1
    finally:
        _stdout_closed()  # the last buffered lines may meet a reader that has gone
    sys.exit(code)


if __name__ == "__main__":
    main()
