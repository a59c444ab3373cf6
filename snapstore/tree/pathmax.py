"""The longest path the system takes, and the one-line refusal of a deeper one.

snapstore reads and writes bulk trees by absolute path, so every path under a bulk root (or
under a restore or export target) must fit in ``PATH_MAX`` bytes (4096 on Linux, the
terminating NUL included). A tree deeper than that is refused with one line naming the
start and end of the path, before anything is changed (spec/restore.md, "Path length").
"""

from __future__ import annotations

import os

PATH_MAX = 4096  # Linux's limit for one path handed to a system call, its NUL included
# What a restore's staging name adds to a path beside the target: ``.`` + ``.snapstore-
# staging-`` + ``<pid>-<8 hex>`` (spec/restore.md), with room to spare. create refuses paths
# that would not fit once it is added, so a snapshot it takes can always be restored in place.
STAGING_ROOM = 40


def fits(path: bytes | str, room: int = 0) -> bool:
    """Whether ``path`` can be handed to a system call (with ``room`` bytes more)."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    return len(raw) + room < PATH_MAX


def shorten(path: bytes | str, keep: int = 40) -> str:
    """``path`` for a message: its start and end, with how many bytes it has."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    if len(raw) <= 2 * keep + 5:
        return os.fsdecode(raw)
    return f"{os.fsdecode(raw[:keep])}...{os.fsdecode(raw[-keep:])} ({len(raw)} bytes)"


def too_long(path: bytes | str, what: str) -> str:
    """The refusal of ``path``: ``what`` says what could not be done (``cannot snapshot``)."""
    return (
        f"{what} {shorten(path)}: the path is longer than this system allows "
        f"(PATH_MAX, {PATH_MAX} bytes)"
    )
