"""Document endpoints (/_api/document, single and batch) and /_api/import.

All of them join a stream transaction when the request carries
x-arango-trx-id.  Multi-document requests answer 202 (201 with waitForSync)
with one entry per input: the metadata on success, `{error, errorNum,
errorMessage}` on failure, and an `X-Arango-Error-Codes` header counting the
failures by errorNum.  The undocumented `isRestore=true` keeps the given
`_rev`, accepts user keys even with `allowUserKeys: false` and skips schema
validation and computed values; `skipDocumentValidation=true` skips only the
schema.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from . import errors
from .documents import OVERWRITE_MODES, DocumentWriter, WriteOptions
from .errors import ArangoError
from .routing import Request, Response, Router, raw
from .store import Collection, Doc


def _write_options(req: Request) -> WriteOptions:
    mode = req.qstr("overwriteMode")
    if mode is None:
        mode = "replace" if req.qbool("overwrite") else "conflict"
    elif mode not in OVERWRITE_MODES:
        raise errors.bad_parameter(f"invalid overwriteMode '{mode}'")
    return WriteOptions(
        return_new=req.qbool("returnNew"),
        return_old=req.qbool("returnOld"),
        silent=req.qbool("silent"),
        keep_null=req.qbool("keepNull", True),
        merge_objects=req.qbool("mergeObjects", True),
        ignore_revs=req.qbool("ignoreRevs", True),
        overwrite_mode=mode,
        is_restore=req.qbool("isRestore"),
        skip_validation=req.qbool("skipDocumentValidation"),
    )


def _write_status(req: Request, collection: Collection) -> int:
    return 201 if req.qbool("waitForSync", collection.wait_for_sync) else 202


def _if_match(req: Request, name: str = "if-match") -> str | None:
    value = req.header(name)
    return value.strip().strip('"') if value else None


def _writer(req: Request, collection: Collection) -> DocumentWriter:
    return DocumentWriter(req.space(collection, for_write=True), _write_options(req))


def _batch(
    req: Request, collection: Collection, items: list[Any], op: Callable[[Any], Doc]
) -> Response:
    """Run `op` on each item; per-item failures go into the answer array."""
    results: list[dict[str, Any]] = []
    failures: Counter[int] = Counter()
    silent = req.qbool("silent")
    for item in items:
        try:
            result = op(item)
            if not silent:
                results.append(result)
        except ArangoError as exc:
            failures[exc.error_num] += 1
            results.append(exc.item())
    headers = {}
    if failures:
        headers["X-Arango-Error-Codes"] = json.dumps({str(k): v for k, v in failures.items()})
    return raw(results, _write_status(req, collection), headers)


def _item_key(item: Any) -> Any:
    """The key of a batch item: a key string, a document id, or an object."""
    if isinstance(item, dict):
        if "_key" in item:
            return item["_key"]
        item = item.get("_id")
        if item is None:
            raise ArangoError(400, errors.DOCUMENT_KEY_MISSING, "document key missing")
    if isinstance(item, str) and "/" in item:
        return item.split("/", 1)[1]
    return item


def _body_of(item: Any) -> Doc:
    if not isinstance(item, dict):
        raise ArangoError(400, errors.DOCUMENT_TYPE_INVALID, "invalid document type")
    return item


# -- endpoints ----------------------------------------------------------------------


def insert(req: Request, collection: str) -> Response:
    coll = req.db.collection(collection)
    writer = _writer(req, coll)
    body = req.json()
    if isinstance(body, list):
        return _batch(req, coll, body, writer.insert)
    result = writer.insert(body)
    return raw({} if writer.options.silent else result, _write_status(req, coll))


def replace_many(req: Request, collection: str) -> Response:
    coll = req.db.collection(collection)
    body = req.json()
    if not isinstance(body, list):
        raise errors.bad_parameter("expecting an array of documents")
    if req.qbool("onlyget"):
        return _get_many(req, coll, body)
    writer = _writer(req, coll)
    return _batch(req, coll, body, lambda d: writer.replace(_item_key(_body_of(d)), d))


def update_many(req: Request, collection: str) -> Response:
    coll = req.db.collection(collection)
    body = req.json()
    if not isinstance(body, list):
        raise errors.bad_parameter("expecting an array of documents")
    writer = _writer(req, coll)
    return _batch(req, coll, body, lambda d: writer.update(_item_key(_body_of(d)), d))


def remove_many(req: Request, collection: str) -> Response:
    coll = req.db.collection(collection)
    body = req.json()
    if not isinstance(body, list):
        raise errors.bad_parameter("expecting an array of keys or documents")
    writer = _writer(req, coll)

    def remove(item: Any) -> Doc:
        return writer.remove(_item_key(item), body=item if isinstance(item, dict) else None)

    return _batch(req, coll, body, remove)


def _get_many(req: Request, coll: Collection, items: list[Any]) -> Response:
    space = req.space(coll, for_write=False)
    results: list[Any] = []
    for item in items:
        try:
            doc = space.get(_item_key(item))
            if doc is None:
                raise errors.document_not_found()
            results.append(doc)
        except ArangoError as exc:
            results.append(exc.item())
    return raw(results)


def get_document(req: Request, collection: str, key: str) -> Response:
    coll = req.db.collection(collection)
    doc = req.space(coll, for_write=False).get(key)
    if doc is None:
        raise errors.document_not_found()
    etag = {"Etag": f'"{doc["_rev"]}"'}
    if_none_match = _if_match(req, "if-none-match")
    if if_none_match is not None and if_none_match == doc["_rev"]:
        return raw(None, 304, etag)
    if_match = _if_match(req)
    if if_match is not None and if_match != doc["_rev"]:
        raise ArangoError(
            412,
            errors.CONFLICT,
            "conflict, _rev values do not match",
            {"_id": doc["_id"], "_key": doc["_key"], "_rev": doc["_rev"]},
        )
    return raw(doc, 200, etag)


def replace_document(req: Request, collection: str, key: str) -> Response:
    coll = req.db.collection(collection)
    writer = _writer(req, coll)
    result = writer.replace(key, req.json(), _if_match(req))
    return raw({} if writer.options.silent else result, _write_status(req, coll))


def update_document(req: Request, collection: str, key: str) -> Response:
    coll = req.db.collection(collection)
    writer = _writer(req, coll)
    result = writer.update(key, req.json(), _if_match(req))
    return raw({} if writer.options.silent else result, _write_status(req, coll))


def remove_document(req: Request, collection: str, key: str) -> Response:
    coll = req.db.collection(collection)
    writer = _writer(req, coll)
    result = writer.remove(key, _if_match(req))
    return raw({} if writer.options.silent else result, _write_status(req, coll))


# -- import -------------------------------------------------------------------------


def _import_items(req: Request) -> list[Any]:
    """The documents of an import body; `None` marks an empty line."""
    text = req.body.decode("utf-8", errors="replace")
    kind = req.qstr("type")
    if kind == "auto":
        kind = "array" if text.lstrip().startswith("[") else "documents"
    if kind in ("array", "list"):
        body = req.json()
        if not isinstance(body, list):
            raise errors.bad_parameter("expecting a JSON array in the request")
        return body
    lines = text.splitlines()
    if kind == "documents":
        items: list[Any] = []
        for line in lines:
            if not line.strip():
                items.append(None)
                continue
            try:
                items.append(json.loads(line))
            except ValueError:
                items.append(line)  # reported as an invalid document
        return items
    if kind not in (None, ""):
        raise errors.bad_parameter(f"invalid value for 'type': {kind}")
    # No type: the first line holds attribute names, each further line values.
    rows = [json.loads(line) if line.strip() else None for line in lines]
    if not rows or not isinstance(rows[0], list):
        raise errors.bad_parameter("no JSON array found in first line")
    names = rows[0]
    return [
        dict(zip(names, row, strict=False)) if isinstance(row, list) else row for row in rows[1:]
    ]


def _prefixed(value: Any, prefix: str | None) -> Any:
    if prefix and isinstance(value, str) and "/" not in value:
        return f"{prefix.rstrip('/')}/{value}"
    return value


def import_documents(req: Request) -> Response:
    name = req.qstr("collection")
    if not name:
        raise ArangoError(400, 1204, "collection parameter missing")
    coll = req.db.collection(name)
    items = _import_items(req)
    on_duplicate = req.qstr("onDuplicate", "error")
    if on_duplicate not in ("error", "update", "replace", "ignore"):
        raise errors.bad_parameter(f"invalid value for 'onDuplicate': {on_duplicate}")
    complete, with_details = req.qbool("complete"), req.qbool("details")
    space = req.space(coll, for_write=True)
    undo = space.savepoint()
    if req.qbool("overwrite"):
        space.truncate()
    options = WriteOptions(skip_validation=req.qbool("skipDocumentValidation"))
    writer = DocumentWriter(space, options)
    from_prefix, to_prefix = req.qstr("fromPrefix"), req.qstr("toPrefix")
    counts = {"created": 0, "errors": 0, "empty": 0, "updated": 0, "ignored": 0}
    details: list[str] = []
    first_error: ArangoError | None = None

    for position, item in enumerate(items):
        if item is None:
            counts["empty"] += 1
            continue
        if not isinstance(item, dict):
            counts["errors"] += 1
            offending = item if isinstance(item, str) else json.dumps(item)
            details.append(
                f"at position {position}: invalid JSON type (expecting object, probably "
                f"parse error), offending document: {offending}"
            )
            first_error = first_error or ArangoError(
                400, errors.DOCUMENT_TYPE_INVALID, "invalid document type"
            )
            continue
        doc = dict(item)
        if "_from" in doc:
            doc["_from"] = _prefixed(doc["_from"], from_prefix)
        if "_to" in doc:
            doc["_to"] = _prefixed(doc["_to"], to_prefix)
        key = doc.get("_key")
        duplicate = isinstance(key, str) and space.get(key) is not None
        action = "creating"
        try:
            if duplicate and on_duplicate == "ignore":
                counts["ignored"] += 1
            elif duplicate and on_duplicate in ("update", "replace"):
                action = "updating" if on_duplicate == "update" else "replacing"
                op = writer.update if on_duplicate == "update" else writer.replace
                op(key, doc)
                counts["updated"] += 1
            else:
                writer.insert(doc)
                counts["created"] += 1
        except ArangoError as exc:
            counts["errors"] += 1
            first_error = first_error or exc
            details.append(
                f"at position {position}: {action} document failed with error "
                f"'{exc.message}', offending document: {json.dumps(item)}"
            )

    if complete and first_error is not None:
        undo()
        status = 409 if first_error.error_num == errors.UNIQUE_CONSTRAINT_VIOLATED else 400
        raise ArangoError(status, first_error.error_num, first_error.message)
    body: dict[str, Any] = {"error": False, **counts}
    if with_details:
        body["details"] = details
    return raw(body, 201)


def register(router: Router) -> None:
    c = r"/_api/document/(?P<collection>[^/]+)"
    k = c + r"/(?P<key>[^/]+)"
    router.add("POST", c, insert)
    router.add("PUT", c, replace_many)
    router.add("PATCH", c, update_many)
    router.add("DELETE", c, remove_many)
    router.add("GET", k, get_document)
    router.add("PUT", k, replace_document)
    router.add("PATCH", k, update_document)
    router.add("DELETE", k, remove_document)
    router.add("POST", r"/_api/import", import_documents)
