"""The repository's ``config`` object: format version, id and the parameters that never change.

Chunker parameters are fixed at ``init`` because changing them would make every new chunk
boundary differ from the old ones and end deduplication against existing snapshots.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Literal

from snapstore.backend import Backend, Kind
from snapstore.base.errors import CorruptData, ObjectNotFound, RepositoryError

FORMAT_NAME = "snapstore-repository"
FORMAT_VERSION = 1  # what an unencrypted repository says (and always will)
ENCRYPTED_FORMAT_VERSION = 2  # an encrypted one (spec/encryption.md); readers know both

# The form `init` writes (secrets.token_hex(16)). The id names the repository's folder in the
# local cache (spec/packs.md, "Index cache"), so anything else (`../`, `/`, empty) could put
# cache files and restore records outside the cache root: such a config is damaged.
REPO_ID = re.compile(r"[0-9a-f]{32}")


def valid_repo_id(repo_id: object) -> bool:
    return isinstance(repo_id, str) and REPO_ID.fullmatch(repo_id) is not None


@dataclass(frozen=True)
class ChunkerParams:
    """FastCDC 2020 parameters, passed to pyfastcdc as they are."""

    algorithm: str = "fastcdc-2020"
    min_size: int = 256 * 1024
    avg_size: int = 1024 * 1024
    max_size: int = 8 * 1024 * 1024
    normalization: Literal[0, 1, 2, 3] = 1  # FastCDC's normalisation levels
    seed: int = 0

    def __post_init__(self) -> None:
        if self.algorithm != "fastcdc-2020":
            raise RepositoryError(f"unknown chunker algorithm {self.algorithm!r}")
        if not 64 <= self.min_size <= self.avg_size <= self.max_size:
            raise RepositoryError("chunker sizes must satisfy 64 <= min <= avg <= max")


@dataclass(frozen=True)
class RepoConfig:
    """Contents of the ``config`` object (JSON, so a person can read it)."""

    id: str = field(default_factory=lambda: secrets.token_hex(16))
    version: int = FORMAT_VERSION
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    chunker: ChunkerParams = field(default_factory=ChunkerParams)
    hash: str = "blake3-256"
    compression: str = "lz4-block"
    pack_size: int = 8 * 1024 * 1024
    # None: unencrypted; else the AEAD of an encrypted repository, whose config object as
    # stored is sealed and this is its inner, decrypted form (spec/encryption.md).
    encryption: str | None = None

    def __post_init__(self) -> None:
        if not valid_repo_id(self.id):
            raise RepositoryError(f"repository id {self.id!r} is not 32 lower-case hex digits")

    @property
    def encrypted(self) -> bool:
        return self.encryption is not None

    def encode(self) -> bytes:
        d = {"format": FORMAT_NAME, **asdict(self)}
        if self.encryption is None:
            del d["encryption"]  # an unencrypted config reads exactly as it always did
        return (json.dumps(d, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def decode(cls, data: bytes, where: str) -> RepoConfig:
        try:
            d = json.loads(data)
        except ValueError as e:
            raise CorruptData(f"{where}: config is not valid JSON ({e})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT_NAME:
            raise RepositoryError(f"{where} is not a snapstore repository (bad config object)")
        version = d.get("version")
        if not isinstance(version, int) or version > ENCRYPTED_FORMAT_VERSION:
            raise RepositoryError(
                f"{where} uses repository format version {version}; this snapstore reads "
                f"version {ENCRYPTED_FORMAT_VERSION} and older: upgrade snapstore"
            )
        if "sealed" in d:
            raise RepositoryError(f"{where} is an encrypted repository: it needs its password")
        encryption = d.get("encryption")
        if (version == ENCRYPTED_FORMAT_VERSION) != isinstance(encryption, str):
            raise CorruptData(f"{where}: config version and encryption disagree (damaged)")
        if d.get("hash") != "blake3-256" or d.get("compression") != "lz4-block":
            raise RepositoryError(f"{where}: unsupported hash or compression in config")
        if not valid_repo_id(d.get("id")):
            raise CorruptData(
                f"{where}: the repository config is damaged: its id {d.get('id')!r} is not the "
                "32 lower-case hex digits `snapstore init` writes (restore the config object "
                "from a copy of the repository)"
            )
        try:
            return cls(
                id=str(d["id"]),
                version=version,
                created=str(d["created"]),
                chunker=ChunkerParams(**d["chunker"]),
                hash=d["hash"],
                compression=d["compression"],
                pack_size=int(d["pack_size"]),
                encryption=encryption,
            )
        except (KeyError, TypeError) as e:
            raise CorruptData(f"{where}: config is incomplete ({e})") from None


def read_config(backend: Backend) -> RepoConfig:
    """Load the config, with a clear error when the location holds no repository."""
    try:
        data = backend.get(Kind.CONFIG, "config")
    except (ObjectNotFound, NotADirectoryError):
        raise RepositoryError(
            f"{backend.location} is not a snapstore repository (no config object); "
            "create one with `snapstore init`"
        ) from None
    return RepoConfig.decode(data, backend.location)


def write_config(backend: Backend, config: RepoConfig) -> None:
    """Create the repository: prepare the location and publish the config (create-only)."""
    backend.create()
    backend.put(Kind.CONFIG, "config", config.encode(), overwrite=False)
