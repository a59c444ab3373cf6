"""Sources: the live systems snapshots are taken of (the bulk file tree, the database)."""
