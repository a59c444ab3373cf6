"""Run the test server standalone: `python -m tests.arango_server --port 8529`."""

from __future__ import annotations

import argparse
import threading

from .server import TestArangoServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.arango_server",
        description="ArangoDB-compatible TEST server (in memory; not a real ArangoDB).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8529)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    server = TestArangoServer(args.host, args.port, args.user, args.password, args.verbose)
    server.start()
    print(
        f"snapstore TEST ArangoDB server (in memory, not a real ArangoDB) listening on "
        f"{server.url} (user {args.user!r}); press Ctrl-C to stop",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
