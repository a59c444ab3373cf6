"""Shell completion of snapshot names (click's completion: ``_SNAPSTORE_COMPLETE``).

Completion runs before any command, so it reads the settings itself (``--repo`` and
``--config`` if already typed, else the environment and config files, as a command would)
and lists the repository's snapshot names. Any problem means no suggestions, never an error
in the user's shell.
"""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem

from snapstore.base.errors import SnapstoreError


def complete_snapshot(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    # Imported here: completion is the only user of these in a command's module's imports.
    from snapstore.config.settings import load_settings
    from snapstore.manager import SnapshotManager

    root = ctx.find_root().params
    overrides = {"repository": root.get("repo")} if root.get("repo") else {}
    try:
        settings = load_settings(root.get("config_file"), overrides)
        names = SnapshotManager(settings).snapshot_names()
    except (SnapstoreError, OSError, ValueError):
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]
