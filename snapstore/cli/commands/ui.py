"""ui: the local web view (timeline, snapshots, diffs, safe restores)."""

from __future__ import annotations

import click

from snapstore.base.errors import SnapstoreError
from snapstore.base.reporting import Reporter
from snapstore.cli.context import AppContext, pass_app
from snapstore.manager import SnapshotManager


@click.command("ui")
@click.option("--port", type=int, default=0, show_default=True, help="TCP port (0: any free one).")
@pass_app
def ui_cmd(app: AppContext, port: int) -> None:
    """Serve a web view of the repository on 127.0.0.1 until Ctrl-C.

    It prints an address holding a random token, which every request must carry; it opens
    no browser and answers no other host.

    \b
    Example:
      snapstore ui --port 8765
    """
    try:
        from snapstore.ui.server import serve
    except ImportError as e:
        raise SnapstoreError(
            f"the web view needs its extra packages ({e.name}): pip install 'snapstore[ui]'"
        ) from None
    settings = app.settings
    app.manager()  # bad settings fail here, before the server starts

    def make(reporter: Reporter) -> SnapshotManager:
        return SnapshotManager(settings, reporter=reporter)

    def announce(url: str) -> None:
        click.echo(f"snapstore web view: {url}", err=False)
        click.echo("Ctrl-C stops it.", err=True)

    serve(make, port, announce)
