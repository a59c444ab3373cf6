"""Operations that read snapshots without changing anything: diff, live diff, the read-only tree
view and the FUSE mount."""
