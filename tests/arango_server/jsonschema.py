"""A small JSON Schema (draft-4) subset for collection schema validation.

Supported keywords: `type` (string or list; object, array, string, number,
integer, boolean, null), `properties`, `required`, `additionalProperties`
(boolean or schema), `items` (schema or list of schemas), `enum`, `const`,
`minimum`/`maximum` (with draft-4 boolean `exclusiveMinimum`/`exclusiveMaximum`),
`minLength`/`maxLength`, `minItems`/`maxItems`, `pattern`, and the combinators
`allOf`/`anyOf`/`oneOf`/`not`.  Unknown keywords are ignored, as JSON Schema
says.  `$ref` and `format` are not supported (ignored).

ArangoDB ignores the system attributes `_key`, `_id`, `_rev`, `_from` and `_to`
when validating, so `document_matches` strips them first.
"""

from __future__ import annotations

import re
from typing import Any

SYSTEM_ATTRIBUTES = ("_key", "_id", "_rev", "_from", "_to")


def document_matches(rule: dict[str, Any], document: dict[str, Any]) -> bool:
    """True if the document (without system attributes) satisfies the rule."""
    user_part = {k: v for k, v in document.items() if k not in SYSTEM_ATTRIBUTES}
    return matches(rule, user_part)


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "integer":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return float(value).is_integer()
    return True  # unknown type names do not constrain


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def matches(schema: Any, value: Any) -> bool:
    if schema is True or not isinstance(schema, dict):
        return schema is not False

    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_is_type(value, n) for n in names):
            return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "const" in schema and value != schema["const"]:
        return False

    if _number(value):
        if "minimum" in schema:
            low = schema["minimum"]
            if value < low or (schema.get("exclusiveMinimum") is True and value == low):
                return False
        if "maximum" in schema:
            high = schema["maximum"]
            if value > high or (schema.get("exclusiveMaximum") is True and value == high):
                return False

    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return False
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return False
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            return False

    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            return False
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return False
        items = schema.get("items")
        if isinstance(items, list):
            if not all(matches(s, v) for s, v in zip(items, value, strict=False)):
                return False
        elif items is not None and not all(matches(items, v) for v in value):
            return False

    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                return False
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            if name in value and not matches(sub, value[name]):
                return False
        additional = schema.get("additionalProperties", True)
        extra = [k for k in value if k not in properties]
        if additional is False and extra:
            return False
        if isinstance(additional, dict) and not all(matches(additional, value[k]) for k in extra):
            return False

    if "allOf" in schema and not all(matches(s, value) for s in schema["allOf"]):
        return False
    if "anyOf" in schema and not any(matches(s, value) for s in schema["anyOf"]):
        return False
    if "oneOf" in schema and sum(1 for s in schema["oneOf"] if matches(s, value)) != 1:
        return False
    return not ("not" in schema and matches(schema["not"], value))
