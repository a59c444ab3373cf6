"""An ArangoDB-REST-compatible server for tests (test equipment, never used by the product).

It speaks enough of ArangoDB 3.12's HTTP API, response shapes and error
numbers for python-arango to work against it unmodified; see README.md for
what it supports and what it does not.

    from tests.arango_server import TestArangoServer

    with TestArangoServer(password="pw") as server:
        ...  # ArangoClient(hosts=server.url)
"""

from .app import App, Settings
from .server import TestArangoServer

__all__ = ["App", "Settings", "TestArangoServer"]
