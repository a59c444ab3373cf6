"""Looking inside snapshots without restoring them: ls, cat, find, export, documents, mount.

Each holds a shared lock while it reads, so delete, cleanup and gc wait until it is done (a
mount holds it until the unmount). The work itself is ``snapstore.inspection.tree_view`` over the
snapshot-as-tree.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from snapstore.base.errors import InvalidInput
from snapstore.inspection import tree_view as browse
from snapstore.inspection.tree_view import EntryInfo
from snapstore.maintenance.lifecycle import load_manifests
from snapstore.ops.repository import Repository
from snapstore.store.cache import default_cache_root
from snapstore.tree.output import WriteStats


def ls(repo: Repository, name: str, path: str, recursive: bool) -> Iterator[EntryInfo]:
    """Entries of a snapshot's bulk tree at ``path`` (all below it with ``recursive``)."""
    with repo.session("ls", exclusive=False) as opened:
        m = repo.resolve(opened.backend, name)
        for node in browse.list_entries(opened.store, m, path, recursive=recursive):
            yield EntryInfo.of(m.name, node)


def cat(repo: Repository, name: str, path: str) -> Iterator[bytes]:
    """The bytes of one file of a snapshot, verified as they are read."""
    with repo.session("cat", exclusive=False) as opened:
        yield from browse.file_content(opened.store, repo.resolve(opened.backend, name), path)


def find(repo: Repository, pattern: str, snapshots: list[str] | None) -> Iterator[EntryInfo]:
    """Entries matching ``pattern`` in the given snapshots (all, newest first, if none)."""
    with repo.session("find", exclusive=False) as opened:
        if snapshots:
            manifests = [repo.resolve(opened.backend, n) for n in snapshots]
        else:
            manifests = load_manifests(opened.backend, "find")
        yield from browse.find(opened.store, manifests, pattern)


def export(
    repo: Repository, name: str, dest: str | None, tar: str | None
) -> tuple[str, WriteStats]:
    """A snapshot in the reference's layout (database as arangodump files) written into the
    new folder ``dest``, or as a tar file ``tar`` (``-``: standard output)."""
    for where in (dest, tar):
        if where and where != "-":
            _outside_repository(repo, where, "--tar" if where is tar else "export destination")
    with repo.session("export", exclusive=False) as opened:
        m = repo.resolve(opened.backend, name)
        return m.name, browse.export_snapshot(opened.store, m, dest, tar)


def _outside_repository(repo: Repository, path: str, what: str) -> None:
    """Refuse to write an export into the repository or the local cache: files there are
    not snapstore's objects (a repository's folders hold nothing else), and a later gc or a
    cache rebuild could remove or trip over them."""
    if "\0" in path:
        return  # browse refuses it with its own message
    real = os.path.realpath(os.path.expanduser(path))
    places = [("the local cache", str(default_cache_root(repo.settings.cache_dir)))]
    if "://" not in repo.settings.repository:
        places.insert(0, ("the repository", repo.settings.repository))
    for name, place in places:
        inside = os.path.realpath(os.path.expanduser(place))
        if real == inside or real.startswith(inside.rstrip("/") + "/"):
            raise InvalidInput(f"{what} {path} is inside {name} at {place}; export elsewhere")


def documents(
    repo: Repository, name: str, collection: str, start: int, count: int
) -> tuple[list[bytes], int]:
    """A page of a collection's documents in a snapshot (canonical JSON lines, ``_key``
    order) and the collection's count."""
    with repo.session("documents", exclusive=False) as opened:
        m = repo.resolve(opened.backend, name)
        return browse.documents(opened.store, m, collection, start, count)


def mount(repo: Repository, mountpoint: str) -> None:
    """Serve every snapshot read-only under ``mountpoint`` (FUSE) until unmounted."""
    from snapstore.inspection import mount as fuse  # FUSE bindings only for this command

    where = fuse.check_mountpoint(mountpoint)
    with repo.session("mount", exclusive=False) as opened:
        fuse.serve(opened.backend, opened.store, where, repo.reporter)
