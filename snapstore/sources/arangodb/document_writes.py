"""Writing documents back as a restore does: one batch, ``_rev`` kept (spec/database.md).

Both restore paths send documents this way: the full reload (``build``) and the restore by
difference (``restore_writes``). ``isRestore`` keeps each document's ``_rev`` (and skips schema
validation and computed values, as arangorestore does); ``overwriteMode=replace`` makes a batch
sent again after a lost answer harmless, which is what lets ``Connection.call`` retry it.
"""

from __future__ import annotations

from typing import Any

from snapstore.base.errors import DatabaseError
from snapstore.sources.arangodb.connection import Connection, q

RESTORE_WRITE = {"isRestore": True, "overwriteMode": "replace", "silent": True}


def put_restored(conn: Connection, name: str, body: str, what: str, verb: str) -> None:
    """Send one JSON array of documents into collection ``name``; DatabaseError if the
    server refused any of them (``verb`` says what could not be done, for the message)."""
    answer = conn.call(
        "post",
        f"/_api/document/{q(name)}",
        what=what,
        params={**RESTORE_WRITE, "waitForSync": False},
        data=body,
    )
    raise_failures(name, answer, verb)


def raise_failures(name: str, answer: Any, verb: str, ignore: int | None = None) -> None:
    """DatabaseError naming how many documents of a batch failed and the first error, unless
    every failure is error ``ignore``."""
    if not isinstance(answer, list):
        return
    failures = [
        a for a in answer if isinstance(a, dict) and a.get("error") and a.get("errorNum") != ignore
    ]
    if failures:
        first = failures[0]
        raise DatabaseError(
            f"{len(failures)} document(s) of collection {name} could not be {verb}, the "
            f"first with [ERR {first.get('errorNum')}] {first.get('errorMessage')}"
        )
