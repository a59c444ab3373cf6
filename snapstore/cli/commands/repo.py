"""init, check, unlock: commands about the repository rather than one snapshot."""

from __future__ import annotations

import dataclasses

import click

from snapstore.cli.context import AppContext, confirm, pass_app
from snapstore.cli.render import emit_json, lines, size_bytes


@click.command("init")
@click.option(
    "--encryption/--no-encryption",
    default=None,
    help="Encrypt everything the repository holds (default: the `encryption` setting). The "
    "password comes from SNAPSTORE_PASSWORD_FILE, SNAPSTORE_PASSWORD, password_command, "
    "or a prompt asked twice; it is never a flag.",
)
@click.option(
    "--kdf-memory",
    type=click.IntRange(1, 4096),
    default=64,
    show_default=True,
    metavar="MIB",
    help="Memory Argon2id uses to turn the password into a key (more is slower to guess).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the new config as JSON.")
@pass_app
def init_cmd(app: AppContext, encryption: bool | None, kdf_memory: int, as_json: bool) -> None:
    """Create an empty repository (create does this on first use too)."""
    from snapstore.crypto.keys import KdfParams

    manager = app.manager(json_output=as_json)
    config = manager.init_repository(encryption=encryption, kdf=KdfParams(kdf_memory * 1024))
    if as_json:
        emit_json(
            {
                "repository": app.settings.repository,
                "id": config.id,
                "encrypted": config.encrypted,
            }
        )
    else:
        what = "Encrypted repository" if config.encrypted else "Repository"
        app.done(f"✓ {what} created at {app.settings.repository} (id {config.id[:12]})")


@click.command("check")
@click.option("--read-data", is_flag=True, help="Read and verify every stored chunk.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_app
def check_cmd(app: AppContext, read_data: bool, as_json: bool) -> None:
    """Verify the repository's structure (and with --read-data, every byte)."""
    report = app.manager(json_output=as_json).check(read_data=read_data)
    if as_json:
        emit_json(report.as_dict())
    else:
        for w in report.warnings:
            click.echo(f"warning: {w}", err=True)
        for e in report.errors:
            click.echo(f"error: {e}", err=True)
        what = f"{report.snapshots} snapshots, {report.packs} packs, {report.chunks} chunks"
        if read_data:
            what += f", {size_bytes(report.bytes_read)} read and verified"
        if report.ok:
            app.done(f"✓ Repository is healthy ({what})")
        else:
            click.echo(f"✗ {len(report.errors)} problem(s) found ({what})")
    if not report.ok:
        raise click.exceptions.Exit(1)


@click.command("unlock")
@click.option("--all", "everything", is_flag=True, help="Remove every lock, not just stale ones.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before removing live locks.")
@click.option("--json", "as_json", is_flag=True, help="Print the removed locks as JSON.")
@pass_app
def unlock_cmd(app: AppContext, everything: bool, yes: bool, as_json: bool) -> None:
    """Remove stale locks left by crashed processes."""
    manager = app.manager(json_output=as_json)
    if everything:
        held = manager.locks()
        if held:
            click.echo("Locks held now:", err=True)
            lines((lock.describe() for lock in held), "  ")
            confirm("Removing live locks can corrupt running operations. Type 'yes'", yes)
    removed = manager.unlock(everything=everything)
    if as_json:
        emit_json({"removed": [dataclasses.asdict(lock) for lock in removed]})
        return
    if not removed:
        app.done("No stale locks.")
    for lock in removed:
        app.done(f"✓ Removed lock of {lock.describe()}")


@click.command("rebuild-index")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_app
def rebuild_index_cmd(app: AppContext, as_json: bool) -> None:
    """Rebuild the index from the packs (after a damaged or lost index object)."""
    report = app.manager(json_output=as_json).rebuild_index()
    if as_json:
        emit_json(report.as_dict())
    else:
        app.done(
            f"✓ Index rebuilt from {report.packs} packs ({report.chunks} chunks); "
            f"{report.replaced} old index object(s) replaced"
        )
    if report.damaged:
        raise click.exceptions.Exit(1)
