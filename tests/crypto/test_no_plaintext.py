"""Nothing a reader of the storage could match against a known file (spec/encryption.md,
"What is hidden"): no byte of its content, no plain BLAKE3 id of it or of its chunks, no
snapshot name or description, no path, no telling key objects apart by size. The same checks
run on an unencrypted repository of the same tree first, to show that they do find these
things when they are there."""

from __future__ import annotations

import random
import stat
from pathlib import Path

import blake3
import pytest

from snapstore.store.chunker import Chunker
from snapstore.store.config import ChunkerParams
from tests.helpers import FAST_KDF, TEST_PASSWORD, Workspace

DESCRIPTION = "Quarterly calibration of detector Zebulon"
SLUG = b"quarterly_calibration_of_detector_zebulon"
KNOWN = "calibration-zebulon-results.bin"


def _tree(ws: Workspace) -> bytes:
    data = random.Random(1234).randbytes(3 * 1024 * 1024 + 17)  # lz4 stores it raw
    (ws.bulk / KNOWN).write_bytes(data)
    (ws.bulk / "notes.txt").write_text("nothing to see\n")
    return data


def _needles(data: bytes, params: ChunkerParams) -> dict[str, bytes]:
    """What an attacker who has the file could look for."""
    out = {f"content@{at}": data[at : at + 32] for at in (0, 4096, len(data) // 2, len(data) - 32)}
    out["file id"] = blake3.blake3(data).digest()
    plain_cuts = Chunker(params).cut_bytes(data)  # the published default parameters
    for i, piece in enumerate(plain_cuts):
        cid = blake3.blake3(piece).digest()
        out[f"chunk {i} id"] = cid
        out[f"chunk {i} hex id"] = cid.hex().encode()
    out["file name"] = KNOWN.encode()
    out["snapshot slug"] = SLUG
    out["description"] = DESCRIPTION.encode()
    return out


def _found(root: Path, needles: dict[str, bytes]) -> set[str]:
    found = set()
    for path in root.rglob("*"):
        name = str(path.relative_to(root)).encode().lower()
        found |= {what for what, n in needles.items() if n.lower() in name}
        if path.is_file():
            blob = path.read_bytes()
            found |= {what for what, n in needles.items() if n in blob}
    return found


def _snapshot(ws: Workspace) -> str:
    return ws.manager().create(DESCRIPTION).snapshot.snapshot_name


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain (control)", "encrypted"])
def test_no_content_id_name_or_description_in_the_repository(
    tmp_path: Path, encrypted: bool
) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    data = _tree(ws)
    if encrypted:
        ws.init_encrypted()
    name = _snapshot(ws)
    params = ws.manager().repository_config().chunker
    needles = _needles(data, ChunkerParams())
    # The repository's own cut points, hashed without the key: not guessable, checked anyway.
    own = [blake3.blake3(p).digest() for p in Chunker(params).cut_bytes(data)]
    needles |= {f"own chunk {i}": cid for i, cid in enumerate(own)}
    found = _found(ws.repo, needles)
    if not encrypted:
        # The control: an unencrypted repository shows them all (ids, content, names).
        assert {"content@0", "chunk 0 id", "snapshot slug", "description"} <= found, found
        assert (ws.repo / "snapshots" / name).exists()
        return
    assert found == set()
    assert params.seed != 0  # a key-derived chunker seed
    assert (
        ws.manager().restore_snapshot(
            name, confirm=True, target=str(tmp_path / "out"), safety_snapshot=False
        )
        is not None
    )
    assert (tmp_path / "out" / KNOWN).read_bytes() == data


def test_key_objects_all_have_one_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    ws.init_encrypted()
    m = ws.manager()
    for label in ("", "x", "a much longer label naming the laptop of somebody " * 1):
        monkeypatch.setenv("SNAPSTORE_NEW_PASSWORD", f"pw {label}")
        m.add_key(label)
    sizes = {p.stat().st_size for p in (ws.repo / "keys").iterdir()}
    assert len(list((ws.repo / "keys").iterdir())) == 4
    assert len(sizes) == 1, sizes


def test_the_cache_holds_no_content_ids_or_password_and_is_private(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    data = _tree(ws)
    ws.init_encrypted()
    name = _snapshot(ws)
    ws.manager().restore_snapshot(name, confirm=True, safety_snapshot=False)
    needles = _needles(data, ChunkerParams())
    for what in ("snapshot slug", "file name"):  # names the cache may hold (README)
        del needles[what]
    needles["password"] = TEST_PASSWORD.encode()
    assert _found(ws.cache, needles) == set()
    files = [p for p in ws.cache.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in ws.cache.rglob("*") if p.is_dir())


def test_repository_ids_and_cuts_depend_on_the_key(tmp_path: Path) -> None:
    """Two encrypted repositories of the same tree share no chunk id and no cut points: the
    ids are keyed and the chunker seeded by each one's own key."""
    stores = []
    for i in range(2):
        ws = Workspace.make(tmp_path / f"r{i}", populate=False)
        data = _tree(ws)
        ws.init_encrypted()
        m = ws.manager()
        with m.repository.open() as opened:
            ident = opened.store.identity
            stores.append(
                (
                    [len(p) for p in Chunker(ident).cut_bytes(data)],
                    {ident.id(p) for p in Chunker(ident).cut_bytes(data)},
                )
            )
    (cuts_a, ids_a), (cuts_b, ids_b) = stores
    assert cuts_a != cuts_b
    assert not ids_a & ids_b
    assert FAST_KDF.memory_kib == 64  # these tests open repositories cheaply
