"""Named-object storage: the only layer that touches the disk or the network.

``open_backend(location)`` picks the implementation from the location: a plain path is a local
directory; ``s3://bucket/prefix`` is an S3-compatible object store. boto3 is imported only for
an S3 location, so a local repository works without the ``[s3]`` extra installed.
"""

from __future__ import annotations

from dataclasses import dataclass

from snapstore.backend.base import Backend, Kind, ObjectInfo
from snapstore.base.errors import ConfigError


@dataclass(frozen=True)
class S3Options:
    """S3 settings from the TOML ``[s3]`` table; None: the environment's value or the default
    (spec/backends.md, "Pointing snapstore at S3")."""

    endpoint: str | None = None
    region: str | None = None
    max_attempts: int | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None


def open_backend(
    location: str, *, group_access: bool = False, s3: S3Options | None = None
) -> Backend:
    """Return the backend for ``location`` (a directory path or an ``s3://`` URL).

    ``group_access`` makes a local repository's new files and folders group-readable (and its
    folders group-writable and setgid); S3 has no file modes and ignores it.
    """
    if location.startswith("s3://"):
        try:
            from snapstore.backend.s3 import S3Backend
        except ImportError as e:
            raise ConfigError(
                f"an s3:// repository needs boto3 ({e.name or e} is not installed): "
                "pip install 'snapstore[s3]'"
            ) from None
        return S3Backend.from_url(location, options=s3)
    from snapstore.backend.local import LocalBackend

    return LocalBackend(location, group_access=group_access)


__all__ = ["Backend", "Kind", "ObjectInfo", "S3Options", "open_backend"]
