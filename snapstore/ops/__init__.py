"""Use cases, one module each, over an open repository (see the layers in
spec/README.md): what ``SnapshotManager`` delegates to."""
