"""Downloads from the web view hold the repository's shared lock only while they run
(spec/browse.md, "ui"; spec/locking.md): a client that goes away mid-file lets go of it."""

from __future__ import annotations

import os
import socket

from tests.helpers import Workspace, created_name, ok
from tests.ui.conftest import get, repository_locks, start_ui, wait_until

SIZE = 32 << 20  # far more than the socket buffers between server and client hold


def test_an_aborted_download_releases_the_lock(ws: Workspace) -> None:
    """``curl .../raw?path=big | head -c 1000000``: the client reads 1 MB of a large file
    and disconnects; the lock goes with it, and ``pin`` works again."""
    (ws.bulk / "big.bin").write_bytes(os.urandom(SIZE))
    name = created_name(ok(ws.run("create", "big", "--no-db")).stdout)
    with start_ui(ws) as server:
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A small window (set before connecting), so that the server cannot have written
        # the whole file into buffers by the time the client leaves.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)
        client.connect(("127.0.0.1", server.port))
        client.sendall(
            f"GET /s/{name}/raw?path=big.bin HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Cookie: snapstore_token_{server.port}={server.token}\r\n\r\n".encode()
        )
        received = b""
        while len(received) < 1_000_000:
            piece = client.recv(65536)
            assert piece, "the server closed the download early"
            received += piece
        assert received.startswith(b"HTTP/1.1 200")
        # Under way: the download holds its shared lock, so an exclusive operation waits.
        assert len(repository_locks(ws)) == 1
        assert ws.run("pin", name).returncode == 75

        client.close()  # with unread data: the client is gone
        wait_until(lambda: not repository_locks(ws), "released after the client left")
        ok(ws.run("pin", name))
        assert get(server, f"/s/{name}").status == 200  # the server carries on
        assert "Traceback" not in server.errors()
