"""Stream transactions: snapshot reads, private writes, commit, abort, idle expiry.

At begin the transaction takes a copy-on-write snapshot of every collection
of its database (store.py), so all its reads see the state as of begin,
including collections it did not declare.  Writes go to a private copy of a
collection's map and are applied to the live collections at commit.  A write
to a document that someone else changed after begin fails with 409/1200
(write-write conflict), like RocksDB.  The key generators are not
transactional (neither are ArangoDB's).

Status codes, modelled on ArangoDB's transaction Manager:

* unknown id, or a committed transaction used again: 404/1655;
* an aborted or idle-expired transaction used again: 410/1654 (the errorNum
  for 410 is an assumption, docs develop/http-api/transactions/stream-transactions);
* commit after abort, or abort after commit: 400/1653;
* commit of a transaction that idled out: 410/1654 (it becomes "aborted").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from . import errors
from .errors import ArangoError
from .store import Collection, Database, Doc

RUNNING, COMMITTED, ABORTED = "running", "committed", "aborted"


@dataclass
class _CollectionState:
    """One collection as a transaction sees it."""

    base: Mapping[str, Doc]
    private: dict[str, Doc] | None = None
    changed: dict[str, None] = field(default_factory=dict)  # ordered set of keys

    def view(self) -> Mapping[str, Doc]:
        return self.private if self.private is not None else self.base

    def writable(self) -> dict[str, Doc]:
        if self.private is None:
            self.private = dict(self.base)
        return self.private


@dataclass
class StreamTransaction:
    id: str
    db: Database
    write_ids: set[str]  # ids of collections declared write or exclusive
    read_ids: set[str]
    allow_implicit: bool
    last_used: float
    status: str = RUNNING
    expired: bool = False
    states: dict[str, _CollectionState] = field(default_factory=dict)

    @classmethod
    def begin(cls, trx_id: str, db: Database, body: Mapping, now: float) -> StreamTransaction:
        spec = body.get("collections") or {}
        if not isinstance(spec, dict):
            raise errors.bad_parameter("'collections' must be an object")

        def resolve(kind: str) -> set[str]:
            names = spec.get(kind) or []
            if isinstance(names, str):
                names = [names]
            if not isinstance(names, list):
                raise errors.bad_parameter(f"'collections.{kind}' must be an array")
            return {db.collection(name).id for name in names}  # 404/1203 if unknown

        write_ids = resolve("write") | resolve("exclusive")
        trx = cls(
            id=trx_id,
            db=db,
            write_ids=write_ids,
            read_ids=resolve("read") | write_ids,
            allow_implicit=bool(body.get("allowImplicit", True)),
            last_used=now,
        )
        for collection in db.collections.values():
            trx.states[collection.id] = _CollectionState(base=collection.snapshot())
        return trx

    def _state(self, collection: Collection) -> _CollectionState:
        state = self.states.get(collection.id)
        if state is None:  # created after begin: its state as of first use
            state = self.states[collection.id] = _CollectionState(base=collection.snapshot())
        return state

    def space(self, collection: Collection, for_write: bool) -> TrxSpace:
        if for_write and collection.id not in self.write_ids:
            raise ArangoError(
                400,
                errors.TRANSACTION_UNREGISTERED_COLLECTION,
                f"unregistered collection used in transaction: {collection.name} "
                "(not declared for writing)",
            )
        if not self.allow_implicit and collection.id not in self.read_ids:
            raise ArangoError(
                400,
                errors.TRANSACTION_UNREGISTERED_COLLECTION,
                f"unregistered collection used in transaction: {collection.name}",
            )
        return TrxSpace(collection, self._state(collection))

    def apply(self) -> None:
        """Commit: copy every changed key into the live collections."""
        live = {c.id: c for c in self.db.collections.values()}
        for collection_id, state in self.states.items():
            collection = live.get(collection_id)
            if collection is None or not state.changed:
                continue  # dropped meanwhile, or untouched
            docs = collection.writable()
            view = state.view()
            for key in state.changed:
                docs.pop(key, None)
                if key in view:
                    docs[key] = view[key]
        self.states.clear()

    def discard(self) -> None:
        self.states.clear()


class TrxSpace:
    """DocSpace over a transaction's snapshot plus its own writes."""

    def __init__(self, collection: Collection, state: _CollectionState) -> None:
        self.collection = collection
        self._state = state

    def docs(self) -> Mapping[str, Doc]:
        return self._state.view()

    def get(self, key: str) -> Doc | None:
        return self._state.view().get(key)

    def _check_conflict(self, key: str) -> None:
        # Someone else committed a change to this key after our snapshot.
        if key in self._state.changed:
            return
        ours, theirs = self._state.base.get(key), self.collection.docs.get(key)
        if (ours or {}).get("_rev") != (theirs or {}).get("_rev"):
            raise ArangoError(409, errors.CONFLICT, f"write-write conflict, key: {key}")

    def put(self, doc: Doc) -> None:
        key = doc["_key"]
        self._check_conflict(key)
        docs = self._state.writable()
        docs.pop(key, None)
        docs[key] = doc
        self._state.changed[key] = None

    def delete(self, key: str) -> None:
        self._check_conflict(key)
        self._state.writable().pop(key, None)
        self._state.changed[key] = None

    def truncate(self) -> None:
        for key in self._state.view():
            self._state.changed[key] = None
        self._state.private = {}

    def savepoint(self) -> Callable[[], None]:
        state = self._state
        private = dict(state.private) if state.private is not None else None
        changed = dict(state.changed)

        def restore() -> None:
            state.private, state.changed = private, changed

        return restore


class TransactionRegistry:
    """All stream transactions of the server, with their final states kept.

    `clock()` is the server clock and `idle_timeout()` the current setting
    (both callables, so tests can change them while the server runs).
    """

    def __init__(self, clock: Callable[[], float], idle_timeout: Callable[[], float]) -> None:
        self._all: dict[str, StreamTransaction] = {}
        self._clock = clock
        self._idle_timeout = idle_timeout

    def begin(self, trx_id: str, db: Database, body: Mapping) -> StreamTransaction:
        trx = StreamTransaction.begin(trx_id, db, body, self._clock())
        self._all[trx.id] = trx
        return trx

    def clear(self) -> None:
        self._all.clear()

    def _expire(self, trx: StreamTransaction) -> None:
        if trx.status == RUNNING and self._clock() - trx.last_used > self._idle_timeout():
            trx.status, trx.expired = ABORTED, True
            trx.discard()

    def expire_idle(self) -> None:
        for trx in self._all.values():
            self._expire(trx)

    def find(self, trx_id: str, db: Database) -> StreamTransaction:
        trx = self._all.get(trx_id)
        if trx is None or trx.db is not db:
            raise _not_found(trx_id)
        self._expire(trx)
        return trx

    def lease(self, trx_id: str, db: Database) -> StreamTransaction:
        """A running transaction for an operation that carries x-arango-trx-id."""
        trx = self.find(trx_id, db)
        if trx.status == COMMITTED:
            raise _not_found(trx_id)
        if trx.status == ABORTED:
            raise gone(trx)
        self.touch(trx)
        return trx

    def touch(self, trx: StreamTransaction) -> None:
        trx.last_used = self._clock()

    def commit(self, trx_id: str, db: Database) -> StreamTransaction:
        trx = self.find(trx_id, db)
        if trx.status == RUNNING:
            trx.apply()
            trx.status = COMMITTED
        elif trx.expired:
            raise gone(trx)
        elif trx.status == ABORTED:
            raise ArangoError(
                400, errors.TRANSACTION_DISALLOWED_OPERATION, "transaction was already aborted"
            )
        return trx

    def abort(self, trx_id: str, db: Database) -> StreamTransaction:
        trx = self.find(trx_id, db)
        if trx.status == RUNNING:
            trx.discard()
            trx.status = ABORTED
        elif trx.status == COMMITTED:
            raise ArangoError(
                400, errors.TRANSACTION_DISALLOWED_OPERATION, "transaction was already committed"
            )
        return trx

    def running(self, db: Database) -> list[StreamTransaction]:
        return [t for t in self._all.values() if t.db is db and t.status == RUNNING]


def _not_found(trx_id: str) -> ArangoError:
    return ArangoError(404, errors.TRANSACTION_NOT_FOUND, f"transaction '{trx_id}' not found")


def gone(trx: StreamTransaction) -> ArangoError:
    """410/1654 for a transaction that was aborted or timed out."""
    reason = "timed out" if trx.expired else "aborted"
    return ArangoError(410, errors.TRANSACTION_ABORTED, f"transaction '{trx.id}' has been {reason}")
