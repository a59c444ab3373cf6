"""Snapshot names: ``PREFIX_YYYYMMDD_HHMMSS_slug``, as the seed made them."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from snapstore.base.errors import InvalidInput

MAX_SLUG = 60
_NAME_OK = re.compile(r"^[^/\\\x00\s.][^/\\\x00\s]{0,200}$")


def slugify(description: str) -> str:
    """Lower-case letters and digits joined by single underscores (any script is kept), at
    most ``MAX_SLUG`` characters: whole words only, so a long description loses its last
    words rather than ending in half of one (only a first word longer than the limit is
    cut)."""
    text = unicodedata.normalize("NFKC", description).lower()
    words = re.findall(r"[^\W_]+", text)
    slug = words[0][:MAX_SLUG] if words else ""
    for word in words[1:]:
        if len(slug) + 1 + len(word) > MAX_SLUG:
            break
        slug += "_" + word
    if not slug:
        raise InvalidInput(
            f"description {description!r} has no letters or digits to name the snapshot by"
        )
    return slug


def snapshot_name(prefix: str, when: datetime, description: str, attempt: int = 1) -> str:
    """The name for a snapshot; ``attempt`` > 1 adds a suffix when the name is taken."""
    base = f"{prefix}_{when:%Y%m%d_%H%M%S}_{slugify(description)}"
    return base if attempt == 1 else f"{base}_{attempt}"


def check_snapshot_name(name: str) -> str:
    """Reject names that cannot be snapshot names (before looking them up)."""
    if not _NAME_OK.match(name):
        raise InvalidInput(f"malformed snapshot name {name!r}")
    return name


def check_prefix(prefix: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,30}", prefix):
        raise InvalidInput(f"snapshot prefix {prefix!r} must be letters, digits and dashes")
    return prefix
