"""The TTL thread: documents past their TTL index's expiry are removed, every so often.

ArangoDB runs a background thread every `--ttl.frequency` (30 s by default) that removes
documents whose TTL-indexed attribute, a number of seconds since the epoch or an ISO 8601
date string, lies more than `expireAfter` seconds in the past; other values never expire
(ArangoDB docs: indexes-and-search/indexing/working-with-indexes/ttl-indexes). Here the sweep
runs at the start of a request once `Settings.ttl_frequency` seconds of server clock have
passed since the last one (`advance_clock` moves that clock), so a long restore that creates
a TTL index early loses expired documents just as it would on a real server.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from .store import LiveSpace, attribute_path

if TYPE_CHECKING:
    from .app import App


def _timestamp(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return parsed.timestamp()
    return None


def sweep(app: App) -> int:
    """Remove every expired document now; returns how many were removed."""
    now = app.wall_now()
    removed = 0
    for db in app.databases.values():
        for collection in db.collections.values():
            for index in collection.indexes:
                if index.get("type") != "ttl" or not index.get("fields"):
                    continue
                after = float(index.get("expireAfter", 0))
                expired = [
                    key
                    for key, doc in collection.docs.items()
                    if (t := _timestamp(attribute_path(doc, index["fields"][0]))) is not None
                    and t + after < now
                ]
                space = LiveSpace(collection)
                for key in expired:
                    space.delete(key)
                removed += len(expired)
    return removed


def maybe_sweep(app: App) -> None:
    if app.now() - app.last_ttl_sweep >= app.settings.ttl_frequency:
        app.last_ttl_sweep = app.now()
        sweep(app)
