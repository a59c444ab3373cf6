"""Repository locks as small objects in the backend (spec/locking.md).

Shared locks (create, restore) coexist; an exclusive lock (delete, cleanup, gc) excludes
everything. A process puts its lock object, then lists the locks again: if a conflicting lock
appeared meanwhile it takes its own back and retries after a random pause, so two racing
processes cannot both believe they hold an exclusive lock. A background thread refreshes the
lock so that a live holder never looks stale.

A lock is stale when its process is dead on this host (certain: such locks are ignored, with
a warning) or when it has not been refreshed for ``stale_after`` seconds (uncertain: such locks
still block, and ``snapstore unlock`` removes them on request). A lock object whose content
cannot be read (damaged bytes; puts are atomic, so never a half-written one) is treated as an
exclusive lock of unknown holder: it blocks everything until ``snapstore unlock`` removes it,
because ignoring it could let a gc run beside the live process that owns it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from snapstore.backend import Backend, Kind
from snapstore.base.errors import InvalidInput, LockHeld, ObjectNotFound

STALE_AFTER = 30 * 60.0
REFRESH_EVERY = 5 * 60.0


@dataclass(frozen=True)
class LockInfo:
    """The content of one lock object."""

    name: str
    operation: str
    exclusive: bool
    host: str
    pid: int
    created: float
    refreshed: float
    damaged: str | None = None  # why the object could not be read; then the rest is unknown

    @classmethod
    def unreadable(cls, name: str, why: str) -> LockInfo:
        """A damaged lock object: exclusive (it blocks everything) until it is removed."""
        return cls(name, "unknown", True, "", -1, 0.0, 0.0, damaged=why)

    def dead_process(self) -> bool:
        """True when the holder ran on this host and its process no longer exists."""
        if self.damaged is not None or self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def stale_reason(self, now: float, stale_after: float = STALE_AFTER) -> str | None:
        if self.damaged is not None:
            return f"damaged: {self.damaged}"
        if self.dead_process():
            return f"process {self.pid} on {self.host} is gone"
        if now - self.refreshed > stale_after:
            return f"not refreshed for {int((now - self.refreshed) // 60)} min"
        return None

    def describe(self) -> str:
        if self.damaged is not None:
            return f"a damaged lock object locks/{self.name} ({self.damaged})"
        since = datetime.fromtimestamp(self.created).strftime("%Y-%m-%d %H:%M:%S")
        mode = "exclusive" if self.exclusive else "shared"
        return f"`{self.operation}` ({mode}, pid {self.pid} on {self.host}, since {since})"


def read_locks(backend: Backend) -> list[LockInfo]:
    """Every lock object; damaged ones as ``LockInfo.unreadable`` (they still count)."""
    out = []
    for obj in backend.list(Kind.LOCKS):
        try:
            data = backend.get(Kind.LOCKS, obj.name)
        except ObjectNotFound:
            continue  # released while we listed
        out.append(_decode(obj.name, data))
    return out


# Each field and the JSON types it may have (bool is an int in Python: excluded by hand).
_FIELDS: dict[str, tuple[type, ...]] = {
    "operation": (str,),
    "exclusive": (bool,),
    "host": (str,),
    "pid": (int,),
    "created": (int, float),
    "refreshed": (int, float),
}


def _decode(name: str, data: bytes) -> LockInfo:
    try:
        d = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return LockInfo.unreadable(name, "not text")
    except ValueError:
        return LockInfo.unreadable(name, "not valid JSON")
    if not isinstance(d, dict):
        return LockInfo.unreadable(name, "not a lock record")
    for key, types in _FIELDS.items():
        value = d.get(key)
        wrong_bool = isinstance(value, bool) and bool not in types
        if not isinstance(value, types) or wrong_bool:
            return LockInfo.unreadable(name, f"field {key!r} missing or of the wrong type")
    return LockInfo(name=name, **{k: d[k] for k in _FIELDS})


class RepositoryLock:
    """A held lock; use as a context manager (``with RepositoryLock.acquire(...)``)."""

    def __init__(self, backend: Backend, info: LockInfo) -> None:
        self.backend = backend
        self.info = info
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refresh_loop, daemon=True)
        self._thread.start()

    @classmethod
    def acquire(
        cls,
        backend: Backend,
        operation: str,
        *,
        exclusive: bool,
        wait: float = 0.0,
        warn: Callable[[str], None] = lambda _msg: None,
        stale_after: float = STALE_AFTER,
    ) -> RepositoryLock:
        if not (math.isfinite(wait) and wait >= 0):
            raise InvalidInput(f"the lock wait must be a finite number of seconds >= 0, not {wait}")
        now = time.time()
        info = LockInfo(
            name=f"{'x' if exclusive else 's'}-{socket.gethostname()}-{os.getpid()}-"
            f"{secrets.token_hex(4)}",
            operation=operation,
            exclusive=exclusive,
            host=socket.gethostname(),
            pid=os.getpid(),
            created=now,
            refreshed=now,
        )
        deadline = now + wait
        placed = False
        warned: set[str] = set()
        while True:
            blocking = _blocking(backend, info, warn, warned)
            if not blocking:
                if placed:
                    return cls(backend, info)
                backend.put(Kind.LOCKS, info.name, _encode(info))
                placed = True
                continue  # list again: someone may have placed a lock at the same time
            if placed:
                backend.delete(Kind.LOCKS, info.name)
                placed = False
            if time.time() >= deadline:
                raise _held(blocking[0], stale_after)
            time.sleep(random.uniform(0.05, 0.3))

    def _refresh_loop(self) -> None:
        while not self._stop.wait(REFRESH_EVERY):
            info = LockInfo(**{**asdict(self.info), "refreshed": time.time()})
            with contextlib.suppress(Exception):
                self.backend.put(Kind.LOCKS, info.name, _encode(info))
                self.info = info

    def release(self) -> None:
        self._stop.set()
        self.backend.delete(Kind.LOCKS, self.info.name)

    def __enter__(self) -> RepositoryLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _blocking(
    backend: Backend, info: LockInfo, warn: Callable[[str], None], warned: set[str]
) -> list[LockInfo]:
    """The locks that conflict with ``info``; locks of dead processes on this host are
    ignored, with one warning each (``warned`` remembers which were told)."""
    blocking = []
    for other in read_locks(backend):
        if other.name == info.name or not (info.exclusive or other.exclusive):
            continue
        if other.dead_process():
            if other.name not in warned:
                warned.add(other.name)
                warn(
                    f"ignoring stale lock of {other.describe()}: the process is gone; "
                    "`snapstore unlock` removes it"
                )
            continue
        blocking.append(other)
    return blocking


def _held(holder: LockInfo, stale_after: float) -> LockHeld:
    """The error for a lock that ``holder`` still holds when the wait is over."""
    if holder.damaged is not None:
        return LockHeld(
            f"repository is locked by {holder.describe()}: it may belong to a running "
            "command; if none is running, `snapstore unlock` removes it"
        )
    stale = holder.stale_reason(time.time(), stale_after)
    hint = (
        f"; it looks stale ({stale}): run `snapstore unlock` if that process is gone"
        if stale
        else "; try again later or pass --lock-wait SECONDS"
    )
    return LockHeld(f"repository is locked by {holder.describe()}{hint}")


def _encode(info: LockInfo) -> bytes:
    d = asdict(info)
    del d["name"], d["damaged"]
    return json.dumps(d).encode()


def remove_stale(
    backend: Backend, *, everything: bool = False, stale_after: float = STALE_AFTER
) -> list[LockInfo]:
    """Remove stale locks (or all locks with ``everything``); return what was removed."""
    removed = []
    now = time.time()
    for lock in read_locks(backend):
        if everything or lock.stale_reason(now, stale_after):
            backend.delete(Kind.LOCKS, lock.name)
            removed.append(lock)
    return removed
