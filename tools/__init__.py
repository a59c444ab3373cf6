"""The seed's entry points (``python -m tools.backup.cli``), kept so old command lines work."""
