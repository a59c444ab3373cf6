"""Document write semantics, independent of HTTP: insert, replace, update, remove.

Used by the document API (single and batch) and by `/_api/import`.  It covers
ArangoDB's behaviour for keys (generation, validation, allowUserKeys),
`_rev` (fresh on every write unless `isRestore`), edge attributes (1233),
overwrite modes, revision preconditions (412), schema levels (1620), unique
indexes (1210) and computed values.

Computed values: only expressions that are `RETURN <JSON literal>` (for
example `RETURN "x"`, `RETURN 0`, `RETURN null`, `RETURN [1,2]`) are evaluated;
any other expression is stored but not evaluated, so the attribute is left
as the client sent it.  Like arangorestore, `isRestore` evaluates nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from . import errors
from .errors import ArangoError
from .jsonschema import document_matches
from .keys import TICKS, is_valid_key
from .store import EDGE_COLLECTION, Collection, Doc, DocSpace, UniqueGuard

SYSTEM_ATTRIBUTES = ("_key", "_id", "_rev", "_from", "_to")
OVERWRITE_MODES = ("conflict", "ignore", "replace", "update")
_DOCUMENT_ID = re.compile(r"^([^/]+)/(.+)$")


@dataclass
class WriteOptions:
    """Per-request options, parsed from the query string by the API layer."""

    return_new: bool = False
    return_old: bool = False
    silent: bool = False
    keep_null: bool = True
    merge_objects: bool = True
    ignore_revs: bool = True
    overwrite_mode: str = "conflict"
    is_restore: bool = False
    skip_validation: bool = False


def valid_document_id(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    match = _DOCUMENT_ID.match(value)
    return match is not None and is_valid_key(match.group(2))


def merge_patch(old: Doc, patch: Doc, keep_null: bool, merge_objects: bool) -> Doc:
    """ArangoDB's update semantics (PATCH) for the user attributes."""
    out = dict(old)
    for name, value in patch.items():
        if name in ("_key", "_id", "_rev"):
            continue
        if value is None and not keep_null:
            out.pop(name, None)
        elif merge_objects and isinstance(value, dict) and isinstance(out.get(name), dict):
            out[name] = merge_patch(out[name], value, keep_null, True)
        elif isinstance(value, dict) and not keep_null:
            out[name] = _strip_nulls(value)
        else:
            out[name] = value
    return out


def _strip_nulls(value: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _strip_nulls(v) if isinstance(v, dict) else v for k, v in value.items() if v is not None
    }


def _literal_expression(expression: str) -> tuple[bool, Any]:
    text = re.sub(r"^\s*RETURN\s+", "", expression, flags=re.IGNORECASE).strip()
    try:
        return True, json.loads(text)
    except ValueError:
        return False, None


def precondition_failed(doc: Doc) -> ArangoError:
    return ArangoError(
        412,
        errors.CONFLICT,
        "conflict, _rev values do not match",
        {"_id": doc["_id"], "_key": doc["_key"], "_rev": doc["_rev"]},
    )


class DocumentWriter:
    """Applies writes to one collection through a DocSpace (live or transactional)."""

    def __init__(self, space: DocSpace, options: WriteOptions) -> None:
        self.space = space
        self.collection: Collection = space.collection
        self.options = options
        self.guard = UniqueGuard(self.collection, space.docs())

    # -- helpers --------------------------------------------------------------

    def _build(self, key: str, body: Doc, rev: str | None = None) -> Doc:
        """A stored document: system attributes first, then the user attributes."""
        doc: Doc = {"_key": key, "_id": f"{self.collection.name}/{key}"}
        if self.collection.type == EDGE_COLLECTION:
            for name in ("_from", "_to"):
                if not valid_document_id(body.get(name)):
                    raise ArangoError(400, errors.INVALID_EDGE_ATTRIBUTE, "invalid edge attribute")
                doc[name] = body[name]
        restored_rev = body.get("_rev") if self.options.is_restore else None
        if isinstance(restored_rev, str) and restored_rev:
            doc["_rev"] = restored_rev
        else:
            doc["_rev"] = rev or TICKS.next_rev()
        doc.update((k, v) for k, v in body.items() if k not in SYSTEM_ATTRIBUTES)
        return doc

    def _validate(self, doc: Doc, old: Doc | None) -> None:
        schema = self.collection.schema
        if schema is None or self.options.is_restore or self.options.skip_validation:
            return
        level = schema["level"]
        if level == "none" or (old is not None and level == "new"):
            return
        if old is not None and level == "moderate" and not document_matches(schema["rule"], old):
            return  # moderate: a document that was already invalid may stay invalid
        if not document_matches(schema["rule"], doc):
            raise ArangoError(400, errors.VALIDATION_FAILED, schema["message"])

    def _compute(self, doc: Doc, operation: str) -> Doc:
        values = self.collection.computed_values
        if not values or self.options.is_restore:
            return doc
        for cv in values:
            if operation not in cv["computeOn"]:
                continue
            ok, value = _literal_expression(cv["expression"])
            if not ok or (not cv["overwrite"] and cv["name"] in doc):
                continue
            if value is None and not cv["keepNull"]:
                doc.pop(cv["name"], None)
            else:
                doc[cv["name"]] = value
        return doc

    def _check_rev(self, existing: Doc, if_match: str | None, body: Doc | None) -> None:
        if if_match is not None and if_match != existing["_rev"]:
            raise precondition_failed(existing)
        if body is not None and not self.options.ignore_revs:
            wanted = body.get("_rev")
            if wanted is not None and wanted != existing["_rev"]:
                raise precondition_failed(existing)

    def _store(self, doc: Doc, old: Doc | None) -> None:
        if old is not None:
            self.guard.remove(old)
        try:
            self.guard.check(doc)
        except ArangoError:
            if old is not None:
                self.guard.add(old)
            raise
        self.guard.add(doc)
        self.space.put(doc)

    def _result(self, doc: Doc, old: Doc | None, with_old_rev: bool) -> Doc:
        result: Doc = {"_id": doc["_id"], "_key": doc["_key"], "_rev": doc["_rev"]}
        if with_old_rev and old is not None:
            result["_oldRev"] = old["_rev"]
        if self.options.return_new:
            result["new"] = doc
        if self.options.return_old and old is not None:
            result["old"] = old
        return result

    def _existing(self, key: Any) -> Doc:
        if not isinstance(key, str):
            raise ArangoError(400, errors.DOCUMENT_KEY_BAD, "illegal document key")
        doc = self.space.get(key)
        if doc is None:
            raise errors.document_not_found()
        return doc

    # -- operations -----------------------------------------------------------

    def insert(self, body: Any) -> Doc:
        if not isinstance(body, dict):
            raise ArangoError(400, errors.DOCUMENT_TYPE_INVALID, "invalid document type")
        if "_key" in body:
            key = body["_key"]
            self.collection.key_gen.validate_user_key(key, self.options.is_restore)
        else:
            key = self.collection.key_gen.generate()
        existing = self.space.get(key)
        if existing is not None:
            mode = self.options.overwrite_mode
            if mode == "ignore":
                return {"_id": existing["_id"], "_key": key, "_rev": existing["_rev"]}
            if mode == "replace":
                return self._rewrite(existing, body, "replace")
            if mode == "update":
                return self._rewrite(existing, self._merged(existing, body), "update")
            raise errors.unique_violated("primary", "primary", ["_key"], key)
        doc = self._compute(self._build(key, body), "insert")
        self._validate(doc, None)
        self._store(doc, None)
        return self._result(doc, None, with_old_rev=False)

    def _merged(self, existing: Doc, patch: Doc) -> Doc:
        """The full body of an update: old document plus patch, without the old _rev."""
        merged = merge_patch(existing, patch, self.options.keep_null, self.options.merge_objects)
        merged.pop("_rev", None)
        if "_rev" in patch:
            merged["_rev"] = patch["_rev"]  # only kept when isRestore (see _build)
        return merged

    def _rewrite(self, existing: Doc, body: Doc, operation: str) -> Doc:
        doc = self._compute(self._build(existing["_key"], body), operation)
        self._validate(doc, existing)
        self._store(doc, existing)
        return self._result(doc, existing, with_old_rev=True)

    def replace(self, key: Any, body: Any, if_match: str | None = None) -> Doc:
        if not isinstance(body, dict):
            raise ArangoError(400, errors.DOCUMENT_TYPE_INVALID, "invalid document type")
        existing = self._existing(key)
        self._check_rev(existing, if_match, body)
        return self._rewrite(existing, body, "replace")

    def update(self, key: Any, body: Any, if_match: str | None = None) -> Doc:
        if not isinstance(body, dict):
            raise ArangoError(400, errors.DOCUMENT_TYPE_INVALID, "invalid document type")
        existing = self._existing(key)
        self._check_rev(existing, if_match, body)
        return self._rewrite(existing, self._merged(existing, body), "update")

    def remove(self, key: Any, if_match: str | None = None, body: Doc | None = None) -> Doc:
        existing = self._existing(key)
        self._check_rev(existing, if_match, body)
        self.guard.remove(existing)
        self.space.delete(existing["_key"])
        result: Doc = {"_id": existing["_id"], "_key": existing["_key"], "_rev": existing["_rev"]}
        if self.options.return_old:
            result["old"] = existing
        return result
