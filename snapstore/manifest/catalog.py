"""The catalog: manifests stored as ``snapshots/<name>`` objects in the backend.

Besides publishing, reading, rewriting and deleting manifests, it keeps the predecessor rule
of spec/manifest.md ("Predecessors"): every name in a readable manifest's ``previous`` is an
existing snapshot. ``publish`` names the snapshots no one names yet; ``delete`` first rewrites
the manifests that name the victim to name its predecessors instead, then removes it. A
manifest removed any other way leaves a dangling name, which ``load_all`` reports, and which
makes cleanup and gc refuse to run (``lifecycle.load_manifests``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from snapstore.backend import Backend, Kind
from snapstore.errors import CorruptData, ObjectExists, ObjectNotFound, RepositoryError
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
        """Create-only publish; False when the name is taken (the caller picks another)."""
        try:
            self.backend.put(Kind.SNAPSHOTS, manifest.name, manifest.encode(), overwrite=False)
        except ObjectExists:
            return False
        self._seen[manifest.name] = manifest
        return True

    def replace(self, manifest: Manifest) -> None:
        """Atomically rewrite an existing manifest (pin, unpin, compression state), in the
        newest format. Its predecessors are the catalog's business: they are taken from the
        stored manifest, since a delete may have changed them after the caller read it."""
        stored = self._stored(manifest.name)
        if stored is not None:
            manifest.previous = list(stored.previous)
        self._write(manifest)

    def delete(self, name: str) -> None:
        """Remove a snapshot; manifests naming it name its predecessors instead. Rewrites
        come first: a crash in between leaves the victim in place, named by no one (still a
        valid catalog). A damaged victim's predecessors are unknown: they are dropped."""
        if not self._complete:
            self.load_all()
        victim = self._seen.get(name)
        inherited = list(victim.previous) if victim is not None else []
        for m in sorted(self._seen.values(), key=lambda m: m.name):
            if m.name != name and name in m.previous:
                rest = [p for p in m.previous if p != name]
                m.previous = rest + [p for p in inherited if p not in rest]
                self._write(m)
        self.backend.delete(Kind.SNAPSHOTS, name)
        self._seen.pop(name, None)

    def _stored(self, name: str) -> Manifest | None:
        if name in self._seen and self._complete:
            return self._seen[name]
        try:
            return self.load(name)
        except (CorruptData, RepositoryError):
            return None

    def _write(self, manifest: Manifest) -> None:
        self.backend.put(Kind.SNAPSHOTS, manifest.name, manifest.encode(), overwrite=True)
        self._seen[manifest.name] = manifest
