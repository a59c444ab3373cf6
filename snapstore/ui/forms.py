"""The restore page's form: what its fields say, and the plan a confirmation is bound to.

The page is one form: the fields that choose what to restore, the plan they give, and the
typed ``yes``. "Show what this replaces" and "Restore" both post the fields as they are now,
so the restore never runs options other than those on the screen. The page also carries a
digest of the plan it shows; "Restore" recomputes the plan from the posted fields and runs
only when that plan has the same digest, so a field changed after the plan was shown (or a
target folder that appeared meanwhile) is refused with the new plan instead of run
(spec/browse.md, "ui"). Which parts a set of options restores is decided by the restore
itself (``plan_restore``); this module only reads the fields.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snapstore.ops.records import RestoreOptions, RestorePlan


@dataclass(frozen=True)
class RestoreForm:
    """The restore page's fields as the user left them (text exactly as typed)."""

    bulk: bool = True
    db: bool = True
    target: str = ""
    target_db: str = ""
    collection: str = ""
    include: str = ""  # paths or globs of the bulk tree, one per line

    @classmethod
    def read(cls, values: Mapping[str, Any]) -> RestoreForm:
        """From a query string or a posted form. Before the fields were ever shown (no
        ``scope`` field) everything is restored in place; afterwards an unticked box is
        simply absent."""

        def text(key: str) -> str:
            value = values.get(key)
            return value if isinstance(value, str) else ""

        chosen = "scope" in values
        return cls(
            bulk=text("bulk") == "on" if chosen else True,
            db=text("db") == "on" if chosen else True,
            target=text("target"),
            target_db=text("target_db"),
            collection=text("collection"),
            include=text("include"),
        )

    def options(self) -> RestoreOptions:
        """The restore these fields ask for (the same record plans and runs it)."""
        collection = self.collection.strip()
        return RestoreOptions(
            restore_bulk=self.bulk,
            restore_db=self.db,
            target=self.target.strip() or None,
            target_db=self.target_db.strip() or None,
            collections=(collection,) if collection else (),
            # One per line: a path may hold a comma.
            include=tuple(p.strip() for p in self.include.splitlines() if p.strip()),
        )


def field_of(problem: str, form: RestoreForm) -> str | None:
    """The field a refusal is about, so that the page says it beside that field: the one
    whose text the message quotes (an include path the snapshot lacks, a target folder,
    a collection), else None (said under the fields)."""
    quoted = [("include", p.strip()) for p in form.include.splitlines() if p.strip()]
    quoted += [("target", form.target.strip()), ("target_db", form.target_db.strip())]
    quoted += [("collection", form.collection.strip())]
    return next((name for name, text in quoted if text and text in problem), None)


def confirmation_problem(values: Mapping[str, Any]) -> str | None:
    """Why the confirmation field does not confirm (shown beside it), or None: only
    ``yes`` does, as at the CLI's prompt."""
    value = values.get("confirm")
    typed = value.strip() if isinstance(value, str) else ""
    if typed == "yes":
        return None
    if not typed:
        return "type yes to confirm: nothing was changed"
    if typed.lower() == "yes":
        return f"type yes in lower case, not {typed!r}: nothing was changed"
    return f"type yes to confirm, not {typed!r}: nothing was changed"


def plan_digest(plan: RestorePlan) -> str:
    """A fingerprint of everything the page shows of a plan: which snapshot, each folder
    replaced (and whether it exists), the database changes, the paths selected, whether a
    safety snapshot is taken, what each other source restores. Equal digests: the same
    restore."""
    shown = {
        "snapshot": plan.snapshot.snapshot_name,
        "targets": [[t.root, str(t.target), t.exists] for t in plan.targets],
        "bulk": plan.restore_bulk,
        "db": plan.restore_db,
        "database_changes": {k: list(v) for k, v in sorted(plan.database_changes.items())},
        "include": list(plan.include),
        "safety_snapshot": plan.safety_snapshot,
        "sources": [[p.source, list(p.lines)] for p in plan.sources],
    }
    # ensure_ascii: paths that are not UTF-8 (surrogate escapes) hash like any other text.
    text = json.dumps(shown, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:32]
