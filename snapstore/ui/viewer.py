"""What the file page shows of a file: its text, its bytes in hex, or where a symlink points.

A file's first ``HEAD`` bytes are read (the rest stays in the repository: "download the
rest"). They are shown as text when they hold no NUL byte and decode as UTF-8 (a character
cut by the 1 MiB limit aside), or, failing that, when nearly all of them are printable in
Windows-1252 (Latin-1's superset, what a file that is not UTF-8 most often is): the page
says which encoding it guessed. Anything else is shown as a hex dump of its first
``HEX_LIMIT`` bytes, like ``xxd``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

HEAD = 1 << 20  # bytes of a file shown on its page
HEX_LIMIT = 4096  # bytes of a binary file shown in hex
CONTROL_SHARE = 0.02  # more control characters than this: not text


@dataclass(frozen=True)
class Preview:
    kind: str  # "text" or "hex"
    body: str
    encoding: str  # "UTF-8", "Windows-1252 (a guess)"; "" for hex
    truncated: bool  # the file is longer than what is shown


def read_head(pieces: Iterator[bytes], limit: int = HEAD) -> bytes:
    """Up to ``limit`` bytes from the start of a file's pieces; stops reading there."""
    out = bytearray()
    for piece in pieces:
        out += piece
        if len(out) >= limit:
            break
    return bytes(out[:limit])


def _utf8(data: bytes, cut: bool) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if cut and e.start > len(data) - 4:  # a character cut at the end of the head
            return data[: e.start].decode("utf-8")
        return None


def _mostly_printable(text: str) -> bool:
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f\b\x1b")
    return controls <= CONTROL_SHARE * max(len(text), 1)


def hexdump(data: bytes) -> str:
    """``xxd``'s layout: offset, 16 bytes in hex, the printable ASCII of them."""
    lines = []
    for at in range(0, len(data), 16):
        row = data[at : at + 16]
        hexes = " ".join(row[i : i + 2].hex() for i in range(0, len(row), 2))
        shown = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{at:08x}: {hexes:<39}  {shown}")
    return "\n".join(lines)


def preview(head: bytes, size: int) -> Preview:
    """The page's view of a file of ``size`` bytes that starts with ``head``."""
    truncated = size > len(head)
    if b"\0" not in head[:8192]:
        text = _utf8(head, truncated)
        if text is not None:
            return Preview("text", text, "UTF-8", truncated)
        guess = head.decode("cp1252", "replace")
        if _mostly_printable(guess):
            return Preview("text", guess, "Windows-1252 (a guess: not UTF-8)", truncated)
    shown = head[:HEX_LIMIT]
    return Preview("hex", hexdump(shown), "", size > len(shown))


def link_target(path: str, target: str) -> str | None:
    """The snapshot path a symlink at ``path`` points to, or None when it points outside
    the snapshot (an absolute target, or one climbing above the tree)."""
    if target.startswith("/"):
        return None
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if resolved == ".":
        return ""
    return None if resolved == ".." or resolved.startswith("../") else resolved
