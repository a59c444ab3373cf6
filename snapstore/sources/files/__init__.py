"""The bulk-file source: capture (``capture``, ``walk``) and restore (``restore/``) side by side."""
