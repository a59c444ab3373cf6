"""Every error snapstore raises on purpose, each with the exit code the CLI maps it to.

The CLI prints ``error: <message>`` on one line and exits with ``exit_code``; anything that is
not a :class:`SnapstoreError` is a bug (or an OS error the CLI translates: ``snapstore.cli.main``).
"""

from __future__ import annotations


class SnapstoreError(Exception):
    """Base class: a failure with a message fit to show a user on one line."""

    exit_code = 1


class InvalidInput(SnapstoreError):
    """The user asked for something that cannot be done as asked (bad flag mix, bad name)."""

    exit_code = 2


class ConfigError(InvalidInput):
    """The configuration file, environment or flags do not make a valid configuration."""


class SnapshotNotFound(InvalidInput):
    """No snapshot has the given name (or name prefix)."""


class AmbiguousSnapshot(InvalidInput):
    """A name prefix matches more than one snapshot."""


class RepositoryError(SnapstoreError):
    """The repository is missing, not a repository, or of a format we cannot read."""


class ObjectNotFound(SnapstoreError):
    """A named object is missing from the backend."""


class ObjectExists(SnapstoreError):
    """A create-only put found an object of that name already there."""


class CorruptData(SnapstoreError):
    """Stored data does not match its id or cannot be decoded; the message names what."""


class MissingChunk(CorruptData):
    """A manifest references a chunk that no index knows."""


class PasswordError(SnapstoreError):
    """An encrypted repository's password is wrong or cannot be had (spec/encryption.md)."""


class LockHeld(SnapstoreError):
    """Another operation holds a conflicting lock on the repository."""

    exit_code = 75  # EX_TEMPFAIL: trying again later may work


class SourceError(SnapstoreError):
    """A live source (bulk tree, database) cannot be read or written."""


class DatabaseError(SourceError):
    """The database is unreachable, refuses us, or answered in a way we cannot use."""


class NotConfirmed(SnapstoreError):
    """A destructive operation was not confirmed."""


class PartialSnapshot(SnapstoreError):
    """The snapshot was created but some files could not be read (restic's exit code 3)."""

    exit_code = 3


class PathNotFound(InvalidInput):
    """A path asked for inside a snapshot is not in it."""


class Interrupted(SnapstoreError):
    """Ctrl-C (or a cancel) stopped an operation; the message says what state it left."""

    exit_code = 130


class DatabaseRestoreStopped(SnapstoreError):
    """A database restore stopped half-way (failed, or interrupted with ``interrupted``).

    ``step`` is what it was doing; ``changed`` whether it had changed the database yet;
    ``incomplete`` the collections it left dropped, empty or partly loaded.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        step: str,
        changed: bool,
        incomplete: list[str],
        interrupted: bool,
        summary: str = "",
    ) -> None:
        super().__init__(message)
        self.summary = summary  # what it had done ("fully loaded: a; partly loaded: b")
        self.reason = reason  # "was interrupted" or "failed: <why>"
        self.step = step
        self.changed = changed
        self.incomplete = incomplete
        self.interrupted = interrupted
        self.exit_code = 130 if interrupted else 1


class DeleteRefused(RepositoryError):
    """The storage refused to delete or replace an object: the credentials have no delete
    rights (an append-only repository, spec/backends.md "Append-only storage").
    ``operation``: the command that needed them, once known."""

    def __init__(self, message: str, operation: str = "") -> None:
        super().__init__(message)
        self.operation = operation
