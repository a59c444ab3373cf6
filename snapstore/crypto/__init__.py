"""Encryption at rest (spec/encryption.md): keys, authenticated encryption, sealed objects.

Sits between the backend and the chunk store: ``unlock`` turns the backend of an encrypted
repository into an ``EncryptedBackend`` that seals and opens whole objects (index objects,
manifests, archive indexes, the config's sealed part) with associated data that binds each to
its kind and name, and carries the ``RepoCrypto`` that the chunk store uses for what must stay
readable by range (each chunk in a pack or archive, each pack's table of contents). An
unencrypted repository's backend is returned as it is, and ``PLAIN`` seals nothing.
"""
