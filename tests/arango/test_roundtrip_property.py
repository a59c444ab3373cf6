"""Hypothesis: generated databases (collections, documents, indexes) round-trip exactly through
create and restore, whatever happened to the database in between."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.arango.conftest import ArangoDatabase
from tests.arango.dbstate import SnapWorkspace, collection_names, db_state, make_workspace

KEY_ALPHABET = "ABCXYZabcxyz0123456789_-:.@()+,=;$!*'%"
FIELDS = ["a", "b", "c", "nested", "ü"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
document_bodies = st.dictionaries(
    st.text(min_size=1, max_size=6).filter(lambda s: not s.startswith("_"))
    | st.sampled_from(FIELDS),
    json_values,
    max_size=5,
)


@st.composite
def collections(draw: st.DrawFn) -> dict[str, Any]:
    edge = draw(st.booleans())
    keys = draw(
        st.lists(st.text(alphabet=KEY_ALPHABET, min_size=1, max_size=30), max_size=40, unique=True)
    )
    docs = []
    for key in keys:
        doc = {"_key": key, **draw(document_bodies)}
        if edge:
            doc["_from"] = f"v/{draw(st.text(alphabet=KEY_ALPHABET, min_size=1, max_size=5))}"
            doc["_to"] = f"w/{draw(st.text(alphabet=KEY_ALPHABET, min_size=1, max_size=5))}"
        docs.append(doc)
    indexes = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.just("persistent"),
                    "fields": st.lists(
                        st.sampled_from(FIELDS), min_size=1, max_size=2, unique=True
                    ),
                    "sparse": st.booleans(),
                }
            ),
            max_size=2,
            unique_by=lambda i: tuple(i["fields"]),
        )
    )
    return {
        "edge": edge,
        "docs": docs,
        "indexes": indexes,
        "wait": draw(st.booleans()),
        "generator": draw(st.sampled_from(["traditional", "padded", "uuid"])),
    }


databases = st.dictionaries(
    st.text(alphabet="abcxyzABC019_-", min_size=1, max_size=12).map(lambda s: "c" + s),
    collections(),
    max_size=3,
)
changes = st.lists(st.sampled_from(["drop", "truncate", "insert", "add-collection"]), max_size=3)


def build(db: Any, spec: dict[str, Any]) -> None:
    for name in collection_names(db):
        db.delete_collection(name)
    for name, c in spec.items():
        coll = db.create_collection(
            name, edge=c["edge"], sync=c["wait"], key_generator=c["generator"], user_keys=True
        )
        if c["docs"]:
            coll.insert_many(c["docs"], raise_on_document_error=True)
        for index in c["indexes"]:
            coll.add_index(dict(index))


def change(db: Any, spec: dict[str, Any], what: list[str]) -> None:
    names = sorted(spec)
    for i, w in enumerate(what):
        if w == "add-collection":
            db.create_collection(f"zz_extra{i}").insert({"x": i})
        elif names:
            name = names[i % len(names)]
            if not db.has_collection(name):
                continue
            if w == "drop":
                db.delete_collection(name)
            elif w == "truncate":
                db.collection(name).truncate()
            elif not spec[name]["edge"]:
                db.collection(name).insert({"added": True})


def _last_value(state: dict[str, Any], name: str) -> int:
    value = state["collections"][name]["properties"].get("keyOptions", {}).get("lastValue")
    return int(value or 0)


def _without_last_values(state: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(state)
    for entry in out["collections"].values():
        entry["properties"].get("keyOptions", {}).pop("lastValue", None)
    return out


@pytest.fixture
def sw(arango_db: ArangoDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SnapWorkspace:
    return make_workspace(arango_db, tmp_path, monkeypatch)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(databases, changes)
def test_generated_databases_round_trip(
    sw: SnapWorkspace, spec: dict[str, Any], what: list[str]
) -> None:
    db = sw.db()
    build(db, spec)
    before = db_state(db)
    manager = sw.manager()
    name = manager.create("gen", include_bulk=False).snapshot.snapshot_name
    change(db, spec, what)
    manager.restore_snapshot(name, confirm=True, restore_bulk=False, safety_snapshot=False)
    after = db_state(db)
    # A collection restored by difference keeps its live keyOptions.lastValue, which never
    # goes below the snapshot's (spec/database.md, Restore by difference); all else is equal.
    for name_ in before["collections"]:
        assert _last_value(after, name_) >= _last_value(before, name_)
    assert _without_last_values(after) == _without_last_values(before)
