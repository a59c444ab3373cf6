"""The key objects of an unlocked repository: list, add, remove, change a password.

Every change puts the new key object before it deletes an old one, so a crash leaves at worst
one key too many, never none; and the last key object can never be removed (a repository
without one can never be opened again).
"""

from __future__ import annotations

from snapstore.backend import Kind
from snapstore.base.errors import CorruptData, InvalidInput, ObjectNotFound, RepositoryError
from snapstore.crypto import keys as k
from snapstore.crypto.backend import EncryptedBackend


def _ids(backend: EncryptedBackend) -> list[str]:
    return sorted(o.name for o in backend.inner.list(Kind.KEYS))


def list_keys(backend: EncryptedBackend) -> list[tuple[k.KeyInfo, bool]]:
    """Every key object's metadata, and whether it is the one that opened the repository.
    A key object sealed under another master key is listed as unreadable."""
    crypto = backend.crypto
    out = []
    for key_id in _ids(backend):
        try:
            data = backend.inner.get(Kind.KEYS, key_id)
            info = k.key_info(data, crypto.master, crypto.repo_id, key_id)
        except (CorruptData, ObjectNotFound, KeyError, TypeError, ValueError):
            info = k.KeyInfo(key_id, "", "(unreadable: damaged or not this repository's)", "", "")
        out.append((info, key_id == crypto.key_id))
    return out


def damaged_keys(backend: EncryptedBackend) -> list[str]:
    """One line for each key object that does not verify under the master key (its metadata
    is bound to the whole object: crypto/keys.py)."""
    crypto = backend.crypto
    out = []
    for key_id in _ids(backend):
        try:
            data = backend.inner.get(Kind.KEYS, key_id)
            k.key_info(data, crypto.master, crypto.repo_id, key_id)
        except ObjectNotFound:
            continue  # removed meanwhile (key remove)
        except (CorruptData, KeyError, TypeError, ValueError, RepositoryError):
            out.append(
                f"key object {key_id} is damaged or not this repository's (remove it with "
                "`snapstore key remove`; the other keys still open the repository)"
            )
    return out


def resolve(backend: EncryptedBackend, given: str) -> str:
    """The key id that ``given`` (a full id or a unique prefix) names."""
    matches = [key_id for key_id in _ids(backend) if key_id.startswith(given)]
    if not given or not matches:
        raise InvalidInput(f"no key {given!r} (see `snapstore key list`)")
    if len(matches) > 1:
        raise InvalidInput(f"{given!r} matches {len(matches)} keys; give more of the id")
    return matches[0]


def add_key(
    backend: EncryptedBackend, password: str, label: str, kdf: k.KdfParams | None = None
) -> str:
    crypto = backend.crypto
    key_id = k.new_key_id()
    data = k.seal_key_object(
        crypto.master, password, (kdf or k.KdfParams()).fresh(), crypto.repo_id, key_id, label
    )
    backend.inner.put(Kind.KEYS, key_id, data, overwrite=False)
    return key_id


def remove_key(backend: EncryptedBackend, key_id: str) -> None:
    ids = _ids(backend)
    if key_id not in ids:
        raise InvalidInput(f"no key {key_id!r}")
    if len(ids) == 1:
        raise RepositoryError(
            "refusing to remove the repository's last key: without one it can never be opened"
        )
    if key_id == backend.crypto.key_id:
        raise InvalidInput(
            "refusing to remove the key this command opened the repository with: open it "
            "with another key's password to remove this one"
        )
    backend.inner.delete(Kind.KEYS, key_id)


def change_password(backend: EncryptedBackend, password: str, label: str) -> str:
    """Replace the key object that opened the repository by one for ``password``: the new
    one is put first, then the old one deleted."""
    old = backend.crypto.key_id
    new = add_key(backend, password, label)
    if old is not None:
        backend.inner.delete(Kind.KEYS, old)
    backend.crypto.key_id = new
    return new
