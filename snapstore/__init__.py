"""snapstore: deduplicating snapshots of an ArangoDB database and a tree of experiment files.

The public entry point is :class:`snapstore.manager.SnapshotManager`; the layers below it are
described in ``spec/README.md``.
"""

__version__ = "0.1.0"
