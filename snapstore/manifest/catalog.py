"""The catalog: manifests stored as ``snapshots/<name>`` objects in the backend.

Besides publishing, reading, rewriting and deleting manifests, it keeps the predecessor rule
of spec/manifest.md ("Predecessors"): every name in a readable manifest's ``previous`` is an
existing snapshot. ``publish`` names the snapshots no one names yet; ``delete`` first rewrites
the manifests that name the victim to name its predecessors instead, then removes it. A
manifest removed any other way leaves a dangling name, which ``load_all`` reports, and which
makes cleanup and gc refuse to run (``lifecycle.load_manifests``).

It also keeps the catalog's logical clock (spec/manifest.md, "Going back in time"): every
manifest it writes carries a ``generation`` above every generation it has read, and a delete
records the victim's name in a surviving manifest (the newest: the "witness"), so that a client
that remembers the snapshot can tell a delete from a removal or a rollback
(``manifest.history``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from snapstore.backend import Backend, Kind
from snapstore.base.errors import CorruptData, ObjectExists, ObjectNotFound, RepositoryError
from snapstore.manifest.schema import Manifest


@dataclass
class Listing:
    """Every manifest that could be read, and a line for each problem.

    ``unreadable``: name -> why it is damaged (or vanished while listing); manifests of a
    newer format are only in ``problems``.
    ``missing``: a name some manifest lists as its predecessor that has no manifest -> the
    snapshots naming it.
    """

    manifests: list[Manifest] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)

    def named(self) -> set[str]:
        """Every name some readable manifest lists as a predecessor."""
        return {p for m in self.manifests for p in m.previous}


# Delete records older than this are dropped when their witness is next written: a client that
# has not read the repository for longer cannot tell a delete from a removal (manifest.history).
HISTORY_DAYS = 400


def generation(listing: Listing) -> int:
    """The catalog's clock: the highest generation of a readable manifest (0 when none)."""
    return max((m.generation for m in listing.manifests), default=0)


def delete_records(listing: Listing) -> dict[str, str]:
    """Every recorded delete (name -> when), over all readable manifests."""
    out: dict[str, str] = {}
    for m in listing.manifests:
        for name, when in m.deleted.items():
            out[name] = max(when, out.get(name, when))
    return out


def _pruned(records: dict[str, str], now: datetime) -> dict[str, str]:
    horizon = (now - timedelta(days=HISTORY_DAYS)).isoformat(timespec="microseconds")
    return {n: t for n, t in records.items() if t >= horizon}


def missing_problem(name: str, namers: list[str]) -> str:
    shown = ", ".join(namers[:2]) + (f" and {len(namers) - 2} more" if len(namers) > 2 else "")
    return (
        f"snapshot {name}: manifest is missing (removed outside snapstore; {shown} names it "
        f"as a predecessor): put the object snapshots/{name} back from a backup, or run "
        f"`snapstore delete --force {name}` to accept the loss"
    )


class Catalog:
    """Publish, read, rewrite and delete manifests.

    A catalog remembers the manifests it has read or written, so the deletes of one cleanup
    read every manifest once; keep one catalog per operation (under its lock), not longer.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._seen: dict[str, Manifest] = {}
        self._complete = False  # _seen holds every readable manifest (load_all ran)
        self._clock = 0  # the highest generation read or written

    def names(self) -> list[str]:
        return sorted(o.name for o in self.backend.list(Kind.SNAPSHOTS))

    def load(self, name: str) -> Manifest:
        try:
            data = self.backend.get(Kind.SNAPSHOTS, name)
        except ObjectNotFound:
            raise CorruptData(f"snapshot {name}: manifest disappeared") from None
        try:
            m = Manifest.decode(data, name)
        except CorruptData as e:
            raise CorruptData(
                f"{e}; put snapshots/{name} back from a backup, or run "
                f"`snapstore delete --force {name}` to remove it"
            ) from None
        self._seen[name] = m
        self._clock = max(self._clock, m.generation)
        return m

    def load_all(self) -> Listing:
        """All manifests, newest first; unreadable ones and dangling predecessor names are
        reported, not fatal."""
        out = Listing()
        names = self.names()
        self._seen = {}
        for name in names:
            try:
                out.manifests.append(self.load(name))
            except CorruptData as e:
                out.unreadable[name] = str(e)
                out.problems.append(str(e))
            except RepositoryError as e:  # a newer format: not damaged, not ours to remove
                out.problems.append(str(e))
        self._complete = True
        present = set(names)
        for m in sorted(out.manifests, key=lambda m: m.name):
            for p in m.previous:
                if p not in present:
                    out.missing.setdefault(p, []).append(m.name)
        for name, namers in sorted(out.missing.items()):
            out.problems.append(missing_problem(name, namers))
        out.manifests.sort(key=lambda m: (m.created, m.name), reverse=True)
        return out

    def predecessors(self, seen: Listing) -> list[str]:
        """What a manifest published now names: every snapshot that no manifest in ``seen``
        names (``seen`` was loaded under the same shared lock, so nothing was deleted since;
        snapshots published since are named too, which only adds vouchers)."""
        named = seen.named()
        return [n for n in self.names() if n not in named]

    def publish(self, manifest: Manifest) -> bool:
        """Create-only publish; False when the name is taken (the caller picks another).
        Its generation is one above every manifest this catalog read (create reads them all
        first, under the shared lock)."""
        manifest.generation = self._clock + 1
        try:
            self.backend.put(Kind.SNAPSHOTS, manifest.name, manifest.encode(), overwrite=False)
        except ObjectExists:
            return False
        self._seen[manifest.name] = manifest
        self._clock = max(self._clock, manifest.generation)
        return True

    def replace(self, manifest: Manifest) -> None:
        """Atomically rewrite an existing manifest (pin, unpin, compression state), in the
        newest format. Its predecessors are the catalog's business: they are taken from the
        stored manifest, since a delete may have changed them after the caller read it, and
        so are the deletes it records. Every manifest is read first (under the exclusive
        lock): the new generation must be above all of them."""
        if not self._complete:
            self.load_all()
        stored = self._stored(manifest.name)
        if stored is not None:
            manifest.previous = list(stored.previous)
            manifest.deleted = dict(stored.deleted)
        self._write(manifest, self._clock + 1)

    def delete(self, name: str) -> None:
        """Remove a snapshot; manifests naming it name its predecessors instead. Rewrites
        come first: a crash in between leaves the victim in place, named by no one (still a
        valid catalog). A damaged victim's predecessors are unknown: they are dropped.

        The newest surviving manifest (the witness) records the delete, with the deletes the
        victim recorded itself, in the same rewrite; all rewrites take the next generation."""
        if not self._complete:
            self.load_all()
        victim = self._seen.get(name)
        inherited = list(victim.previous) if victim is not None else []
        gen = self._clock + 1
        now = datetime.now(UTC)
        survivors = [m for m in self._seen.values() if m.name != name]
        witness = max(survivors, key=lambda m: (m.created, m.name), default=None)
        for m in sorted(survivors, key=lambda m: m.name):
            changed = False
            if name in m.previous:
                rest = [p for p in m.previous if p != name]
                m.previous = rest + [p for p in inherited if p not in rest]
                changed = True
            if m is witness:
                records = dict(m.deleted)
                records.update(victim.deleted if victim is not None else {})
                records[name] = now.isoformat(timespec="microseconds")
                m.deleted = _pruned(records, now)
                changed = True
            if changed:
                self._write(m, gen)
        self.backend.delete(Kind.SNAPSHOTS, name)
        self._seen.pop(name, None)

    def _stored(self, name: str) -> Manifest | None:
        if name in self._seen and self._complete:
            return self._seen[name]
        try:
            return self.load(name)
        except (CorruptData, RepositoryError):
            return None

    def _write(self, manifest: Manifest, gen: int) -> None:
        manifest.generation = gen
        self.backend.put(Kind.SNAPSHOTS, manifest.name, manifest.encode(), overwrite=True)
        self._seen[manifest.name] = manifest
        self._clock = max(self._clock, gen)
