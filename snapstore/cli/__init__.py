"""The click front end: parse, confirm, call SnapshotManager, render. No storage logic here."""
