"""Sending chunks from one repository to another (spec/copy.md, "What is sent").

A :class:`Sender` moves chunks from a source chunk store to a destination chunk store. It
asks the destination's index which chunks it lacks, reads only those from the source with
batched ranged reads (``ChunkStore.read_many``: every chunk is verified against its source
id there), and adds them through the destination's normal write pipeline
(``store.pipeline.AddPipeline``: hashed with the destination's id function, compressed, packed).
Nothing here writes an index object or a manifest: the caller flushes, then publishes.

When the two repositories name chunks alike, ``send`` keeps every id. When they do not
(different keys, spec/copy.md "Re-identification"), ``translate`` returns the destination's
id of each source chunk; the answers are remembered in an :class:`IdMap`, so that a chunk the
destination already holds under its own id is neither read nor sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import blake3

from snapstore.ops.copy_ids import IdMap
from snapstore.store.chunker import Chunker
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.ids import ID_SIZE
from snapstore.store.pipeline import AddPipeline, Slot

# Chunk ids looked up (and read) together: one index query and one run of ranged reads.
BATCH = 1024


@dataclass
class Plan:
    """What a dry run would send: chunks and their uncompressed bytes."""

    chunks: int = 0
    bytes: int = 0


def _file_key(ids: tuple[bytes, ...]) -> bytes:
    """The id map's key for a file's content: 33 bytes, so never a chunk id's 32."""
    return b"F" + blake3.blake3(b"".join(ids)).digest()


def _split(value: bytes) -> tuple[bytes, ...]:
    return tuple(value[i : i + ID_SIZE] for i in range(0, len(value), ID_SIZE))


class _FileStream:
    """One file's bytes as a readable stream, pulled chunk by chunk from ``chunks`` (shared
    by the files of a batch: this one takes exactly its ``count`` chunks, then ends)."""

    def __init__(self, chunks: Iterator[bytes], count: int) -> None:
        self._chunks = chunks
        self._left = count
        self._buf = memoryview(b"")

    def read(self, n: int) -> bytes:
        if not self._buf:
            if not self._left:
                return b""
            self._buf = memoryview(next(self._chunks))
            self._left -= 1
        out, self._buf = self._buf[:n], self._buf[n:]
        return bytes(out)


def batches(ids: Iterable[bytes], size: int = BATCH) -> Iterator[list[bytes]]:
    it = iter(ids)
    while batch := list(islice(it, size)):
        yield batch


class Sender:
    """Chunks from ``src`` into ``dst`` for one copy run (use from one thread). What it added
    is counted by ``dst.stats`` (the chunk store's own counters); ``reused`` counts the
    chunks the destination already held."""

    def __init__(
        self,
        src: ChunkStore,
        dst: ChunkStore,
        ids: IdMap | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.src = src
        self.dst = dst
        self.ids = ids  # None: both repositories name chunks alike
        # Different ids and different chunkers: file contents are cut again (``recut``).
        same_cuts = src.identity.chunker == dst.identity.chunker
        self.chunker = None if ids is None or same_cuts else Chunker(dst.identity)
        self.reused = 0
        self._advance = progress or (lambda n: None)
        self._pipe = AddPipeline(dst)
        self._planned: set[bytes] = set()  # a dry run: counted already

    def close(self) -> None:
        self._pipe.close()

    def drain(self) -> None:
        """Apply every chunk handed to the destination's pipeline (before a flush)."""
        self._pipe.drain()

    def send(self, ids: Iterable[bytes]) -> None:
        """Same ids on both sides: add to ``dst`` every chunk of ``ids`` it lacks."""
        for batch in batches(ids):
            unique = list(dict.fromkeys(batch))
            lacking = self.dst.missing(unique)
            want = [cid for cid in unique if cid in lacking]
            self.reused += len(unique) - len(want)
            for data in self.src.read_many(want):
                self._pipe.submit(data)
                self._advance(len(data))

    def translate(self, ids: list[bytes]) -> list[bytes]:
        """Different ids: the destination's id of each source chunk in ``ids`` (in order),
        adding to ``dst`` each chunk it lacks."""
        assert self.ids is not None
        unique = list(dict.fromkeys(ids))
        known = self.ids.lookup(unique)
        gone = self.dst.missing(set(known.values()))
        out = {s: d for s, d in known.items() if d not in gone}
        self.reused += len(out)
        todo = [cid for cid in unique if cid not in out]
        slots = []
        for cid, data in zip(todo, self.src.read_many(todo), strict=True):
            slots.append((cid, self._pipe.submit(data)))
            self._advance(len(data))
        self._pipe.drain()
        fresh: dict[bytes, bytes] = {}
        for cid, slot in slots:
            assert slot.id is not None
            fresh[cid] = out[cid] = slot.id
        self.ids.remember(fresh)
        return [out[cid] for cid in ids]

    def recut(self, files: list[tuple[tuple[bytes, ...], int]]) -> list[tuple[bytes, ...]]:
        """Different chunkers: each file (its source chunk ids, its size) cut again with the
        destination's chunker and stored; the new chunk ids of each, in order. A file whose
        content an earlier copy re-cut, and whose chunks the destination still holds, is
        neither read nor cut again (the id map remembers it under its content's key)."""
        assert self.ids is not None and self.chunker is not None
        keys = [_file_key(ids) for ids, _ in files]
        known = {k: _split(v) for k, v in self.ids.lookup(set(keys)).items()}
        gone = self.dst.missing({cid for ids in known.values() for cid in ids})
        known = {k: ids for k, ids in known.items() if not gone.intersection(ids)}
        todo = [(k, f) for k, f in zip(keys, files, strict=True) if k not in known]
        todo = list({k: f for k, f in todo}.items())
        self.reused += sum(len(known[k]) for k in keys if k in known)
        chunks = self.src.read_many(cid for _, (ids, _) in todo for cid in ids)
        fresh: dict[bytes, list[Slot]] = {}
        for key, (ids, size) in todo:
            stream = _FileStream(chunks, len(ids))
            fresh[key] = [self._pipe.submit(p) for p in self.chunker.cut_stream(stream, size)]
            self._advance(size)
        self._pipe.drain()
        for key, slots in fresh.items():
            known[key] = tuple(slot.id for slot in slots if slot.id is not None)
        self.ids.remember({k: b"".join(known[k]) for k in fresh})
        return [known[k] for k in keys]

    def known(self, cid: bytes) -> bytes | None:
        """The destination's id of a rewritten chunk (a document-tree node) when an earlier
        copy rewrote the same source chunk and the destination still holds the result."""
        assert self.ids is not None
        got = self.ids.lookup([cid]).get(cid)
        if got is None or self.dst.missing([got]):
            return None
        self.reused += 1
        return got

    def put(self, data: bytes, source_id: bytes | None = None) -> bytes:
        """Add a rewritten chunk (a tree node) to ``dst``; its new id. ``source_id``: the
        chunk it stands for, remembered for the next copy."""
        self._pipe.drain()
        cid = self.dst.add(data)[0]
        if source_id is not None and self.ids is not None:
            self.ids.remember({source_id: cid})
        return cid

    def plan(self, ids: Iterable[bytes], out: Plan | None = None) -> Plan:
        """A dry run: which of the chunks ``ids`` would be sent (only sizes are read). With
        different ids, a chunk the id map cannot vouch for counts as to send."""
        out = out or Plan()
        for batch in batches(ids):
            unique = [cid for cid in dict.fromkeys(batch) if cid not in self._planned]
            if self.ids is None:
                lacking = self.dst.missing(unique)
            else:
                known = self.ids.lookup(unique)
                gone = self.dst.missing(set(known.values()))
                lacking = {cid for cid in unique if cid not in known or known[cid] in gone}
            self._planned |= lacking
            out.chunks += len(lacking)
            out.bytes += self._raw_size(sorted(lacking))
        return out

    def plan_files(self, files: list[tuple[tuple[bytes, ...], int]], out: Plan) -> None:
        """A dry run of ``recut``: the files the id map cannot vouch for count with their
        source chunks and their size."""
        assert self.ids is not None
        keys = [_file_key(ids) for ids, _ in files]
        known = {k: _split(v) for k, v in self.ids.lookup(set(keys)).items()}
        gone = self.dst.missing({cid for ids in known.values() for cid in ids})
        for key, (ids, size) in zip(keys, files, strict=True):
            if key in self._planned or (key in known and not gone.intersection(known[key])):
                continue
            self._planned.add(key)
            out.chunks += len(ids)
            out.bytes += size

    def _raw_size(self, ids: list[bytes]) -> int:
        total = 0
        for cid, loc in zip(ids, self.src.durable_locations(ids), strict=True):
            total += loc.raw_length if loc is not None else len(self.src.read(cid))  # archived
        return total
