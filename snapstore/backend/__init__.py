"""Named-object storage: the only layer that touches the disk or the network.

``open_backend(location)`` picks the implementation from the location: a plain path is a local
directory; ``s3://bucket/prefix`` is an S3-compatible object store.
"""

from __future__ import annotations

from snapstore.backend.base import Backend, Kind, ObjectInfo


def open_backend(location: str) -> Backend:
    """Return the backend for ``location`` (a directory path or an ``s3://`` URL)."""
    if location.startswith("s3://"):
        from snapstore.backend.s3 import S3Backend

        return S3Backend.from_url(location)
    from snapstore.backend.local import LocalBackend

    return LocalBackend(location)


__all__ = ["Backend", "Kind", "ObjectInfo", "open_backend"]
