"""What a restore tells the next create: the restored files' inodes and ctimes (spec/restore.md).

Create reuses a file's chunks without reading it when size, mtime, ctime and inode equal its
parent snapshot's entry. After a restore every file is exactly the restored snapshot's, but
written (new inode) or linked (new ctime), so no snapshot's entry matches. The restore
therefore writes, in the local cache, ``<cache>/<repository id>/restored/<hash of target>``:
a msgpack header (target, snapshot, its listing's chunk ids, time) followed by one
``[path, inode, ctime_ns]`` per restored file, in listing order. The next create of that root
takes the restored snapshot's listing with these values as its parent, unless a snapshot of
the root is newer than the record. It is a cache: deleting it costs one full read.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
from blake3 import blake3

from snapstore.base.errors import CorruptData
from snapstore.manifest.listing import FILE, load_listing_maps
from snapstore.manifest.schema import BulkRoot, Manifest
from snapstore.store.cache import default_cache_root, private_dir, private_file
from snapstore.store.chunkstore import ChunkStore

RECORD_VERSION = 1


def record_path(cache_dir: str | None, repo_id: str, target: str) -> Path:
    name = blake3(os.fsencode(target)).hexdigest()[:32] + ".msgpack"
    return default_cache_root(cache_dir) / repo_id / "restored" / name


def forget(cache_dir: str | None, repo_id: str, target: str) -> None:
    with contextlib.suppress(OSError):
        record_path(cache_dir, repo_id, target).unlink()


def write_record(
    store: ChunkStore,
    cache_dir: str | None,
    target: str,
    live: Path,
    snapshot: str,
    root: BulkRoot,
) -> None:
    """Record the restored files of ``root`` now at ``live`` (the target, resolved); a
    failure only costs the next create a full read, so it is not an error."""
    path = record_path(cache_dir, store.config.id, target)
    tmp = path.with_name(path.name + ".tmp")
    base = os.fsencode(live)
    packer = msgpack.Packer(use_bin_type=True)
    header = {
        "v": RECORD_VERSION,
        "target": target,
        "snapshot": snapshot,
        "listing": list(root.listing),
        "at": datetime.now(UTC).isoformat(timespec="microseconds"),
    }
    try:
        private_dir(path.parent)  # the record names every restored path: 0700 / 0600
        with open(private_file(tmp), "wb") as f:
            f.write(packer.pack(header))
            buf: list[bytes] = []
            for d in load_listing_maps(store, root.listing, f"snapshot {snapshot}: {root.path}"):
                if d.get("t") != FILE:
                    continue
                p = d["p"]
                try:
                    st = os.lstat(base + b"/" + p)
                except OSError:
                    continue
                if (
                    stat.S_ISREG(st.st_mode)
                    and st.st_size == d.get("s")
                    and st.st_mtime_ns == d.get("mt")
                ):
                    buf.append(packer.pack([p, st.st_ino, st.st_ctime_ns]))
                    if len(buf) >= 4096:
                        f.write(b"".join(buf))
                        buf.clear()
            f.write(b"".join(buf))
        os.replace(tmp, path)
    except (OSError, CorruptData):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _time(iso: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(iso))
    except ValueError:
        return None


def restored_parent(
    store: ChunkStore, cache_dir: str | None, root: str, existing: list[Manifest]
) -> Iterator[dict[str, Any]] | None:
    """The parent entries for a create of ``root`` right after a restore into it: the
    restored snapshot's listing (``to_map`` form) with the recorded inodes and ctimes; None
    when there is no usable record (missing, damaged, or older than a snapshot of ``root``)."""
    path = record_path(cache_dir, store.config.id, root)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the generator, or here
    except OSError:
        return None
    unpacker = msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 26)
    try:
        header = next(unpacker)
        at = _time(header["at"])
        ok = header["v"] == RECORD_VERSION and header["target"] == root and at is not None
    except (StopIteration, ValueError, KeyError, TypeError, msgpack.UnpackException):
        ok, header, at = False, {}, None
    found: tuple[Manifest, BulkRoot] | None = None
    for m in existing if ok else []:  # newest first
        created = _time(m.created)
        if any(r.path == root for r in m.bulk or []) and (created is None or created > at):  # type: ignore[operator]
            break  # a snapshot of the root taken after the restore is the better parent
        if m.name == header.get("snapshot"):
            r = next((r for r in m.bulk or [] if r.listing == header["listing"]), None)
            found = (m, r) if r is not None else None
            break
    if found is None:
        f.close()
        return None
    m, r = found
    maps = load_listing_maps(store, r.listing, f"snapshot {m.name}: {r.path}")
    return _overlay(maps, unpacker, f)


def _overlay(
    maps: Iterator[dict[str, Any]], rows: msgpack.Unpacker, f: Any
) -> Iterator[dict[str, Any]]:
    """``maps`` with the recorded inode and ctime put into the file entries they name."""
    with f:
        row: Any = None
        try:
            row = next(rows, None)
        except (ValueError, msgpack.UnpackException):
            row = None
        for d in maps:
            if (
                row is not None
                and d.get("t") == FILE
                and isinstance(row, list)
                and row[0] == d["p"]
            ):
                d = dict(d, i=row[1], ct=row[2])
                try:
                    row = next(rows, None)
                except (ValueError, msgpack.UnpackException):
                    row = None
            yield d
