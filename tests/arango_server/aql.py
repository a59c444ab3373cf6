"""The handful of AQL query shapes the server understands, matched by regex.

This is not an AQL implementation.  Exactly these shapes are accepted
(whitespace-insensitive, keywords case-insensitive, any loop-variable name,
any bind-parameter names; `LIMIT` takes a bind parameter or an integer
literal, `SORT` may say `ASC`):

    FOR d IN @@c RETURN d
    FOR d IN @@c SORT d._key RETURN d
    FOR d IN @@c SORT d._key LIMIT @n RETURN d
    FOR d IN @@c FILTER d._key > @last SORT d._key LIMIT @n RETURN d
    FOR d IN @@c FILTER d._key IN @keys RETURN d
    FOR d IN @@c RETURN [d._key, d._rev]
    FOR d IN @@c SORT d._key RETURN [d._key, d._rev]
    RETURN LENGTH(@@c)

Anything else is answered with 400/1501.  `SORT d._key` and `d._key > @last`
use the UTF-8 byte order of the keys.  A full scan (`FOR d IN @@c RETURN d`)
returns documents in last-write order, not key order, like RocksDB.
`FILTER d._key IN @keys` returns the matching documents sorted by key (the
primary index looks the sorted, de-duplicated values up).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import errors
from .errors import ArangoError
from .store import Doc

_V = r"(?P<v>[A-Za-z_][A-Za-z0-9_]*)"
_C = r"@@(?P<c>\w+)"
_KEY = r"(?P=v)\s*\.\s*_key"
_SORT = rf"SORT\s+{_KEY}(?:\s+ASC)?"
_LIMIT = r"LIMIT\s+(?:@(?P<n>\w+)|(?P<literal>\d+))"
_FOR = rf"FOR\s+{_V}\s+IN\s+{_C}"
_RET = r"RETURN\s+(?P=v)"

_SHAPES: list[tuple[str, re.Pattern[str]]] = [
    (kind, re.compile(rf"^\s*{pattern}\s*;?\s*$", re.IGNORECASE))
    for kind, pattern in [
        ("scan", rf"{_FOR}\s+{_RET}"),
        ("sorted", rf"{_FOR}\s+{_SORT}\s+{_RET}"),
        ("sorted", rf"{_FOR}\s+{_SORT}\s+{_LIMIT}\s+{_RET}"),
        (
            "after",
            rf"{_FOR}\s+FILTER\s+{_KEY}\s*>\s*@(?P<last>\w+)\s+{_SORT}\s+{_LIMIT}\s+{_RET}",
        ),
        ("keys", rf"{_FOR}\s+FILTER\s+{_KEY}\s+IN\s+@(?P<keys>\w+)\s+{_RET}"),
        ("revisions", rf"{_FOR}\s+RETURN\s*\[\s*{_KEY}\s*,\s*(?P=v)\s*\.\s*_rev\s*\]"),
        (
            "sorted_revisions",
            rf"{_FOR}\s+{_SORT}\s+RETURN\s*\[\s*{_KEY}\s*,\s*(?P=v)\s*\.\s*_rev\s*\]",
        ),
        ("length", rf"RETURN\s+LENGTH\s*\(\s*{_C}\s*\)"),
    ]
]
_BIND_NAMES = re.compile(r"@(@?\w+)")


@dataclass(frozen=True)
class Query:
    kind: str
    collection: str
    last: Any = None
    keys: Any = None
    limit: int | None = None


def _type_rank(value: Any) -> int:
    """AQL's type order: null < bool < number < string < array < object."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return 1
    if isinstance(value, int | float):
        return 2
    if isinstance(value, str):
        return 3
    return 4 if isinstance(value, list) else 5


def _key_after(key: str, last: Any) -> bool:
    if isinstance(last, str):
        return key.encode() > last.encode()
    return _type_rank(key) > _type_rank(last)


def parse(query: Any, bind_vars: Any) -> Query:
    """Match the query text against the known shapes and check its bind parameters."""
    if not isinstance(query, str) or not query.strip():
        raise ArangoError(400, errors.QUERY_PARSE, "query is empty")
    bind_vars = bind_vars or {}
    if not isinstance(bind_vars, dict):
        raise ArangoError(400, errors.BAD_PARAMETER, "'bindVars' must be an object")
    shape, match = next(
        ((kind, m) for kind, pattern in _SHAPES if (m := pattern.match(query))), ("", None)
    )
    if match is None:
        raise ArangoError(
            400,
            errors.QUERY_PARSE,
            "AQL: syntax error or query shape not supported by the test server "
            f"(see tests/arango_server/aql.py): {query.strip()[:200]}",
        )

    declared = set(_BIND_NAMES.findall(query))
    for name in sorted(declared):
        if name not in bind_vars:
            raise ArangoError(
                400,
                errors.QUERY_BIND_PARAMETER_MISSING,
                f"AQL: no value specified for declared bind parameter '{name}' (while parsing)",
            )
    for name in sorted(bind_vars):
        if name not in declared:
            raise ArangoError(
                400,
                errors.QUERY_BIND_PARAMETER_UNDECLARED,
                f"AQL: bind parameter '{name}' was not declared in the query (while parsing)",
            )

    groups = match.groupdict()
    collection = bind_vars["@" + groups["c"]]
    if not isinstance(collection, str):
        raise ArangoError(
            400,
            errors.QUERY_BIND_PARAMETER_TYPE,
            f"AQL: bind parameter '@{groups['c']}' has an invalid value or type (while parsing)",
        )
    limit = None
    if groups.get("n"):
        limit = bind_vars[groups["n"]]
        if isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0:
            raise ArangoError(
                400,
                errors.QUERY_BIND_PARAMETER_TYPE,
                f"AQL: bind parameter '{groups['n']}' has an invalid value or type",
            )
        limit = int(limit)
    elif groups.get("literal"):
        limit = int(groups["literal"])
    return Query(
        kind=shape,
        collection=collection,
        last=bind_vars.get(groups["last"]) if groups.get("last") else None,
        keys=bind_vars.get(groups["keys"]) if groups.get("keys") else None,
        limit=limit,
    )


def execute(
    query: Query, read: Callable[[str], Mapping[str, Doc]], collation: bool = False
) -> list[Any]:
    """Run a parsed query; `read(name)` gives a collection's visible documents.

    `collation` sorts keys the way AQL compares strings (ICU collation, approximated as
    case-insensitive first: `A, a, B, b`), as a Coordinator merging shards does, instead of
    the primary index's byte order (ArangoDB docs: aql/high-level-operations/sort, "primary index").
    """
    docs = read(query.collection)
    if query.kind == "length":
        return [len(docs)]
    if query.kind == "scan":
        return list(docs.values())
    if query.kind == "revisions":
        return [[d["_key"], d["_rev"]] for d in docs.values()]
    if query.kind == "keys":
        wanted = query.keys if isinstance(query.keys, list) else []
        keys = sorted({k for k in wanted if isinstance(k, str)}, key=str.encode)
        return [docs[k] for k in keys if k in docs]
    keys = sorted(docs, key=(lambda k: (k.casefold(), k)) if collation else str.encode)
    if query.kind == "sorted_revisions":
        return [[k, docs[k]["_rev"]] for k in keys]
    if query.kind == "after":
        keys = [k for k in keys if _key_after(k, query.last)]
    if query.limit is not None:
        keys = keys[: query.limit]
    return [docs[k] for k in keys]
