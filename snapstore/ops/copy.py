"""Copying snapshots from one repository to another (spec/copy.md).

Both repositories are opened through ``Repository`` (the source under a shared lock, the
destination under a shared lock as a writer, like create). Snapshots are copied oldest first,
one at a time: the chunks the destination lacks are sent (``copy_send.Sender``), re-identified
on the way when the two repositories name chunks differently (``reidentify``), the
destination's store is flushed (packs, then one index object), and only then is the manifest
published with a create-only put. So a copy killed at any point leaves the destination valid,
and the next run sends only what no index object of the destination names yet.

The copied manifest keeps the snapshot's name, metadata, description, pinned and compressed
state; its catalog fields are the destination's (``previous``, ``generation``, no delete
records: spec/manifest.md, "Predecessors" and "Going back in time").
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from snapstore.base.errors import CorruptData, InvalidInput
from snapstore.base.reporting import Reporter
from snapstore.config.settings import Settings
from snapstore.crypto.passwords import PasswordSource
from snapstore.crypto.unlock import Unlocker
from snapstore.maintenance.references import iter_references
from snapstore.manifest.catalog import Catalog, Listing, delete_records
from snapstore.manifest.schema import Manifest
from snapstore.ops import history
from snapstore.ops.copy_ids import IdMap, map_path
from snapstore.ops.copy_send import Sender
from snapstore.ops.reidentify import plan_reidentified, reidentify, same_ids
from snapstore.ops.repository import Opened, Repository

# The other repository's password (spec/copy.md, "Passwords"): when any of these is set, they
# stand for SNAPSTORE_PASSWORD_FILE, SNAPSTORE_PASSWORD and SNAPSTORE_PASSWORD_COMMAND for the
# repository that --to / --from names; otherwise it is opened with the same password sources.
OTHER_PASSWORD_VARS = {
    "SNAPSTORE_COPY_PASSWORD_FILE": "SNAPSTORE_PASSWORD_FILE",
    "SNAPSTORE_COPY_PASSWORD": "SNAPSTORE_PASSWORD",
    "SNAPSTORE_COPY_PASSWORD_COMMAND": "SNAPSTORE_PASSWORD_COMMAND",
}


def other_repository(
    settings: Settings, location: str, reporter: Reporter, env: Mapping[str, str] | None = None
) -> Repository:
    """The repository at ``location`` with the configured repository's settings, and its
    own password sources when the ``SNAPSTORE_COPY_PASSWORD*`` variables give them."""
    env = dict(os.environ if env is None else env)
    own = {OTHER_PASSWORD_VARS[k]: v for k, v in env.items() if k in OTHER_PASSWORD_VARS}
    if own:
        for name in OTHER_PASSWORD_VARS.values():
            env.pop(name, None)
        env.update(own)
    command = None if own else settings.password_command
    unlocker = Unlocker(PasswordSource(command=command, env=env))
    there = replace(settings, repository=location, no_lock=False)
    return Repository(there, reporter, _unlocker=unlocker)


@dataclass(frozen=True)
class CopyRequest:
    """Which snapshots (names or unique prefixes; none: every one the destination lacks)."""

    names: tuple[str, ...] = ()
    dry_run: bool = False


@dataclass
class CopiedSnapshot:
    """One snapshot's outcome: ``copied`` (or ``to copy`` in a dry run), ``present`` (the
    destination has it), ``skipped`` (``reason`` says why)."""

    name: str
    status: str
    chunks: int = 0  # chunks sent (a dry run: to send)
    bytes: int = 0  # their uncompressed bytes
    reason: str = ""


@dataclass
class CopyResult:
    source: str
    destination: str
    reidentified: bool
    dry_run: bool
    snapshots: list[CopiedSnapshot] = field(default_factory=list)
    stored_bytes: int = 0  # packs and index objects written to the destination
    elapsed: float = 0.0

    @property
    def chunks(self) -> int:
        return sum(s.chunks for s in self.snapshots)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.snapshots)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "dry_run": self.dry_run,
            "reidentified": self.reidentified,
            "snapshots": [vars(s) for s in self.snapshots],
            "chunks_sent": self.chunks,
            "bytes_sent": self.bytes,
            "stored_bytes": self.stored_bytes,
            "elapsed_seconds": round(self.elapsed, 3),
        }


@dataclass
class _Run:
    """One copy run: both repositories open and locked, and the destination's catalog."""

    source: Repository
    dest: Repository
    src: Opened
    dst: Opened
    catalog: Catalog
    seen: Listing
    sender: Sender


def copy_snapshots(source: Repository, dest: Repository, req: CopyRequest) -> CopyResult:
    """Copy the snapshots ``req`` names from ``source`` to ``dest`` (module doc)."""
    started = time.monotonic()
    with _open_both(source, dest) as run:
        result = CopyResult(
            run.src.backend.location,
            run.dst.backend.location,
            reidentified=run.sender.ids is not None,
            dry_run=req.dry_run,
        )
        wanted, skipped = _select(run, req.names)
        result.snapshots += skipped
        written = run.dst.store.stats
        for i, m in enumerate(wanted, 1):
            result.snapshots.append(_one(run, m, f"{m.name} ({i}/{len(wanted)})", req.dry_run))
        if wanted and not req.dry_run:
            history.refresh(dest, run.dst.backend)
        result.stored_bytes = written.pack_bytes + written.index_bytes
    result.snapshots.sort(key=lambda s: s.name)
    result.elapsed = time.monotonic() - started
    return result


@contextmanager
def _open_both(source: Repository, dest: Repository) -> Iterator[_Run]:
    with ExitStack() as stack:
        src = stack.enter_context(source.session("copy-source", exclusive=False))
        dst = stack.enter_context(dest.session("copy", exclusive=False))
        if src.store.config.id == dst.store.config.id:
            raise InvalidInput(
                f"{src.backend.location} and {dst.backend.location} are the same repository "
                f"(id {src.store.config.id[:12]}): nothing to copy"
            )
        ids = None
        if not same_ids(src.store, dst.store):
            path = map_path(dest.settings.cache_dir, src.store.config.id, dst.store.config.id)
            ids = IdMap(path)
            stack.callback(ids.close)
        sender = Sender(src.store, dst.store, ids, progress=source.reporter.advance)
        stack.callback(sender.close)
        catalog = Catalog(dst.backend)
        seen = catalog.load_all()
        yield _Run(source, dest, src, dst, catalog, seen, sender)


def _select(run: _Run, names: tuple[str, ...]) -> tuple[list[Manifest], list[CopiedSnapshot]]:
    """The source snapshots to copy, oldest first, and those left out (with why)."""
    listing = Catalog(run.src.backend).load_all()
    if names:
        chosen = {run.source.resolve(run.src.backend, n).name for n in names}
        wanted = [m for m in listing.manifests if m.name in chosen]
    else:
        for problem in listing.problems:
            run.source.reporter.warn(f"not copied: {problem}")
        wanted = list(listing.manifests)
    there = {m.name: m for m in run.seen.manifests}
    deleted = delete_records(run.seen)
    out: list[Manifest] = []
    left: list[CopiedSnapshot] = []
    for m in sorted(wanted, key=lambda m: (m.created, m.name)):
        have = there.get(m.name)
        if have is not None and have.created == m.created:
            left.append(CopiedSnapshot(m.name, "present"))
        elif have is not None or m.name in run.seen.unreadable:
            why = "the destination has a different snapshot of that name"
            run.source.reporter.warn(f"not copied: {m.name}: {why}")
            left.append(CopiedSnapshot(m.name, "skipped", reason=why))
        elif m.name in deleted and not names:
            why = f"deleted in the destination on {deleted[m.name][:10]} (name it to copy it again)"
            left.append(CopiedSnapshot(m.name, "skipped", reason=why))
        else:
            out.append(m)
    return out, left


def _one(run: _Run, m: Manifest, label: str, dry_run: bool) -> CopiedSnapshot:
    """Copy (or plan) one snapshot, with a status line and a progress bar (bytes sent)."""
    reporter = run.source.reporter
    if dry_run:
        reporter.info(f"Would copy {label}")
        return _plan_one(run, m)
    reporter.info(f"Copying {label}")
    reporter.start(f"Copying {m.name}")
    try:
        return _copy_one(run, m)
    finally:
        reporter.finish()


def _copy_one(run: _Run, m: Manifest) -> CopiedSnapshot:
    """Send one snapshot's chunks, flush the destination, publish the manifest."""
    store = run.dst.store
    chunks, raw = store.stats.new_chunks, store.stats.new_raw_bytes
    sender = run.sender
    try:
        if sender.ids is None:
            sender.send(ref.chunk for ref in iter_references(m, run.src.store))
            copy = replace(m, bulk=m.bulk and [replace(r) for r in m.bulk])
        else:
            copy = reidentify(m, sender)
        sender.drain()
        store.flush()  # packs, then the index object: durable before the manifest names them
    except CorruptData as e:  # a damaged source chunk: say which snapshot it belongs to
        raise type(e)(f"copying {m.name}: {e}") from None
    copy.previous = run.catalog.predecessors(run.seen)
    copy.deleted = {}
    sent = CopiedSnapshot(
        m.name, "copied", store.stats.new_chunks - chunks, store.stats.new_raw_bytes - raw
    )
    if not run.catalog.publish(copy):  # another copy published it meanwhile
        sent.status, sent.reason = "present", "published by another copy meanwhile"
        return sent
    run.seen.manifests.append(copy)
    return sent


def _plan_one(run: _Run, m: Manifest) -> CopiedSnapshot:
    """A dry run: the chunks (and bytes) the destination lacks for ``m``; nothing written.
    With re-identification, chunks the id map cannot vouch for count as to send (an upper
    bound: spec/copy.md)."""
    if run.sender.ids is None:
        plan = run.sender.plan(ref.chunk for ref in iter_references(m, run.src.store))
    else:
        plan = plan_reidentified(m, run.sender)
    return CopiedSnapshot(m.name, "to copy", plan.chunks, plan.bytes)
