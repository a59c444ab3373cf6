"""The master key, the keys derived from it, and key objects (spec/encryption.md, "Keys").

A repository has one random master key. Each key object in the ``keys`` kind holds it sealed
under a key derived from one password with Argon2id, whose parameters and salt the object
carries; any one password opens the repository, and adding or removing a password rewrites
no other object. Key objects have one fixed size whatever their label (the metadata is padded
and sealed under the master key), so their sizes say nothing about who made them.
"""

from __future__ import annotations

import os
import secrets
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import blake3
import msgpack

from snapstore.base.errors import CorruptData, RepositoryError
from snapstore.crypto.aead import NAME as AEAD_NAME
from snapstore.crypto.aead import Aead

MASTER_SIZE = 64
SALT_SIZE = 16
KEY_OBJECT_VERSION = 1
META_SIZE = 256  # padded metadata: every key object has the same size
# Purposes of the derived keys; a new purpose is a new context string, never a reuse.
_CONTEXTS = {
    "aead": "snapstore 2026-12-08 object and chunk encryption",
    "ids": "snapstore 2026-12-08 chunk ids",
    "names": "snapstore 2026-12-08 snapshot object names",
    "chunker": "snapstore 2026-12-08 chunker seed",
}


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters. The default is OWASP's first recommendation (46 MiB, 1 pass, 1
    lane: 0.07 s on the benchmark machine): every command derives the key once, and RFC
    9106's 64 MiB and 3 passes (0.36 s) alone would cost an unchanged re-snapshot a quarter
    of its time (spec/encryption.md, "Key objects")."""

    memory_kib: int = 46 * 1024
    iterations: int = 1
    lanes: int = 1
    salt: bytes = field(default_factory=lambda: os.urandom(SALT_SIZE), repr=False)

    def __post_init__(self) -> None:
        if not (8 * self.lanes <= self.memory_kib <= 4 * 1024 * 1024):
            raise RepositoryError("Argon2id memory must be 8 KiB per lane up to 4 GiB")
        if not (1 <= self.iterations <= 64 and 1 <= self.lanes <= 64):
            raise RepositoryError("Argon2id iterations and lanes must be between 1 and 64")

    def fresh(self) -> KdfParams:
        """The same cost with a new salt (every key object has its own)."""
        return KdfParams(self.memory_kib, self.iterations, self.lanes)

    def derive(self, password: str) -> bytes:
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id  # as in aead.py

        kdf = Argon2id(
            salt=self.salt,
            length=32,
            iterations=self.iterations,
            lanes=self.lanes,
            memory_cost=self.memory_kib,
        )
        return kdf.derive(password.encode("utf-8"))

    def as_map(self) -> dict[str, Any]:
        # The costs as three fixed-width integers, so that key objects of different costs
        # still have one size (spec/encryption.md, "Key objects").
        cost = struct.pack("<III", self.memory_kib, self.iterations, self.lanes)
        return {"algorithm": "argon2id", "cost": cost, "salt": self.salt}

    @classmethod
    def from_map(cls, d: Any) -> KdfParams:
        if not isinstance(d, dict) or d.get("algorithm") != "argon2id":
            raise CorruptData("key object names an unknown key derivation function")
        memory, iterations, lanes = struct.unpack("<III", bytes(d["cost"]))
        return cls(memory, iterations, lanes, bytes(d["salt"]))


@dataclass(frozen=True)
class MasterKey:
    """The repository's secret; every working key is derived from it (BLAKE3 derive_key)."""

    material: bytes = field(repr=False)

    @classmethod
    def new(cls) -> MasterKey:
        return cls(secrets.token_bytes(MASTER_SIZE))

    def derive(self, purpose: str, length: int = 32) -> bytes:
        h = blake3.blake3(self.material, derive_key_context=_CONTEXTS[purpose])
        return h.digest(length=length)

    def chunker_seed(self) -> int:
        """FastCDC's gear seed: 62 random bits (pyfastcdc's compiled chunker shifts the seed
        left by one in an unsigned 64-bit integer, and rejects larger values), made odd so it
        is never 0 (which pyfastcdc takes for "the reference table")."""
        return (int.from_bytes(self.derive("chunker", 8), "little") & ((1 << 62) - 1)) | 1


@dataclass(frozen=True)
class KeyInfo:
    """What ``key list`` shows of a key object (from its sealed metadata)."""

    id: str
    created: str
    label: str
    host: str
    kdf: str


def _key_ad(repo_id: str, key_id: str, part: str) -> bytes:
    return f"snapstore\0{repo_id}\0keys\0{key_id}\0{part}".encode()


def _meta_ad(repo_id: str, key_id: str, rest: dict[str, Any]) -> bytes:
    """The metadata is bound to the rest of its key object (version, KDF parameters, AEAD,
    sealed master key), so whoever holds the master key can verify every key object whole
    (``check``), even one whose password it does not know."""
    encoded = msgpack.packb(rest, use_bin_type=True)
    return _key_ad(repo_id, key_id, "meta") + blake3.blake3(encoded).digest()


def new_key_id() -> str:
    return secrets.token_hex(16)


def seal_key_object(
    master: MasterKey, password: str, kdf: KdfParams, repo_id: str, key_id: str, label: str
) -> bytes:
    """A key object: the master key sealed under the password's key, plus padded metadata
    sealed under the master key."""
    wrapping = Aead(kdf.derive(password))
    meta = msgpack.packb(
        {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "label": label[:100],
            "host": os.uname().nodename[:60],
        },
        use_bin_type=True,
    )
    if len(meta) > META_SIZE - 2:
        raise RepositoryError("key label too long")
    meta = len(meta).to_bytes(2, "little") + meta + b"\0" * (META_SIZE - 2 - len(meta))
    doc: dict[str, Any] = {
        "version": KEY_OBJECT_VERSION,
        "kdf": kdf.as_map(),
        "aead": AEAD_NAME,
        "master": wrapping.seal(master.material, _key_ad(repo_id, key_id, "master")),
    }
    doc["meta"] = Aead(master.derive("aead")).seal(meta, _meta_ad(repo_id, key_id, doc))
    out: bytes = msgpack.packb(doc, use_bin_type=True)
    return out


def _decode(data: bytes, key_id: str) -> dict[str, Any]:
    try:
        doc = msgpack.unpackb(data, raw=False)
    except Exception:
        raise CorruptData(f"key object {key_id} is damaged (not msgpack)") from None
    if not isinstance(doc, dict) or doc.get("aead") != AEAD_NAME:
        raise CorruptData(f"key object {key_id} is damaged or of an unknown kind")
    if doc.get("version", 0) > KEY_OBJECT_VERSION:
        raise RepositoryError(f"key object {key_id} is of a newer format: upgrade snapstore")
    return doc


def open_key_object(data: bytes, password: str, repo_id: str, key_id: str) -> MasterKey | None:
    """The master key if ``password`` opens this key object, else None."""
    doc = _decode(data, key_id)
    try:
        kdf = KdfParams.from_map(doc["kdf"])
        sealed = bytes(doc["master"])
    except (KeyError, TypeError, ValueError, struct.error, RepositoryError):
        raise CorruptData(f"key object {key_id} is damaged") from None
    try:
        material = Aead(kdf.derive(password)).open(
            sealed, _key_ad(repo_id, key_id, "master"), f"key {key_id}"
        )
    except CorruptData:
        return None
    if len(material) != MASTER_SIZE:
        raise CorruptData(f"key object {key_id} is damaged")
    return MasterKey(material)


def key_info(data: bytes, master: MasterKey, repo_id: str, key_id: str) -> KeyInfo:
    doc = _decode(data, key_id)
    if msgpack.packb(doc, use_bin_type=True) != data:  # one encoding only: no byte is free
        raise CorruptData(f"key object {key_id} is not in its canonical form (altered)")
    kdf = KdfParams.from_map(doc["kdf"])
    rest = {key: value for key, value in doc.items() if key != "meta"}
    ad = _meta_ad(repo_id, key_id, rest)
    raw = Aead(master.derive("aead")).open(bytes(doc["meta"]), ad, f"key object {key_id}")
    meta = msgpack.unpackb(raw[2 : 2 + int.from_bytes(raw[:2], "little")], raw=False)
    return KeyInfo(
        key_id,
        str(meta.get("created", "")),
        str(meta.get("label", "")),
        str(meta.get("host", "")),
        f"argon2id m={kdf.memory_kib // 1024}MiB t={kdf.iterations} p={kdf.lanes}",
    )
