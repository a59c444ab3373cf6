"""A dumped database as the files arangodump writes, read straight from the chunk store.

``database_files(store, section)`` returns, for the ``database`` section of a manifest (see
spec/database.md), the files of an arangodump output directory, so that ``arangorestore
--input-directory DIR`` can load a snapshot without snapstore:

- ``dump.json``: ``database``, ``properties`` (the database's options, used by
  ``--create-database``), ``useEnvelope: false`` (one document per data line);
- per collection ``<name>.structure.json`` (``parameters``: the saved properties,
  ``indexes``: the saved indexes without the automatic primary and edge ones) and
  ``<name>.data.json``: the documents as JSON lines in ``_key`` order, exactly the canonical
  lines of the snapshot (``_key``, ``_rev``, ``_from``/``_to`` included, ``_id`` left out as
  arangorestore ignores it);
- per view ``<name>.view.json``;
- named graphs, analyzers and user-defined AQL functions as the system collections
  arangodump would write with ``--include-system-collections true`` (``_graphs``,
  ``_analyzers``, ``_aqlfunctions``): arangorestore loads them when given that option. An
  AQL function's document is the one ArangoDB keeps (arangod's ``registerUserFunction``):
  ``_key`` its name in upper case, ``name``, ``code`` wrapped as ``(CODE\n)`` (what
  ``GET /_api/aqlfunction`` strips again) and ``isDeterministic``.

A ``data.json`` is served from the document tree: streaming reads the leaves in order, and a
read at an offset descends the tree by the byte counts its nodes record, so a FUSE mount can
seek in a large collection without reading it from the start.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from snapstore.base.errors import CorruptData
from snapstore.sources.arangodb.doctree import iter_leaves, read_node
from snapstore.store.chunkstore import ChunkStore
from snapstore.tree.layout import DatabaseFile
from snapstore.tree.nodes import BytesContent, named, with_where

AUTOMATIC_INDEXES = {"primary", "edge"}
PIECE = 1 << 20  # bytes per read of a mount's sequential stream (``pieces``)


class DocumentsContent:
    """A collection's JSON lines (``<name>.data.json``), read from its document tree."""

    def __init__(
        self, store: ChunkStore, root: bytes | None, height: int, size: int, where: str
    ) -> None:
        self.store = store
        self.root = root
        self.height = height
        self.size = size
        self.where = where

    def chunk_ids(self) -> Iterator[bytes] | None:
        """The leaves in key order: a read plan fetches them with the other files' chunks
        (the inner nodes are read as the plan lists the ids)."""
        return iter_leaves(self.store, self.root, self.height, self.where)

    def chunks(self) -> Iterator[bytes]:
        leaves = iter_leaves(self.store, self.root, self.height, self.where)
        return named(self.store.read_many(leaves), self.where)

    def pieces(self, offset: int) -> Iterator[bytes]:
        while offset < self.size:
            piece = self.read(offset, PIECE)
            if not piece:
                return
            yield piece
            offset += len(piece)

    def read(self, offset: int, size: int) -> bytes:
        if self.root is None or size <= 0 or offset >= self.size:
            return b""
        end = min(offset + size, self.size)
        out = bytearray()
        self._collect(self.root, self.height, 0, offset, end, out)
        return bytes(out)

    def _collect(
        self, cid: bytes, level: int, start: int, offset: int, end: int, out: bytearray
    ) -> None:
        """Append the bytes in [offset, end) of the subtree ``cid`` that begins at ``start``."""
        if level == 0:
            try:
                data = self.store.read(cid)
            except CorruptData as err:
                raise with_where(err, self.where) from None
            out += data[max(0, offset - start) : end - start]
            return
        pos = start
        for e in read_node(self.store, cid, level, self.where):
            if pos >= end:
                return
            if pos + e.bytes > offset:
                self._collect(e.child, level - 1, pos, offset, end, out)
            pos += e.bytes


def _json(doc: Any) -> BytesContent:
    return BytesContent((json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode())


def _lines(docs: list[dict[str, Any]]) -> BytesContent:
    text = "".join(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n" for d in docs)
    return BytesContent(text.encode())


def _system_structure(name: str) -> BytesContent:
    return _json({"parameters": {"name": name, "type": 2, "isSystem": True}, "indexes": []})


def database_files(store: ChunkStore, section: dict[str, Any], snapshot: str) -> list[DatabaseFile]:
    """The arangodump files of one snapshot's database section, names sorted."""
    files: list[DatabaseFile] = [
        DatabaseFile(
            "dump.json",
            _json(
                {
                    "database": section.get("database"),
                    "lastTickAtDumpStart": "0",
                    "properties": section.get("properties") or {},
                    "useEnvelope": False,
                }
            ),
        )
    ]
    for name, entry in sorted((section.get("collections") or {}).items()):
        indexes = [i for i in entry.get("indexes") or [] if i.get("type") not in AUTOMATIC_INDEXES]
        files.append(
            DatabaseFile(
                f"{name}.structure.json",
                _json({"parameters": entry.get("properties") or {}, "indexes": indexes}),
            )
        )
        files.append(
            DatabaseFile(
                f"{name}.data.json",
                DocumentsContent(
                    store,
                    entry.get("root"),
                    int(entry.get("height") or 0),
                    int(entry.get("bytes") or 0),
                    f"snapshot {snapshot}: collection {name}",
                ),
            )
        )
    for view in section.get("views") or []:
        files.append(DatabaseFile(f"{view['name']}.view.json", _json(view)))
    graphs = [
        {k: v for k, v in g.items() if k not in ("_id", "_rev")} | {"_key": g.get("name")}
        for g in section.get("graphs") or []
    ]
    if graphs:
        files.append(DatabaseFile("_graphs.structure.json", _system_structure("_graphs")))
        files.append(DatabaseFile("_graphs.data.json", _lines(graphs)))
    analyzers = [dict(a) | {"_key": a.get("name")} for a in section.get("analyzers") or []]
    if analyzers:
        files.append(DatabaseFile("_analyzers.structure.json", _system_structure("_analyzers")))
        files.append(DatabaseFile("_analyzers.data.json", _lines(analyzers)))
    functions = [_function_document(f) for f in section.get("aql_functions") or []]
    if functions:
        files.append(
            DatabaseFile("_aqlfunctions.structure.json", _system_structure("_aqlfunctions"))
        )
        files.append(DatabaseFile("_aqlfunctions.data.json", _lines(functions)))
    return sorted(files, key=lambda f: f.name)


def _function_document(function: dict[str, Any]) -> dict[str, Any]:
    """A user-defined AQL function as its document in ``_aqlfunctions`` (module doc)."""
    name = str(function.get("name"))
    return {
        "_key": name.upper(),
        "name": name,
        "code": f"({function.get('code')}\n)",
        "isDeterministic": bool(function.get("isDeterministic", False)),
    }
