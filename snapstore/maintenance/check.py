"""Repository check: is every promise of the format kept?

Structure (always): the config reads; every index object decodes; every indexed pack exists and
is long enough for its entries; every manifest decodes and matches its checksum, and every
predecessor it names exists (spec/manifest.md: a manifest removed outside snapstore); every
chunk a manifest references is indexed. Each snapshot passes the checks restore makes before
it writes anything (spec/restore.md, "Hostile listings"): its root paths and labels
(``sources.files.restore.checks.check_roots``) and each listing as one tree in listing order
(``tree.bulk.TreeChecker``, the same object restore runs), and each file's chunks add up to
the size its entry records. With ``read_data``: every pack is read in full, its
name matches its hash, its table of contents matches the index, and every chunk decompresses
to bytes that match its id.

Problems that lose data are errors (named by snapshot and path); leftovers of interrupted
writes that only waste space (packs no index names) are warnings that the next gc removes, and
so are format-1 manifests, which carry no checksum.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import blake3

from snapstore.backend import Backend, Kind
from snapstore.base.errors import CorruptData, ObjectNotFound
from snapstore.base.reporting import Reporter
from snapstore.crypto.backend import EncryptedBackend
from snapstore.crypto.keyring import damaged_keys
from snapstore.maintenance.references import Ref, iter_database_references
from snapstore.manifest.catalog import Catalog
from snapstore.manifest.listing import load_listing, show_path
from snapstore.manifest.schema import Manifest
from snapstore.sources.files.restore.checks import check_roots
from snapstore.sources.registry import section_references
from snapstore.store.archive_format import ArchivedChunk
from snapstore.store.archives import check_archives
from snapstore.store.cache import Location
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.ids import short
from snapstore.store.index import IndexObject
from snapstore.store.packs import TRAILER_SIZE, read_whole
from snapstore.tree.bulk import TreeChecker

MAX_PER_SNAPSHOT = 20


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    snapshots: int = 0
    packs: int = 0
    chunks: int = 0
    bytes_read: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, object]:
        """``check --json`` (spec/cli.md)."""
        return {
            "ok": self.ok,
            "errors": self.errors,
            "warnings": self.warnings,
            "snapshots": self.snapshots,
            "packs": self.packs,
            "chunks": self.chunks,
            "bytes_read": self.bytes_read,
        }


def _read_index(backend: Backend, report: CheckReport) -> dict[bytes, Location]:
    objects: dict[str, IndexObject] = {}
    for obj in backend.list(Kind.INDEX):
        try:
            objects[obj.name] = IndexObject.decode(backend.get(Kind.INDEX, obj.name), obj.name)
        except (CorruptData, ObjectNotFound) as e:
            report.errors.append(str(e))
    index: dict[bytes, Location] = {}
    for index_obj in objects.values():
        for pack, entries in index_obj.packs.items():
            for entry in entries:
                index.setdefault(
                    entry.id,
                    Location(pack, entry.offset, entry.length, entry.raw_length, entry.method),
                )
    return index


def check_repository(
    backend: Backend, store: ChunkStore, *, read_data: bool, reporter: Reporter
) -> CheckReport:
    """Check the index against the packs, the archives, and every snapshot's references
    (with ``read_data``, every stored chunk is read and verified too)."""
    report = CheckReport()
    if isinstance(backend, EncryptedBackend):  # every key object whole (spec/encryption.md)
        report.errors.extend(damaged_keys(backend))
    index = _read_index(backend, report)
    report.chunks = len(index)
    pack_sizes = {o.name: o.size for o in backend.list(Kind.PACKS)}
    missing_packs = _check_packs(index, pack_sizes, report)
    bad_chunks: dict[bytes, str] = {}
    if read_data:
        bad_chunks = _read_packs(backend, store, index, pack_sizes, report, reporter)
    # Cold archives (store/archives.py): their chunks are stored too.
    archived, archive_bad = check_archives(
        backend, report, read_data=read_data, identity=store.identity, codec=store.codec
    )
    bad_chunks.update(archive_bad)
    found = Found(index, archived, archive_bad, missing_packs, bad_chunks)

    listing = Catalog(backend).load_all()
    report.errors.extend(listing.problems)  # damaged, and removed outside snapstore
    legacy = sorted(m.name for m in listing.manifests if not m.checksummed)
    if legacy:
        report.warnings.append(
            f"{len(legacy)} snapshot(s) have manifests in format 1, without a checksum (first: "
            f"{legacy[0]}): a changed byte in them may go unnoticed; each is rewritten in "
            "format 2 when it next changes (pin, unpin, archive)"
        )
    manifests = sorted(listing.manifests, key=lambda m: m.name)
    reporter.start("Checking snapshots", len(manifests))
    for manifest in manifests:
        report.snapshots += 1
        _check_snapshot(manifest, store, found, report)
        reporter.advance(1)
    reporter.finish()
    return report


def _check_packs(
    index: dict[bytes, Location], sizes: dict[str, int], report: CheckReport
) -> set[str]:
    """Every indexed pack exists and is long enough for its entries; the packs that are
    missing (their chunks are reported per snapshot)."""
    needed: dict[str, int] = {}
    for at in index.values():
        needed[at.pack] = max(needed.get(at.pack, 0), at.offset + at.length)
    missing_packs = set()
    for pack, end in sorted(needed.items()):
        size = sizes.get(pack)
        if size is None:
            missing_packs.add(pack)
            report.errors.append(f"pack {pack[:16]} is indexed but missing")
        elif size < end + TRAILER_SIZE:
            report.errors.append(f"pack {pack[:16]} is truncated ({size} bytes)")
    for pack in sorted(sizes.keys() - needed.keys()):
        report.warnings.append(
            f"pack {pack[:16]} is not indexed (left by an interrupted write; gc removes it)"
        )
    report.packs = len(sizes)
    return missing_packs


@dataclass(frozen=True)
class Found:
    """What the stored side of the check found: where each chunk is, and what is wrong."""

    index: dict[bytes, Location]
    archived: dict[bytes, ArchivedChunk]
    archive_bad: dict[bytes, str]
    missing_packs: set[str]
    bad_chunks: dict[bytes, str]

    def problem(self, cid: bytes) -> str | None:
        """Why chunk ``cid`` cannot be read back, or None."""
        loc = self.index.get(cid)
        if loc is None and cid in self.archived:
            return self.archive_bad.get(cid)
        if loc is None:
            return "is missing"
        if loc.pack in self.missing_packs:
            return "is in a missing pack"
        return self.bad_chunks.get(cid)


def _check_snapshot(
    manifest: Manifest, store: ChunkStore, found: Found, report: CheckReport
) -> None:
    """Every chunk the snapshot references can be read back (at most MAX_PER_SNAPSHOT
    errors are listed per snapshot, then a count)."""
    name = manifest.name
    problems = 0
    try:
        for ref in _references(manifest, store, found.index, found.archived):
            why = found.problem(ref.chunk)
            if why:
                problems += 1
                if problems <= MAX_PER_SNAPSHOT:
                    report.errors.append(
                        f"snapshot {name}: {ref.where}: chunk {short(ref.chunk)} {why}"
                    )
    except CorruptData as e:
        msg = str(e)
        report.errors.append(
            msg if msg.startswith(f"snapshot {name}") else f"snapshot {name}: {msg}"
        )
    if problems > MAX_PER_SNAPSHOT:
        report.errors.append(
            f"snapshot {name}: {problems - MAX_PER_SNAPSHOT} more damaged references"
        )


def _references(
    m: Manifest,
    store: ChunkStore,
    index: dict[bytes, Location],
    archived: dict[bytes, ArchivedChunk],
) -> Iterator[Ref]:
    """Every chunk ``m`` references (as ``references.iter_references`` gives them), checking on
    the way what restore would refuse: CorruptData for the first problem, naming the snapshot.

    The listings are read once, for the references and the checks together.
    """
    check_roots(m)
    for root in m.bulk or []:
        for cid in root.listing:
            yield Ref(cid, f"listing of {root.path}", hot=True)
        where = f"snapshot {m.name}: {root.path}"
        checker = TreeChecker(where)
        for entry in load_listing(store, root.listing, where):
            checker.check(entry)
            stored = 0
            for cid in entry.chunks:
                yield Ref(cid, f"{root.path}: file {os.fsdecode(entry.path)}")
                loc, cold = index.get(cid), archived.get(cid)
                stored += loc.raw_length if loc else cold.raw_length if cold else 0
            if stored != entry.size and all(c in index or c in archived for c in entry.chunks):
                # Restore stops at such a file ("restored N bytes, listing says M").
                raise CorruptData(
                    f"{where}: file {show_path(entry.path)}: its chunks hold {stored} bytes, "
                    f"the listing says {entry.size}"
                )
        checker.finish()
    if m.database:
        yield from iter_database_references(m.database, store, m.name)
    yield from section_references(m, store)


def _read_packs(
    backend: Backend,
    store: ChunkStore,
    index: dict[bytes, Location],
    pack_sizes: dict[str, int],
    report: CheckReport,
    reporter: Reporter,
) -> dict[bytes, str]:
    by_pack: dict[str, list[tuple[bytes, Location]]] = {}
    for cid, loc in index.items():
        by_pack.setdefault(loc.pack, []).append((cid, loc))
    bad: dict[bytes, str] = {}
    reporter.start("Reading packs", sum(pack_sizes.values()))
    for pack, size in sorted(pack_sizes.items()):
        try:
            data = backend.get(Kind.PACKS, pack)
        except ObjectNotFound:
            continue
        report.bytes_read += len(data)
        reporter.advance(size)
        if blake3.blake3(data).hexdigest() != pack:
            report.errors.append(f"pack {pack[:16]} does not match its name (damaged)")
        try:
            toc = {e.id: e for e in read_whole(data, pack[:16], store.codec)}
        except CorruptData as e:
            report.errors.append(str(e))
            toc = {}
        for cid, loc in by_pack.get(pack, []):
            listed = toc.get(cid)
            if toc and (
                listed is None or (listed.offset, listed.length) != (loc.offset, loc.length)
            ):
                report.errors.append(
                    f"pack {pack[:16]}: index entry for chunk {short(cid)} disagrees with the "
                    "pack's table of contents"
                )
            try:
                store.verify(
                    cid, data[loc.offset : loc.offset + loc.length], loc, f"pack {pack[:16]}"
                )
            except CorruptData as err:
                bad[cid] = "is damaged"
                report.errors.append(str(err))
    reporter.finish()
    return bad
