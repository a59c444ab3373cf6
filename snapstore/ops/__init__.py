"""Use cases, one module each, over an open repository (see .notes/RESTRUCTURE.md and
spec/README.md): what ``SnapshotManager`` delegates to."""
