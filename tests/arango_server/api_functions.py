"""User-defined AQL functions (/_api/aqlfunction): register, list, delete.

As in ArangoDB, each database keeps its functions as documents in its `_aqlfunctions`
system collection. Shapes and errors follow the 3.12 HTTP docs
(develop/http-api/queries/user-defined-aql-functions): names are `namespace::name` (letters,
digits, `_`; at least one `::`), compared case-insensitively; registering answers 201 with
`isNewlyCreated: true`, or 200 with `false` when a function of that name was replaced;
invalid names are 400/1580, code that is not a JavaScript function 400/1581; deleting an
unknown function (or a group with no members) is 404/1582. Functions are stored, never run:
the AQL subset of this server has no function calls. Each is stored as arangod's
``registerUserFunction`` stores it (arangod/VocBase/Methods/AqlUserFunctions.cpp): ``_key``
the name in upper case, ``code`` wrapped as ``(CODE\n)``, which listing strips again (so a
dump's ``_aqlfunctions`` documents, restored as they are, list as the functions were).
"""

from __future__ import annotations

import re
from typing import Any

from . import errors
from .errors import ArangoError
from .keys import TICKS
from .routing import Request, Response, Router, ok
from .store import Database, LiveSpace

_NAME = re.compile(r"^[A-Za-z0-9_]+(::[A-Za-z0-9_]+)+$")
_ARROW = re.compile(r"^\(?[\w\s,]*\)?\s*=>")


def _collection(db: Database) -> Any:
    return db.collection("_aqlfunctions")


def _key(name: str) -> str:
    return name.upper()


def _json(doc: dict[str, Any]) -> dict[str, Any]:
    code = doc["code"][1:-1].strip()  # arangod's toArrayUserFunctions: unwrap, trim
    deterministic = doc.get("isDeterministic")
    return {"name": doc["name"], "code": code, "isDeterministic": deterministic is True}


def _check_code(code: Any) -> str:
    text = code.strip() if isinstance(code, str) else ""
    body = text.lstrip("(").lstrip()
    if not (body.startswith("function") or _ARROW.match(text)):
        raise ArangoError(
            400, errors.QUERY_FUNCTION_INVALID_CODE, "Invalid user-defined function code"
        )
    return code


def list_functions(req: Request) -> Response:
    namespace = req.qstr("namespace") or req.qstr("prefix") or ""
    prefix = namespace.upper().rstrip(":") + "::" if namespace else ""
    # As arangod, documents that do not hold a function (restored by hand) are skipped.
    docs = sorted(
        (
            d
            for d in _collection(req.db).docs.values()
            if isinstance(d.get("name"), str)
            and isinstance(d.get("code"), str)
            and len(d["code"]) > 2
        ),
        key=lambda d: d["name"].upper(),
    )
    return ok({"result": [_json(d) for d in docs if d["name"].upper().startswith(prefix)]})


def register_function(req: Request) -> Response:
    body = req.json_object()
    name = body.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ArangoError(
            400, errors.QUERY_FUNCTION_INVALID_NAME, "Invalid user-defined function name"
        )
    code = _check_code(body.get("code"))
    deterministic = body.get("isDeterministic", False)
    if not isinstance(deterministic, bool):
        raise errors.bad_parameter("'isDeterministic' must be a boolean")
    collection = _collection(req.db)
    key = _key(name)
    replaced = key in collection.docs
    doc = {
        "_key": key,
        "_id": f"_aqlfunctions/{key}",
        "_rev": TICKS.next_rev(),
        "name": name,
        "code": f"({code}\n)",
        "isDeterministic": deterministic,
    }
    LiveSpace(collection).put(doc)
    status = 200 if replaced else 201
    return ok({"isNewlyCreated": not replaced}, status=status)


def delete_function(req: Request, name: str) -> Response:
    collection = _collection(req.db)
    space = LiveSpace(collection)
    if req.qbool("group"):
        prefix = name.upper().rstrip(":") + "::"
        keys = [k for k, d in collection.docs.items() if d["name"].upper().startswith(prefix)]
    else:
        keys = [_key(name)] if _key(name) in collection.docs else []
    if not keys:
        raise ArangoError(
            404, errors.QUERY_FUNCTION_NOT_FOUND, f"no AQL user function with name '{name}' found"
        )
    for key in keys:
        space.delete(key)
    return ok({"deletedCount": len(keys)})


def register(router: Router) -> None:
    router.add("GET", r"/_api/aqlfunction", list_functions)
    router.add("POST", r"/_api/aqlfunction", register_function)
    router.add("DELETE", r"/_api/aqlfunction/(?P<name>[^/]+)", delete_function)
