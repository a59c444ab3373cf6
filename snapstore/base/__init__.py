"""The base layer: errors, snapshot naming, progress reporting, the retention policy and git
facts; it imports nothing else of snapstore."""
