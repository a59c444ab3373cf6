"""Snapshot manifests: the msgpack schema, the file listings they point to, and their storage."""

from snapstore.manifest.catalog import Catalog
from snapstore.manifest.listing import FileEntry
from snapstore.manifest.schema import MANIFEST_VERSION, BulkRoot, Manifest

__all__ = ["MANIFEST_VERSION", "BulkRoot", "Catalog", "FileEntry", "Manifest"]
