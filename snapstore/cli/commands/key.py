"""key list / add / remove / passwd: the passwords of an encrypted repository."""

from __future__ import annotations

import click

from snapstore.cli.context import AppContext, confirm, pass_app
from snapstore.cli.render import emit_json


@click.group("key")
def key_group() -> None:
    """Manage the passwords of an encrypted repository (its key objects).

    Each key object holds the repository's master key sealed under one password; any one of
    them opens the repository. The current password comes from SNAPSTORE_PASSWORD_FILE,
    SNAPSTORE_PASSWORD, password_command or a prompt; a new one from
    SNAPSTORE_NEW_PASSWORD_FILE, SNAPSTORE_NEW_PASSWORD or a prompt asked twice.
    """


@key_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON.")
@pass_app
def key_list_cmd(app: AppContext, as_json: bool) -> None:
    """List the key objects; * marks the one whose password opened the repository."""
    keys = app.manager(json_output=as_json).list_keys()
    if as_json:
        emit_json(
            [
                {
                    "id": info.id,
                    "current": current,
                    "created": info.created,
                    "label": info.label,
                    "host": info.host,
                    "kdf": info.kdf,
                }
                for info, current in keys
            ]
        )
        return
    click.echo(f"  {'ID':<32}  {'CREATED':<25}  {'HOST':<16}  LABEL")
    for info, current in keys:
        mark = "*" if current else " "
        click.echo(f"{mark} {info.id:<32}  {info.created:<25}  {info.host:<16}  {info.label}")


@key_group.command("add")
@click.option("--label", default="", help="A note stored (encrypted) with the key.")
@pass_app
def key_add_cmd(app: AppContext, label: str) -> None:
    """Add a password: a new key object for the same master key."""
    key_id = app.manager().add_key(label)
    app.done(f"✓ Key {key_id} added")


@key_group.command("remove")
@click.argument("key_id")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before removing the key.")
@pass_app
def key_remove_cmd(app: AppContext, key_id: str, yes: bool) -> None:
    """Remove the key object KEY_ID (an id or unique prefix); never the last one."""
    confirm(f"Remove key {key_id}? Its password will no longer open the repository. Type yes", yes)
    removed = app.manager().remove_key(key_id)
    app.done(f"✓ Key {removed} removed")


@key_group.command("passwd")
@click.option("--label", default="", help="A note stored (encrypted) with the new key.")
@pass_app
def key_passwd_cmd(app: AppContext, label: str) -> None:
    """Change the password of the key that opens the repository (new key first, then the
    old one is removed)."""
    key_id = app.manager().change_password(label)
    app.done(f"✓ Password changed (key {key_id})")
