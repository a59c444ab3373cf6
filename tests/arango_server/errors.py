"""ArangoDB error numbers and the one exception every handler raises.

A handler signals failure by raising `ArangoError(http_status, error_num, message)`;
the application layer turns it into ArangoDB's JSON error body
`{"error": true, "code": <http>, "errorNum": <num>, "errorMessage": <text>}`.
Numbers and texts follow ArangoDB 3.12's `errors.yaml` (lib/Basics/errors.dat in arangodb/arangodb).
"""

from __future__ import annotations

from typing import Any

# errorNum values used by the server (names as in ArangoDB's errors.yaml).
INTERNAL = 4
BAD_PARAMETER = 10
FORBIDDEN = 11
LOCKED = 28
ONLY_ENTERPRISE = 31
HTTP_NOT_FOUND = 404
HTTP_METHOD_NOT_ALLOWED = 405
CORRUPTED_JSON = 600
CONFLICT = 1200
DOCUMENT_NOT_FOUND = 1202
DATA_SOURCE_NOT_FOUND = 1203
DUPLICATE_NAME = 1207
ILLEGAL_NAME = 1208
UNIQUE_CONSTRAINT_VIOLATED = 1210
INDEX_NOT_FOUND = 1212
DOCUMENT_KEY_BAD = 1221
DOCUMENT_KEY_UNEXPECTED = 1222
DOCUMENT_KEY_MISSING = 1226
DOCUMENT_TYPE_INVALID = 1227
DATABASE_NOT_FOUND = 1228
DATABASE_NAME_INVALID = 1229
USE_SYSTEM_DATABASE = 1230
INVALID_KEY_GENERATOR = 1232
INVALID_EDGE_ATTRIBUTE = 1233
COLLECTION_TYPE_MISMATCH = 1237
CLUSTER_INSUFFICIENT_DBSERVERS = 1487
CLUSTER_CHAIN_OF_DISTRIBUTESHARDSLIKE = 1484
CLUSTER_MUST_NOT_DROP_COLL_OTHER_DISTRIBUTESHARDSLIKE = 1485
CLUSTER_UNKNOWN_DISTRIBUTESHARDSLIKE = 1486
QUERY_PARSE = 1501
QUERY_BIND_PARAMETER_MISSING = 1551
QUERY_BIND_PARAMETER_UNDECLARED = 1552
QUERY_BIND_PARAMETER_TYPE = 1553
QUERY_FUNCTION_INVALID_NAME = 1580
QUERY_FUNCTION_INVALID_CODE = 1581
QUERY_FUNCTION_NOT_FOUND = 1582
CURSOR_NOT_FOUND = 1600
VALIDATION_FAILED = 1620
TRANSACTION_UNREGISTERED_COLLECTION = 1652
TRANSACTION_DISALLOWED_OPERATION = 1653
TRANSACTION_ABORTED = 1654
TRANSACTION_NOT_FOUND = 1655
GRAPH_CREATE_MISSING_NAME = 1922
GRAPH_CREATE_MALFORMED_EDGE_DEFINITION = 1923
GRAPH_NOT_FOUND = 1924
GRAPH_DUPLICATE = 1925
GRAPH_COLLECTION_USE_IN_MULTI_GRAPHS = 1921
GRAPH_MUST_NOT_DROP_COLLECTION = 1942


class ArangoError(Exception):
    """A failed operation, carrying the HTTP status and ArangoDB errorNum."""

    def __init__(
        self, http_status: int, error_num: int, message: str, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.error_num = error_num
        self.message = message
        # Extra attributes some errors carry next to the standard four
        # (e.g. `_id`, `_key`, `_rev` on a 412 precondition failure).
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """The JSON error body ArangoDB sends for this error."""
        return {
            "error": True,
            "code": self.http_status,
            "errorNum": self.error_num,
            "errorMessage": self.message,
            **self.extra,
        }

    def item(self) -> dict[str, Any]:
        """The per-item error object inside a multi-document (array) response."""
        return {"error": True, "errorNum": self.error_num, "errorMessage": self.message}


# Constructors for the errors raised from many places, so the texts stay consistent.


def collection_not_found(name: str = "") -> ArangoError:
    suffix = f": {name}" if name else ""
    return ArangoError(404, DATA_SOURCE_NOT_FOUND, f"collection or view not found{suffix}")


def document_not_found() -> ArangoError:
    return ArangoError(404, DOCUMENT_NOT_FOUND, "document not found")


def bad_parameter(message: str = "bad parameter") -> ArangoError:
    return ArangoError(400, BAD_PARAMETER, message)


def unique_violated(index_name: str, index_type: str, fields: list[str], key: str) -> ArangoError:
    over = ", ".join(f"'{f}'" for f in fields)
    return ArangoError(
        409,
        UNIQUE_CONSTRAINT_VIOLATED,
        f"unique constraint violated - in index {index_name} of type {index_type} "
        f"over {over}; conflicting key: {key}",
    )
