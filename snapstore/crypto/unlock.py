"""Opening and creating encrypted repositories (spec/encryption.md, "Opening").

``Unlocker.open(raw)`` reads the config object as stored: a plain one (no ``encryption``
field) means an unencrypted repository and ``raw`` is returned as it is; otherwise the
password is asked once, tried on the key objects, and the repository's ``EncryptedBackend`` is
returned. An unlocked repository is remembered by id for the life of the ``Unlocker`` (one
process, in memory only), so a command that opens the backend several times derives the
password's key once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from snapstore.backend import Backend, Kind
from snapstore.base.errors import CorruptData, ObjectNotFound, PasswordError, RepositoryError
from snapstore.crypto import keys as k
from snapstore.crypto.aead import NAME as AEAD_NAME
from snapstore.crypto.backend import EncryptedBackend
from snapstore.crypto.codec import RepoCrypto
from snapstore.crypto.passwords import PasswordSource

ENCRYPTED_VERSION = 2
ENCRYPTION = {"aead": AEAD_NAME, "kdf": "argon2id", "ids": "blake3-keyed", "names": "aes-siv"}


def stored_config(raw: Backend) -> dict[str, Any] | None:
    """The config object's JSON as stored; None when there is none, or no location yet (a
    bucket ``init`` will create), or it is not JSON: the store's config reader, or ``init``,
    then says what is wrong as for any repository."""
    try:
        doc = json.loads(raw.get(Kind.CONFIG, "config"))
    except (ObjectNotFound, NotADirectoryError, ValueError, RepositoryError):
        return None
    return doc if isinstance(doc, dict) else None


def outer_config(repo_id: str, created: str) -> dict[str, Any]:
    """The plaintext fields of an encrypted repository's config object."""
    return {
        "format": "snapstore-repository",
        "version": ENCRYPTED_VERSION,
        "id": repo_id,
        "created": created,
        "encryption": dict(ENCRYPTION),
    }


@dataclass
class Unlocker:
    """Opens repositories with the passwords of one process."""

    passwords: PasswordSource = field(default_factory=PasswordSource)
    _open: dict[str, RepoCrypto] = field(default_factory=dict, repr=False)

    def open(self, raw: Backend) -> Backend:
        doc = stored_config(raw)
        if doc is None:
            return raw
        if "encryption" not in doc:
            _refuse_downgrade(raw)
            return raw
        repo_id = str(doc.get("id"))
        if doc.get("encryption") != ENCRYPTION:
            raise RepositoryError(
                f"{raw.location} uses an encryption scheme this snapstore does not know: upgrade"
            )
        crypto = self._open.get(repo_id) or self._unlock(raw, repo_id)
        self._open[repo_id] = crypto
        outer = {key: v for key, v in doc.items() if key != "sealed"}
        return EncryptedBackend(raw, crypto, outer)

    def _unlock(self, raw: Backend, repo_id: str) -> RepoCrypto:
        names = sorted(o.name for o in raw.list(Kind.KEYS))
        if not names:
            raise RepositoryError(f"{raw.location}: the encrypted repository has no key objects")
        password = self.passwords.get(raw.location)
        for name in names:
            try:
                master = k.open_key_object(raw.get(Kind.KEYS, name), password, repo_id, name)
            except (CorruptData, ObjectNotFound):
                continue  # a damaged key object: another may open
            if master is not None:
                return RepoCrypto(master, repo_id, name)
        raise PasswordError(f"wrong password for the repository at {raw.location}")

    def initialize(
        self, raw: Backend, repo_id: str, created: str, kdf: k.KdfParams | None = None
    ) -> EncryptedBackend:
        """Make ``raw`` an encrypted repository's location: a master key, its first key
        object. The caller then writes the config through the returned backend (last: the
        location is a repository only once the config exists)."""
        password = self.passwords.new(raw.location, first=True)
        master = k.MasterKey.new()
        raw.create()
        key_id = k.new_key_id()
        kdf = (kdf or k.KdfParams()).fresh()
        data = k.seal_key_object(master, password, kdf, repo_id, key_id, "init")
        raw.put(Kind.KEYS, key_id, data, overwrite=False)
        crypto = RepoCrypto(master, repo_id, key_id)
        self._open[repo_id] = crypto
        return EncryptedBackend(raw, crypto, outer_config(repo_id, created))


def _refuse_downgrade(raw: Backend) -> None:
    """A plain config beside key objects: someone replaced an encrypted repository's config
    with a plain one, which would make us write plaintext into it."""
    if any(True for _ in raw.list(Kind.KEYS)):
        raise RepositoryError(
            f"{raw.location}: the config says unencrypted but the repository has key objects "
            "(the config object was replaced?): refusing to use it"
        )
