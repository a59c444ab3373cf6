"""AES-256-GCM with a random 96-bit nonce per message (spec/encryption.md, "Nonces").

A sealed message is ``nonce (12 bytes) | ciphertext | tag (16 bytes)``. The associated data
is never stored: the reader rebuilds it from where it found the message (kind, name, chunk
id), so a message moved elsewhere fails to open.
"""

from __future__ import annotations

import os

from snapstore.base.errors import CorruptData

NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = NONCE_SIZE + TAG_SIZE
KEY_SIZE = 32
NAME = "aes-256-gcm"


class Aead:
    """Seal and open messages under one 256-bit key; safe to share between threads."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError("an AES-256-GCM key is 32 bytes")
        # Imported here: commands on unencrypted repositories never load the library (about
        # 30 ms of every command's start-up, spec/cli.md "Start-up").
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._gcm = AESGCM(key)

    def seal(self, plaintext: bytes | memoryview, ad: bytes) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._gcm.encrypt(nonce, plaintext, ad)

    def open(self, sealed: bytes | memoryview, ad: bytes, what: str) -> bytes:
        """The plaintext, or CorruptData naming ``what`` when the message was altered,
        truncated, moved, or sealed under another key."""
        if len(sealed) < OVERHEAD:
            raise CorruptData(f"{what} is truncated (shorter than its authentication data)")
        from cryptography.exceptions import InvalidTag

        view = memoryview(sealed)
        try:
            return self._gcm.decrypt(view[:NONCE_SIZE], view[NONCE_SIZE:], ad)
        except InvalidTag:
            raise CorruptData(f"{what} fails authentication (altered, moved or replaced)") from None
