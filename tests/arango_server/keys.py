"""Ticks, document revisions and the four `_key` generators.

Modelled on ArangoDB's `KeyGenerator.cpp` (single-server variants):

* traditional: the next server tick, but always above `lastValue`; numeric user
  keys raise `lastValue` ("track").
* autoincrement: `offset`, then `lastValue + increment` rounded to the
  increment grid; user keys must be all digits (1221) and raise `lastValue`.
* padded: like traditional, encoded as 16 lower-case hex digits; user keys that
  decode as padded values raise `lastValue`.
* uuid: random UUIDs; no `lastValue`.

`allowUserKeys: false` rejects a user key with 1222 unless the write is a
restore (`isRestore=true`).  Keys are 1..254 bytes of the legal characters.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .errors import DOCUMENT_KEY_BAD, DOCUMENT_KEY_UNEXPECTED, INVALID_KEY_GENERATOR, ArangoError

MAX_KEY_LENGTH = 254
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-:.@()+,=;$!*'%]{1,254}$")
GENERATOR_TYPES = ("traditional", "autoincrement", "uuid", "padded")

# ArangoDB's revision strings are hybrid-logical-clock values written in this
# base64 alphabet (its `HybridLogicalClock::encodeTimeStamp`).
_REV_ALPHABET = "-_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class _Ticks:
    """Server-wide increasing counters for ids, generated keys and revisions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tick = itertools.count(100_000)
        self._last_rev = 0

    def next_tick(self) -> int:
        with self._lock:
            return next(self._tick)

    def next_rev(self) -> str:
        # Microseconds since the epoch shifted left, like an HLC: strictly
        # increasing even when the wall clock stalls.
        with self._lock:
            value = max(self._last_rev + 1, int(time.time() * 1_000_000) << 4)
            self._last_rev = value
        return encode_rev(value)


TICKS = _Ticks()


def encode_rev(value: int) -> str:
    chars = []
    while value > 0:
        chars.append(_REV_ALPHABET[value & 0x3F])
        value >>= 6
    return "".join(reversed(chars)) or "-"


def is_valid_key(key: Any) -> bool:
    return isinstance(key, str) and KEY_PATTERN.match(key) is not None


def _numeric_value(key: str) -> int:
    """ArangoDB's `atoi_zero`: the key's value if it is all digits, else 0."""
    return int(key) if key.isdigit() and key.isascii() else 0


def _decode_padded(key: str) -> int:
    if len(key) != 16 or re.fullmatch(r"[0-9a-f]{16}", key) is None:
        return 0
    return int(key, 16)


@dataclass
class KeyGenerator:
    """One collection's key generator and its persistent state (`lastValue`)."""

    type: str = "traditional"
    allow_user_keys: bool = True
    last_value: int = 0
    increment: int = 1
    offset: int = 0

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> KeyGenerator:
        """Build from a `keyOptions` object, validating it like ArangoDB (400/1232)."""
        options = options or {}
        if not isinstance(options, dict):
            raise ArangoError(400, INVALID_KEY_GENERATOR, "invalid key generator")
        gen_type = str(options.get("type") or "traditional").lower()
        if gen_type not in GENERATOR_TYPES:
            raise ArangoError(400, INVALID_KEY_GENERATOR, "invalid key generator type")
        allow = options.get("allowUserKeys", True)
        gen = cls(type=gen_type, allow_user_keys=bool(allow))
        last_value = options.get("lastValue")
        if isinstance(last_value, int | float) and not isinstance(last_value, bool):
            if last_value < 0:
                raise ArangoError(
                    400, INVALID_KEY_GENERATOR, "'lastValue' value must be greater than zero"
                )
            if gen_type != "uuid":
                gen.last_value = int(last_value)
        if gen_type == "autoincrement":
            increment = options.get("increment", 1)
            offset = options.get("offset", 0)
            if not isinstance(increment, int | float) or not 0 < increment < 65536:
                raise ArangoError(
                    400,
                    INVALID_KEY_GENERATOR,
                    "increment value must be greater than zero and smaller than 65536",
                )
            if not isinstance(offset, int | float) or offset < 0:
                raise ArangoError(
                    400, INVALID_KEY_GENERATOR, "offset value must be zero or greater"
                )
            gen.increment, gen.offset = int(increment), int(offset)
        return gen

    def to_json(self) -> dict[str, Any]:
        """The `keyOptions` object as GET .../properties shows it."""
        out: dict[str, Any] = {"allowUserKeys": self.allow_user_keys, "type": self.type}
        if self.type == "autoincrement":
            out["offset"] = self.offset
            out["increment"] = self.increment
        if self.type != "uuid":
            out["lastValue"] = self.last_value
        return out

    def generate(self) -> str:
        if self.type == "uuid":
            return str(uuid.uuid4())
        if self.type == "autoincrement":
            if self.last_value < self.offset:
                value = self.offset
            else:
                value = (
                    self.last_value
                    + self.increment
                    - ((self.last_value - self.offset) % self.increment)
                )
            self.last_value = value
            return str(value)
        value = max(TICKS.next_tick(), self.last_value + 1)
        self.last_value = value
        return f"{value:016x}" if self.type == "padded" else str(value)

    def validate_user_key(self, key: Any, is_restore: bool) -> None:
        """Check a user-supplied key (1222 / 1221) and track its numeric value."""
        if not self.allow_user_keys and not is_restore:
            raise ArangoError(400, DOCUMENT_KEY_UNEXPECTED, "unexpected document key")
        if not is_valid_key(key):
            raise ArangoError(400, DOCUMENT_KEY_BAD, "illegal document key")
        if self.type == "autoincrement" and not key.isdigit():
            raise ArangoError(400, DOCUMENT_KEY_BAD, "illegal document key")
        self.track(key)

    def track(self, key: str) -> None:
        if self.type == "uuid":
            return
        value = _decode_padded(key) if self.type == "padded" else _numeric_value(key)
        if value > self.last_value:
            self.last_value = value
