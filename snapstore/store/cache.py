"""The local index cache: an SQLite copy of the repository's index, outside the repository.

It exists so that looking up a chunk costs one B-tree probe instead of loading every index
object into memory (which would not fit for millions of chunks). It can be deleted at any time:
``sync`` rebuilds it from the index objects, and a damaged cache file is discarded and rebuilt.

Beside it, the catalog memory (``CatalogMemory``): the newest catalog state this client has
seen, which ``manifest.history`` compares with the repository to notice it going back in time.

The cache says what the repository holds and, in its restore records, every restored path, so
it is private like the repository (spec/repository.md, "Local cache"): folders snapstore makes
there are 0700 and files 0600 whatever the umask (``private_dir``, ``private_file``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from snapstore.backend import Backend, Kind
from snapstore.base.errors import CorruptData
from snapstore.store.config import valid_repo_id
from snapstore.store.index import IndexObject
from snapstore.store.packs import PackEntry

SCHEMA = """
CREATE TABLE IF NOT EXISTS index_objects (name TEXT PRIMARY KEY, supersedes TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id BLOB PRIMARY KEY, pack TEXT NOT NULL, offset INTEGER NOT NULL,
    length INTEGER NOT NULL, raw_length INTEGER NOT NULL, method INTEGER NOT NULL
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class Location:
    """Where a chunk is stored."""

    pack: str
    offset: int
    length: int
    raw_length: int
    method: int


PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a folder, each missing folder up to it made 0700; ``path`` itself is made
    0700 when it is ours (a cache made by an older version was 0755). Folders that already
    existed above it are left as they are (the user's own ``SNAPSTORE_CACHE_DIR``)."""
    missing: list[Path] = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir()
        _restrict(d, PRIVATE_DIR)
    if not missing:
        _restrict(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> int:
    """Open ``path`` for writing, created 0600 (an existing file of ours is made 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        if os.fstat(fd).st_uid == os.geteuid():
            os.fchmod(fd, PRIVATE_FILE)  # the umask may have left more, or an old file had it
    except BaseException:
        os.close(fd)
        raise
    return fd


def _restrict(path: Path, mode: int) -> None:
    with contextlib.suppress(OSError):  # not ours (a shared cache folder): leave it
        if path.stat().st_uid == os.geteuid():
            os.chmod(path, mode)


def _restrict_fd(fd: int) -> None:
    try:
        if os.fstat(fd).st_uid == os.geteuid():
            os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def default_cache_root(explicit: str | None = None) -> Path:
    """The folder that holds one cache folder per repository id."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("SNAPSTORE_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("snapstore"))


def repository_cache_dir(explicit: str | None, repo_id: str) -> Path:
    """The cache folder of one repository: ``<cache root>/<repository id>``.

    The id comes from the repository's config object; one that is not the hex form ``init``
    writes (``../x``, ``/abs``) would name a folder outside the cache root, so it is refused
    (``read_config`` refuses such a config already; this keeps the promise for any caller).
    """
    if not valid_repo_id(repo_id):
        raise CorruptData(
            f"the repository config is damaged: its id {repo_id!r} is not 32 lower-case hex "
            "digits, so it cannot name a cache folder"
        )
    return default_cache_root(explicit) / repo_id


class IndexCache:
    """SQLite table chunk id -> location, kept in step with the repository's index objects."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private_dir(path.parent)
        # The catalog memory beside it lists snapshot names: as private as the index.
        _restrict(path.parent / CATALOG_MEMORY, PRIVATE_FILE)
        # SQLite creates its file 0644 (less the umask) and gives the -wal and -shm files the
        # main file's mode: create it 0600 first.
        for suffix in ("", "-wal", "-shm"):
            name = Path(f"{path}{suffix}")
            if suffix == "" or name.exists():
                with contextlib.suppress(OSError):
                    fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
                    _restrict_fd(fd)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError:
            self._discard()
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        return db

    def _discard(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")

    def close(self) -> None:
        self._db.close()

    # -- keeping in step ----------------------------------------------------------------------

    def sync(self, backend: Backend) -> None:
        """Bring the cache in line with the index objects the backend has now."""
        try:
            self._sync(backend)
        except sqlite3.DatabaseError:
            self._db.close()
            self._discard()
            self._db = self._open()
            self._sync(backend)

    def _sync(self, backend: Backend) -> None:
        present = {o.name for o in backend.list(Kind.INDEX)}
        cached = {r[0] for r in self._db.execute("SELECT name FROM index_objects")}
        # A removed object means chunks may have moved (gc, rebuild-index): start over.
        rebuild = bool(cached - present)
        new = sorted(present if rebuild else present - cached)
        loaded = {name: IndexObject.decode(backend.get(Kind.INDEX, name), name) for name in new}
        if rebuild or loaded:
            self._db.execute("BEGIN IMMEDIATE")
            if rebuild:
                self._db.execute("DELETE FROM chunks")
                self._db.execute("DELETE FROM index_objects")
            self._insert(loaded)
            self._db.execute("COMMIT")

    def _insert(self, objects: dict[str, IndexObject]) -> None:
        for name, obj in objects.items():
            self._db.execute("INSERT OR REPLACE INTO index_objects VALUES (?, '')", (name,))
            for pack, entries in obj.packs.items():
                self._add_entries(pack, entries)

    def _add_entries(self, pack: str, entries: Iterable[PackEntry]) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO chunks VALUES (?, ?, ?, ?, ?, ?)",
            ((e.id, pack, e.offset, e.length, e.raw_length, e.method) for e in entries),
        )

    def record(self, name: str, obj: IndexObject) -> None:
        """Add an index object this process has just published."""
        self._db.execute("BEGIN IMMEDIATE")
        self._insert({name: obj})
        self._db.execute("COMMIT")

    # -- lookups ------------------------------------------------------------------------------

    def get(self, cid: bytes) -> Location | None:
        row = self._db.execute(
            "SELECT pack, offset, length, raw_length, method FROM chunks WHERE id = ?", (cid,)
        ).fetchone()
        return Location(*row) if row else None

    def __contains__(self, cid: bytes) -> bool:
        return self._db.execute("SELECT 1 FROM chunks WHERE id = ?", (cid,)).fetchone() is not None

    def present(
        self, ids: Iterable[bytes], db: sqlite3.Connection | None = None, batch: int = 500
    ) -> set[bytes]:
        """Which of ``ids`` the cache has: one query per ``batch`` ids, not one per id.
        ``db``: a connection from ``reader()``, for use on another thread."""
        conn = db or self._db
        out: set[bytes] = set()
        todo = list(dict.fromkeys(ids))
        for i in range(0, len(todo), batch):
            part = todo[i : i + batch]
            marks = ",".join("?" * len(part))
            # Usually all are there (stat-based reuse): count first, fetch ids only if not.
            (found,) = conn.execute(
                f"SELECT count(*) FROM chunks WHERE id IN ({marks})", part
            ).fetchone()
            if found == len(part):
                out.update(part)
            elif found:
                rows = conn.execute(f"SELECT id FROM chunks WHERE id IN ({marks})", part)
                out.update(r[0] for r in rows)  # BLOBs come back as bytes
        return out

    def get_many(self, ids: Iterable[bytes], batch: int = 500) -> dict[bytes, Location]:
        """``get`` for many ids: one query per ``batch`` ids; ids not in the cache are left out."""
        out: dict[bytes, Location] = {}
        todo = list(dict.fromkeys(ids))
        for i in range(0, len(todo), batch):
            part = todo[i : i + batch]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                "SELECT id, pack, offset, length, raw_length, method FROM chunks "
                f"WHERE id IN ({marks})",
                part,
            )
            for row in rows:
                out[bytes(row[0])] = Location(*row[1:])
        return out

    def reader(self) -> sqlite3.Connection:
        """A connection for lookups from another thread (sqlite3 connections are per thread);
        the caller closes it."""
        db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        db.execute("PRAGMA cache_size = -512")  # KiB: many readers, lookups only
        return db

    def packs(self) -> dict[str, int]:
        """Every indexed pack with its chunk count."""
        return dict(self._db.execute("SELECT pack, count(*) FROM chunks GROUP BY pack"))

    def entries(self) -> Iterator[tuple[bytes, Location]]:
        for row in self._db.execute("SELECT * FROM chunks ORDER BY pack, offset"):
            yield bytes(row[0]), Location(*row[1:])

    def index_names(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT name FROM index_objects")}


# -- the newest catalog state this client has seen (spec/packs.md, "Catalog memory") -----------

CATALOG_MEMORY = "catalog-seen.json"
CATALOG_MEMORY_VERSION = 1


@dataclass
class CatalogMemory:
    """What this client last saw of a repository's catalog: the highest generation, each
    snapshot's manifest generation, and when (UTC, ISO 8601)."""

    generation: int = 0
    snapshots: dict[str, int] = field(default_factory=dict)
    seen_at: str = ""


def catalog_memory_path(explicit: str | None, repo_id: str) -> Path:
    return repository_cache_dir(explicit, repo_id) / CATALOG_MEMORY


def read_catalog_memory(path: Path) -> CatalogMemory | None:
    """The remembered state, or None when there is none (or it is unreadable: the cache may be
    deleted or damaged at any time, and then there is simply nothing to compare with)."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        _restrict(path, PRIVATE_FILE)  # it lists snapshot names: private even if chmod-ed
        if d.get("version") != CATALOG_MEMORY_VERSION:
            return None
        snaps = d["snapshots"]
        gen = d["generation"]
        if not isinstance(gen, int) or not isinstance(snaps, dict):
            return None
        if not all(isinstance(k, str) and isinstance(v, int) for k, v in snaps.items()):
            return None
        return CatalogMemory(gen, snaps, str(d.get("seen_at", "")))
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return None


def write_catalog_memory(path: Path, memory: CatalogMemory) -> None:
    """Replace the remembered state atomically (a temporary file renamed over it), owner-only:
    it lists snapshot names. A cache that cannot be written is not an error (nothing is lost,
    the next read compares with the older state)."""
    doc = {
        "version": CATALOG_MEMORY_VERSION,
        "generation": memory.generation,
        "seen_at": memory.seen_at,
        "snapshots": dict(sorted(memory.snapshots.items())),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        private_dir(path.parent)
        with os.fdopen(private_file(tmp), "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
