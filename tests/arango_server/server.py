"""HTTP transport for the test server, plus fault injection and start/stop.

`TestArangoServer` runs `App` behind a `ThreadingHTTPServer` (HTTP/1.1 with
keep-alive, as python-arango's requests session expects).  For fault tests it
can:

* `fail_after(n, mode)`: answer `n` more matching requests normally, then
  fail every request until `heal()`: `mode="drop"` closes the connection
  without an answer, `mode="hang"` holds the request open without answering
  (until `heal()`, `stop()` or `hang_timeout` seconds), `mode="lose"` carries
  the request out and then closes the connection instead of answering (the
  answer is lost on the way back).  `path_pattern` and `method` restrict which
  requests count towards `n`; `times` fails only that many requests and then
  heals by itself.
* `stop()`: close the listening socket and every open connection
  (connections are then refused); `start()` listens again on the same port;
  `restart()` does both and, like a real restart, forgets cursors and stream
  transactions while keeping the data.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

from .app import App, Settings
from .routing import Response

FaultMode = Literal["drop", "hang", "lose"]


@dataclass
class _FaultPlan:
    remaining: int
    mode: FaultMode
    path_pattern: re.Pattern[str] | None
    method: str | None
    times: int | None = None  # failures left before the plan heals itself
    triggered: bool = False

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and method.upper() != self.method.upper():
            return False
        return self.path_pattern is None or self.path_pattern.search(path) is not None


class _Faults:
    """Decides, per incoming request, whether to answer it or to fail it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plan: _FaultPlan | None = None
        self.release = threading.Event()  # wakes hanging requests
        self.failed_requests = 0
        # (seconds, path pattern, method): answer matching requests that much later
        self._latency: tuple[float, re.Pattern[str] | None, str | None] | None = None

    def arm(self, plan: _FaultPlan) -> None:
        with self._lock:
            self.release.clear()
            self._plan = plan

    def set_latency(
        self, seconds: float, path_pattern: str | None = None, method: str | None = None
    ) -> None:
        pattern = re.compile(path_pattern) if path_pattern else None
        self._latency = (seconds, pattern, method.upper() if method else None) if seconds else None

    def latency_for(self, method: str, path: str) -> float:
        if self._latency is None:
            return 0.0
        seconds, pattern, want = self._latency
        if (want and method != want) or (pattern and not pattern.search(path)):
            return 0.0
        return seconds

    def heal(self) -> None:
        with self._lock:
            self._plan = None
            self._latency = None
            self.release.set()

    def decide(self, method: str, path: str) -> FaultMode | None:
        with self._lock:
            plan = self._plan
            if plan is None:
                return None
            if not plan.triggered and plan.matches(method, path):
                if plan.remaining > 0:
                    plan.remaining -= 1
                    return None
                plan.triggered = True
            if plan.triggered:
                self.failed_requests += 1
                if plan.times is not None:
                    plan.times -= 1
                    if plan.times <= 0:
                        self._plan = None
                return plan.mode
            return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # restart on the same port despite TIME_WAIT

    def __init__(self, address: tuple[str, int], owner: TestArangoServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # Connections cut by stop() or by fault injection are expected here.
        if self.owner.verbose:
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY, small keep-alive answers stall ~40 ms on delayed ACKs.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        if self.server.owner.verbose:
            super().log_message(format, *args)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "gzip":
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        return body

    def _fail(self, mode: FaultMode) -> None:
        owner = self.server.owner
        if mode == "hang":
            owner.faults.release.wait(owner.hang_timeout)
        # Close without an answer: the client sees the connection drop.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, response: Response) -> None:
        payload = b""
        if response.body is not None:
            payload = json.dumps(response.body, ensure_ascii=False, separators=(",", ":")).encode()
        self.send_response(response.status)
        if response.body is not None or self.command != "HEAD":
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Server", "ArangoDB")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _dispatch(self) -> None:
        owner = self.server.owner
        body = self._read_body()
        mode = owner.faults.decide(self.command, self.path)
        delay = owner.faults.latency_for(self.command, self.path)
        if delay:
            time.sleep(delay)
        if mode in ("drop", "hang"):
            self._fail(mode)
            return
        response = owner.app.handle(self.command, self.path, dict(self.headers.items()), body)
        if mode == "lose":
            self._fail("drop")
            return
        self._send(response)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class TestArangoServer:
    """The test server: an `App` served over HTTP on one host and port."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "root",
        password: str = "",
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.verbose = verbose
        self.hang_timeout = 60.0
        self.app = App(username, password)
        self.faults = _Faults()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> TestArangoServer:
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"arango-test-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (clients see errors)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.faults.release.set()
        httpd.shutdown()
        httpd.server_close()
        with httpd.connections_lock:
            connections = list(httpd.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def restart(self, keep_volatile: bool = False) -> None:
        """Stop and start on the same port; cursors and transactions are lost."""
        self.stop()
        if not keep_volatile:
            self.app.reset()
        self.faults.heal()
        self.start()

    def __enter__(self) -> TestArangoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- fault injection --------------------------------------------------------

    def fail_after(
        self,
        requests: int,
        mode: FaultMode = "drop",
        path_pattern: str | None = None,
        method: str | None = None,
        times: int | None = None,
    ) -> None:
        """Answer `requests` more (matching) requests, then fail all until heal()
        (or only `times` of them)."""
        pattern = re.compile(path_pattern) if path_pattern else None
        self.faults.arm(_FaultPlan(requests, mode, pattern, method, times))

    def heal(self) -> None:
        """Cancel fault injection (latency too) and release hanging requests."""
        self.faults.heal()

    def set_latency(
        self, seconds: float, path_pattern: str | None = None, method: str | None = None
    ) -> None:
        """Answer every matching request ``seconds`` late (0 turns it off): a slow server or
        a long network, so that a test can interrupt an operation half-way."""
        self.faults.set_latency(seconds, path_pattern, method)
