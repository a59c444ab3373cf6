"""The ``snapstore`` command group: global options, error mapping, command registration.

Every failure reaches the user as one line ``error: ...`` on stderr with a non-zero exit code
(2 bad input, 1 failure, 3 partial snapshot, 75 repository locked, 130 interrupted); tracebacks
are for bugs only.
"""

from __future__ import annotations

import errno
import gc
import importlib
import os
import select
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import click

from snapstore import __version__
from snapstore.base.errors import InvalidInput, SnapstoreError
from snapstore.cli.help import GROUP_EPILOG, command_epilog
from snapstore.cli.paramtypes import SECONDS


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
        import json  # only for an error reported as JSON: --version and --help never need it

        click.echo(json.dumps({"error": message, "exit_code": code}), err=True)
    else:
        click.echo(f"error: {message}", err=True)


class LazyCommand(NamedTuple):
    """Where a subcommand is defined, and its short help for the group's ``--help`` listing:
    a command's module (and what it imports: the manager, the browse layer...) is imported only
    when that command runs, so ``snapstore --version`` and ``--help`` cost only click's start-up.
    ``short_help`` is the first paragraph of the command's docstring (a test keeps them equal)."""

    module: str
    attribute: str
    short_help: str


_REPO = "snapstore.cli.commands.repo"
_SNAPSHOTS = "snapstore.cli.commands.snapshots"
_LIFECYCLE = "snapstore.cli.commands.lifecycle"
_BROWSE = "snapstore.cli.commands.browse"
COMMANDS: dict[str, LazyCommand] = {
    "init": LazyCommand(
        _REPO, "init_cmd", "Create an empty repository (create does this on first use too)."
    ),
    "create": LazyCommand(
        _SNAPSHOTS, "create_cmd", "Take a snapshot of bulk storage and the database."
    ),
    "list": LazyCommand(_SNAPSHOTS, "list_cmd", "List snapshots, newest first."),
    "show": LazyCommand(_SNAPSHOTS, "show_cmd", "Show one snapshot's metadata."),
    "restore": LazyCommand(
        "snapstore.cli.commands.restore",
        "restore_cmd",
        "Replace current bulk storage and database with a snapshot.",
    ),
    "delete": LazyCommand(
        _SNAPSHOTS, "delete_cmd", "Delete a snapshot (permanent ones need --force)."
    ),
    "check": LazyCommand(
        _REPO, "check_cmd", "Verify the repository's structure (and with --read-data, every byte)."
    ),
    "unlock": LazyCommand(_REPO, "unlock_cmd", "Remove stale locks left by crashed processes."),
    "rebuild-index": LazyCommand(
        _REPO,
        "rebuild_index_cmd",
        "Rebuild the index from the packs (after a damaged or lost index object).",
    ),
    "cleanup": LazyCommand(
        _LIFECYCLE,
        "cleanup_cmd",
        "Apply the retention policy: delete, compress old snapshots, reclaim space.",
    ),
    "gc": LazyCommand(
        _LIFECYCLE,
        "gc_cmd",
        "Delete data no snapshot references (cleanup and delete run this too).",
    ),
    "pin": LazyCommand(
        _LIFECYCLE, "pin_cmd", "Make a snapshot permanent: cleanup never deletes it."
    ),
    "unpin": LazyCommand(
        _LIFECYCLE,
        "unpin_cmd",
        "Clear a snapshot's permanent flag: the retention policy applies to it again.",
    ),
    "diff": LazyCommand(
        _LIFECYCLE,
        "diff_cmd",
        "What changed from snapshot BEFORE to snapshot AFTER (files and collections).",
    ),
    "archive": LazyCommand(
        _LIFECYCLE,
        "archive_cmd",
        "Compress snapshots now (default: those the policy says to compress); deletes nothing.",
    ),
    "ls": LazyCommand(
        _BROWSE,
        "ls_cmd",
        "List the files of snapshot NAME under PATH (relative to the bulk root).",
    ),
    "cat": LazyCommand(
        _BROWSE,
        "cat_cmd",
        "Write the bytes of file PATH of snapshot NAME to standard output (verified).",
    ),
    "find": LazyCommand(
        _BROWSE,
        "find_cmd",
        "Which snapshots hold a path matching PATTERN (a glob on the base name, or on the "
        "whole path when it contains '/').",
    ),
    "export": LazyCommand(
        _BROWSE,
        "export_cmd",
        "Write snapshot NAME out as plain files in the reference's layout: metadata.json, "
        "bulk_store/, and database/ as arangodump writes it (arangorestore can load it).",
    ),
    "mount": LazyCommand(
        _BROWSE,
        "mount_cmd",
        "Show every snapshot as a read-only folder under MOUNTPOINT until Ctrl-C.",
    ),
    "copy": LazyCommand(
        "snapstore.cli.commands.copy",
        "copy_cmd",
        "Copy snapshots to (--to) or from (--from) another repository.",
    ),
    "key": LazyCommand(
        "snapstore.cli.commands.key",
        "key_group",
        "Manage the passwords of an encrypted repository (its key objects).",
    ),
    "ui": LazyCommand(
        "snapstore.cli.commands.ui",
        "ui_cmd",
        "Serve a web view of the repository on 127.0.0.1 until Ctrl-C.",
    ),
}


class SnapstoreGroup(click.Group):
    """A group that turns snapstore and OS errors into one stderr line and an exit code, and
    imports each subcommand's module only when that command is looked up (click's
    "Lazily Loading Subcommands")."""

    def __init__(
        self, *args: Any, lazy_commands: Mapping[str, LazyCommand] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: Mapping[str, LazyCommand] = lazy_commands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            where = self.lazy_commands[cmd_name]
            command = getattr(importlib.import_module(where.module), where.attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{where.module}.{where.attribute} is not a click command")
            command.epilog = command_epilog(cmd_name)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing would import every command for its short help: the table has it.
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows: list[tuple[str, str]] = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is None:
                loaded = click.Command(name, help=self.lazy_commands[name].short_help)
            if not loaded.hidden:
                rows.append((name, loaded.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[JSON_ERRORS] = wants_json(args)
        return super().parse_args(
            ctx, globals_first(args, lambda name: self._option_names(ctx, name))
        )

    def _option_names(self, ctx: click.Context, name: str) -> set[str]:
        command = self.get_command(ctx, name)
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


@click.group(
    cls=SnapstoreGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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
        import logging  # only to log

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
    from snapstore.cli.context import AppContext  # settings and its imports: only to run one

    ctx.obj = AppContext(config_file, overrides, quiet)


cli.epilog = GROUP_EPILOG


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
            sub = subcommand(args, COMMANDS)
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
