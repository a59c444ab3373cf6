"""key list / add / remove / passwd: an encrypted repository's key objects (spec/encryption.md).

Each runs under the exclusive lock, so two key changes never interleave; the repository is
opened (and its password asked) by ``Repository`` like for every other command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from snapstore.base.errors import InvalidInput
from snapstore.crypto import keyring
from snapstore.crypto.backend import EncryptedBackend
from snapstore.crypto.keys import KeyInfo
from snapstore.ops.repository import Repository


@contextmanager
def _encrypted(repo: Repository, operation: str, exclusive: bool) -> Iterator[EncryptedBackend]:
    with repo.locked(operation, exclusive=exclusive) as backend:
        if not isinstance(backend, EncryptedBackend):
            raise InvalidInput(
                f"the repository at {backend.location} is not encrypted: it has no keys"
            )
        yield backend


def list_keys(repo: Repository) -> list[tuple[KeyInfo, bool]]:
    with _encrypted(repo, "key list", exclusive=False) as backend:
        return keyring.list_keys(backend)


def add_key(repo: Repository, label: str) -> str:
    with _encrypted(repo, "key add", exclusive=True) as backend:
        password = repo.unlocker.passwords.new(backend.location, first=False)
        return keyring.add_key(backend, password, label)


def remove_key(repo: Repository, key: str) -> str:
    with _encrypted(repo, "key remove", exclusive=True) as backend:
        key_id = keyring.resolve(backend, key)
        keyring.remove_key(backend, key_id)
        return key_id


def change_password(repo: Repository, label: str) -> str:
    with _encrypted(repo, "key passwd", exclusive=True) as backend:
        password = repo.unlocker.passwords.new(backend.location, first=False)
        return keyring.change_password(backend, password, label)
