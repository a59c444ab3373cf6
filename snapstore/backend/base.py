"""The storage contract: put / get / stat / list / delete of named objects in a few kinds.

Everything above this layer works unchanged whatever the backend is, so the contract is
deliberately small and object-store shaped: no directories, no renames, no appends. A ``put``
is atomic (readers see the whole object or nothing) and durable when it returns.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """The kinds of object a repository holds; each kind is a flat namespace of names."""

    CONFIG = "config"
    PACKS = "packs"
    INDEX = "index"
    SNAPSHOTS = "snapshots"
    ARCHIVES = "archives"
    LOCKS = "locks"
    KEYS = "keys"  # an encrypted repository's key objects (spec/encryption.md)


@dataclass(frozen=True)
class ObjectInfo:
    """What ``stat`` and ``list`` know about an object."""

    name: str
    size: int
    mtime: float


# Names become file names and S3 keys: no separators, no hidden or relative names.
_NAME = re.compile(r"^[^/\\\x00.][^/\\\x00]{0,254}$")


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid object name, else raise ValueError."""
    if not _NAME.match(name):
        raise ValueError(f"invalid object name {name!r}")
    return name


class Backend(ABC):
    """A place that stores immutable named objects (and a few small mutable ones)."""

    location: str

    @abstractmethod
    def exists(self) -> bool:
        """Whether the repository location holds a repository config object."""

    @abstractmethod
    def create(self) -> None:
        """Prepare an empty location for a new repository (idempotent)."""

    @abstractmethod
    def put(self, kind: Kind, name: str, data: bytes, *, overwrite: bool = True) -> None:
        """Store ``data`` atomically and durably; with ``overwrite=False`` raise ObjectExists
        instead of replacing an existing object."""

    def spool_dir(self) -> str | None:
        """A directory where a file handed to ``put_file`` can be published without a copy
        (None: anywhere will do, the file is read and uploaded)."""
        return None

    def put_file(self, kind: Kind, name: str, path: str, *, overwrite: bool = True) -> None:
        """Store the content of the local file ``path`` like ``put`` (atomic, durable), then
        remove the file. For objects too big to hold in memory; this default reads it whole."""
        with open(path, "rb") as f:
            data = f.read()
        self.put(kind, name, data, overwrite=overwrite)
        os.unlink(path)

    @abstractmethod
    def get(self, kind: Kind, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Return the object's bytes (or ``length`` bytes from ``offset``); ObjectNotFound."""

    @abstractmethod
    def stat(self, kind: Kind, name: str) -> ObjectInfo:
        """Return size and modification time; ObjectNotFound if missing."""

    @abstractmethod
    def list(self, kind: Kind) -> Iterator[ObjectInfo]:
        """Yield every object of ``kind`` (in no particular order)."""

    @abstractmethod
    def delete(self, kind: Kind, name: str) -> None:
        """Remove the object; removing a missing object is not an error."""

    def clean_tmp(self, older_than: float) -> int:
        """Remove what interrupted writes left in the backend's spool, if it has one, that is
        older than ``older_than`` seconds; return how many objects went. Called only under
        the exclusive lock (spec/backends.md). The default has no spool."""
        return 0

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default has nothing to release."""
