"""``from tools.backup import SnapshotManager`` as in the seed."""

from snapstore.manager import SnapshotManager

__all__ = ["SnapshotManager"]
