"""``snapstore ui``: serve the web view on 127.0.0.1 until Ctrl-C.

The server binds the loopback address only, picks a free port unless one is given, makes a
new random token for this run, and prints the address (with the token) on standard output.
It opens no browser by itself.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn

from snapstore.base.errors import InvalidInput
from snapstore.base.reporting import Reporter
from snapstore.manager import SnapshotManager
from snapstore.ui.app import build
from snapstore.ui.security import new_token

HOST = "127.0.0.1"


def _listen(port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise InvalidInput(f"--port {port} is not a TCP port (0-65535)")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as e:
        sock.close()
        raise InvalidInput(f"cannot listen on {HOST}:{port}: {e.strerror}") from None
    sock.listen(64)
    return sock


def serve(
    make_manager: Callable[[Reporter], SnapshotManager],
    port: int,
    announce: Callable[[str], None],
) -> None:
    """Serve until interrupted; ``announce`` gets the address to open (token included)."""
    sock = _listen(port)
    bound = sock.getsockname()[1]
    token = new_token()
    hosts = {f"{HOST}:{bound}", f"localhost:{bound}"}
    app = build(make_manager, token, hosts, bound)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    announce(f"http://{HOST}:{bound}/?token={token}")
    server.run(sockets=[sock])
