"""Test helpers: workspaces, running the CLI (in-process and as a real subprocess), building
trees from specs, comparing trees exactly, and reaching into a repository to damage it.

Nothing here replaces a component of snapstore: trees are real directories, the CLI runs as
``python -m tools.backup.cli`` or through click's runner, repositories are real ones.
"""

from __future__ import annotations

import os
import random
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from click.testing import CliRunner, Result
from hypothesis import strategies as st

from snapstore.backend.local import LocalBackend
from snapstore.cli.main import cli
from snapstore.config.settings import ArangoSettings, Settings
from snapstore.crypto.keys import KdfParams
from snapstore.manager import SnapshotManager
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.config import ChunkerParams
from tests import zygote

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SMALL_CHUNKER = ChunkerParams(min_size=64, avg_size=256, max_size=1024)
# Argon2id at its cheapest, for tests that open encrypted repositories many times (the product's
# default costs a quarter of a second per opening; spec/encryption.md).
FAST_KDF = KdfParams(memory_kib=64, iterations=1, lanes=1)
TEST_PASSWORD = "correct horse battery staple"
IS_ROOT = os.geteuid() == 0

# -- workspaces ---------------------------------------------------------------------------------


@dataclass
class Workspace:
    """A test's directories: bulk tree, repository (created lazily), cache, project dir."""

    root: Path
    repo: Path
    bulk: Path
    cache: Path
    exclude: tuple[str, ...] | None = None
    auto_cleanup: bool | None = None  # None: the product default
    # An encrypted repository's password, given to snapstore as ``password_command`` (and to
    # CLI subprocesses as $SNAPSTORE_PASSWORD); None: the repository is not encrypted.
    password: str | None = None

    @classmethod
    def make(cls, tmp: Path, *, populate: bool = True) -> Workspace:
        w = cls(root=tmp, repo=tmp / "repo", bulk=tmp / "bulk", cache=tmp / "cache")
        w.bulk.mkdir(parents=True, exist_ok=True)
        if populate:
            populate_sample(w.bulk)
        return w

    def settings(self, **overrides: Any) -> Settings:
        s = Settings(
            repository=str(self.repo),
            bulk=(str(self.bulk),),
            project_dir=str(self.root),
            cache_dir=str(self.cache),
            arangodb=ArangoSettings(),
        )
        if self.exclude is not None:
            s = replace(s, exclude=self.exclude)
        if self.auto_cleanup is not None:
            s = replace(s, auto_cleanup=self.auto_cleanup)
        if self.password is not None:
            s = replace(s, password_command=f"printf %s {shlex.quote(self.password)}")
        return replace(s, **overrides)

    def init_encrypted(self, password: str = TEST_PASSWORD, **kw: Any) -> None:
        """Make the repository an encrypted one (cheap Argon2id) that this workspace opens."""
        self.password = password
        self.manager().init_repository(kw.pop("chunker", None), encryption=True, kdf=FAST_KDF)

    def manager(self, **overrides: Any) -> SnapshotManager:
        return SnapshotManager(self.settings(**overrides))

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a CLI subprocess working on this workspace."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SNAPSTORE_ARANGO")}
        env.update(
            PYTHONPATH=str(REPO_ROOT),
            SNAPSTORE_REPO=str(self.repo),
            SNAPSTORE_BULK=str(self.bulk),
            SNAPSTORE_CACHE_DIR=str(self.cache),
            SNAPSTORE_PROJECT_DIR=str(self.root),
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.pop("SNAPSTORE_CONFIG", None)
        if self.password is not None:
            env["SNAPSTORE_PASSWORD"] = self.password
        env.update(extra)
        return env

    def cli_command(self, *args: str) -> list[str]:
        return [PYTHON, "-m", "tools.backup.cli", *args]

    def run(
        self,
        *args: str,
        input: str | None = None,
        timeout: float = 120,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m tools.backup.cli ARGS`` as a real process (forked from the test
        process's zygote: tests/zygote.py)."""
        return zygote.run(
            self.cli_command(*args),
            stdin=input,
            timeout=timeout,
            cwd=cwd or self.root,
            env=env or self.env(),
        )

    def run_bytes(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        """``run`` with stdout kept as bytes (``cat``, ``export --tar -``); stderr as text."""
        r = zygote.run(
            self.cli_command(*args), timeout=timeout, cwd=self.root, env=self.env(), text=False
        )
        return subprocess.CompletedProcess(r.args, r.returncode, r.stdout, r.stderr.decode())

    def popen(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.cli_command(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.root,
            env=kw.pop("env", None) or self.env(),
            **kw,
        )

    def invoke(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        """Run the CLI in-process through click's runner (stdout and stderr kept apart)."""
        runner = CliRunner()
        return runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=True)


def populate_sample(bulk: Path) -> None:
    """A small tree with a bit of everything: text, binary, empty dir, symlinks."""
    rng = random.Random(7)
    (bulk / "notes.txt").write_text("experiment notes\n" * 20)
    (bulk / "data").mkdir()
    (bulk / "data" / "weights.bin").write_bytes(rng.randbytes(40_000))
    (bulk / "data" / "empty.txt").write_bytes(b"")
    (bulk / "empty-dir").mkdir()
    os.symlink("data/weights.bin", bulk / "link")
    os.symlink("does-not-exist", bulk / "dangling")


# -- running as another user --------------------------------------------------------------------


@dataclass(frozen=True)
class OtherUser:
    """Runs the CLI as another user (``setpriv``), from a checkout and venv that user reaches.

    ``prefix`` comes before the python; ``python`` and ``pythonpath`` name the interpreter and
    the checkout as that user sees them (the real ones, or the bind-mounted view of them).
    """

    prefix: tuple[str, ...]
    python: str
    pythonpath: str
    how: str  # "direct" or "view", for messages

    def command(self, *args: str) -> list[str]:
        return [*self.prefix, self.python, "-m", "tools.backup.cli", *args]

    def env(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, "PYTHONPATH": self.pythonpath}


def _can_run(user: OtherUser, env: dict[str, str]) -> str | None:
    """None when ``user`` really imports the CLI, else the reason it does not."""
    probe = subprocess.run(
        [*user.prefix, user.python, "-c", "import tools.backup.cli"],
        capture_output=True,
        text=True,
        timeout=60,
        env=user.env(env),
        cwd="/",
        stdin=subprocess.DEVNULL,
    )
    if probe.returncode == 0:
        return None
    return f"{user.how}: exit {probe.returncode}: {probe.stderr.strip()[-300:]}"


def other_user(uid: int, gid: int, view: Path, env: dict[str, str]) -> OtherUser:
    """A way to run this checkout's CLI as ``uid:gid``, or ``pytest.skip`` saying why not.

    A fresh clone often lies in a folder that only its owner may enter (``mktemp -d`` is
    0700), and then user ``uid`` cannot reach the checkout or its venv. In that case the
    command runs in a private mount namespace (``unshare -m``) in which the checkout and the
    venv are bind-mounted under ``view`` (a folder that user can enter); the mounts vanish
    with the process, and nothing on the host changes.
    """
    import pytest

    setpriv = ("setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups")
    direct = OtherUser(setpriv, PYTHON, str(REPO_ROOT), "direct")
    why_not = [_can_run(direct, env)]
    if why_not[0] is None:
        return direct
    prefix = Path(sys.prefix)
    checkout = view / "checkout"
    binds = [(REPO_ROOT, checkout)]
    if prefix.is_relative_to(REPO_ROOT):
        python = checkout / prefix.relative_to(REPO_ROOT) / Path(PYTHON).relative_to(prefix)
    else:
        binds.append((prefix, view / "prefix"))
        python = view / "prefix" / Path(PYTHON).relative_to(prefix)
    for _, mountpoint in binds:
        mountpoint.mkdir(parents=True, exist_ok=True)
    mounts = " && ".join(f'mount --bind "${2 * i + 1}" "${2 * i + 2}"' for i in range(len(binds)))
    script = f'{mounts} && shift {2 * len(binds)} && exec "$@"'
    paths = [str(p) for pair in binds for p in pair]
    viewed = OtherUser(
        ("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *paths, *setpriv),
        str(python),
        str(checkout),
        "view",
    )
    why_not.append(_can_run(viewed, env))
    if why_not[1] is None:
        return viewed
    pytest.skip(f"user {uid} cannot run this checkout's CLI ({'; '.join(map(str, why_not))})")


# -- output checks ------------------------------------------------------------------------------


def error_line(stderr: str, *needles: str, alone: bool = True) -> str:
    """Assert stderr holds exactly one ``error:`` line (and nothing else when ``alone``)."""
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1, f"expected one error line, got:\n{stderr}"
    if alone:
        assert lines == errors, f"expected only the error line on stderr, got:\n{stderr}"
    for needle in needles:
        assert needle in errors[0], f"{needle!r} not in {errors[0]!r}"
    return errors[0]


def ok(r: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr
    return r


def created_name(stdout: str) -> str:
    """The snapshot name from the seed's ``✓ Snapshot created: NAME`` line."""
    for line in stdout.splitlines():
        if line.startswith("✓ Snapshot created: "):
            return line.split(": ", 1)[1].strip()
    raise AssertionError(f"no '✓ Snapshot created:' line in:\n{stdout}")


# -- trees ---------------------------------------------------------------------------------------


class Node(NamedTuple):
    """What a user would notice about one path: type, mode, mtime, owner, content/target."""

    kind: str  # "f", "d", "l" or "?"
    mode: int | None  # None for symlinks (their mode cannot be set on Linux)
    mtime_ns: int
    uid: int
    gid: int
    data: bytes | None  # file content or symlink target


def tree_state(root: str | os.PathLike[str], *, include_root: bool = True) -> dict[bytes, Node]:
    """Every path under ``root`` (bytes, relative, b"" for root) with its observable state."""
    out: dict[bytes, Node] = {}
    base = os.fsencode(root)

    def visit(rel: bytes, full: bytes) -> None:
        st = os.lstat(full)
        data: bytes | None = None
        mode: int | None = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            kind = "d"
        elif stat.S_ISLNK(st.st_mode):
            kind, data, mode = "l", os.readlink(full), None
        elif stat.S_ISREG(st.st_mode):
            kind = "f"
            with open(full, "rb") as f:
                data = f.read()
        else:
            kind = "?"
        if rel or include_root:
            out[rel] = Node(kind, mode, st.st_mtime_ns, st.st_uid, st.st_gid, data)
        if kind == "d":
            for name in sorted(os.listdir(full)):
                visit(rel + b"/" + name if rel else name, os.path.join(full, name))

    visit(b"", base)
    return out


def tree_diff(expected: dict[bytes, Node], actual: dict[bytes, Node], limit: int = 20) -> list[str]:
    lines: list[str] = []
    for path in sorted(expected.keys() | actual.keys()):
        e, a = expected.get(path), actual.get(path)
        if e == a:
            continue
        if a is None:
            lines.append(f"missing {path!r}: {_short(e)}")
        elif e is None:
            lines.append(f"unexpected {path!r}: {_short(a)}")
        else:
            fields = [f for f in Node._fields if getattr(e, f) != getattr(a, f)]
            lines.append(
                f"differs {path!r}: "
                + ", ".join(f"{f} {_val(getattr(e, f))} != {_val(getattr(a, f))}" for f in fields)
            )
    return lines[:limit] + ([f"... {len(lines) - limit} more"] if len(lines) > limit else [])


def _val(v: object) -> str:
    if isinstance(v, bytes) and len(v) > 40:
        return f"<{len(v)} bytes>"
    if isinstance(v, int) and v > 7 and v < 0o10000:
        return oct(v)
    return repr(v)


def _short(n: Node | None) -> str:
    if n is None:
        return "-"
    return f"{n.kind} mode={_val(n.mode)} data={_val(n.data)}"


def assert_same_tree(
    expected: dict[bytes, Node], actual: dict[bytes, Node], what: str = ""
) -> None:
    diff = tree_diff(expected, actual)
    assert not diff, (what + ": " if what else "") + "trees differ:\n  " + "\n  ".join(diff)


# Tree specs: built by the hypothesis strategies below and written by write_tree.


@dataclass
class FileSpec:
    content: bytes
    mode: int = 0o644
    mtime_ns: int = 1_600_000_000_000_000_000
    uid: int = 0
    gid: int = 0


@dataclass
class LinkSpec:
    target: bytes
    mtime_ns: int = 1_600_000_000_000_000_000
    uid: int = 0
    gid: int = 0


@dataclass
class DirSpec:
    children: dict[bytes, FileSpec | LinkSpec | DirSpec] = field(default_factory=dict)
    mode: int = 0o755
    mtime_ns: int = 1_600_000_000_000_000_000
    uid: int = 0
    gid: int = 0

    def count(self, kind: type) -> int:
        n = 0
        for c in self.children.values():
            n += isinstance(c, kind)
            if isinstance(c, DirSpec):
                n += c.count(kind)
        return n


def write_tree(root: str | os.PathLike[str], spec: DirSpec) -> None:
    """Create ``spec`` at ``root`` (created if missing), setting owners, modes and mtimes."""
    base = os.fsencode(root)
    os.makedirs(base, exist_ok=True)
    _write_children(base, spec)
    _finish(base, spec)


def _write_children(path: bytes, spec: DirSpec) -> None:
    for name, child in spec.children.items():
        full = os.path.join(path, name)
        if isinstance(child, DirSpec):
            os.mkdir(full, 0o700)
            _write_children(full, child)
            _finish(full, child)
        elif isinstance(child, LinkSpec):
            os.symlink(child.target, full)
            if IS_ROOT:
                os.lchown(full, child.uid, child.gid)
            os.utime(full, ns=(child.mtime_ns, child.mtime_ns), follow_symlinks=False)
        else:
            with open(full, "xb") as f:
                f.write(child.content)
            if IS_ROOT:
                os.chown(full, child.uid, child.gid)
            os.chmod(full, child.mode)
            os.utime(full, ns=(child.mtime_ns, child.mtime_ns))


def _finish(path: bytes, spec: DirSpec) -> None:
    if IS_ROOT:
        os.chown(path, spec.uid, spec.gid)
    os.chmod(path, spec.mode)
    os.utime(path, ns=(spec.mtime_ns, spec.mtime_ns))


def big_tree(root: Path, files: int, size: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(files):
        d = root / f"dir{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"file{i:04d}.bin").write_bytes(rng.randbytes(size))


# -- reaching into a repository ------------------------------------------------------------------


def pack_files(repo: Path) -> list[Path]:
    return sorted(p for p in (repo / "packs").glob("*/*") if p.is_file())


def object_names(repo: Path) -> dict[str, set[str]]:
    """The repository's objects by kind (packs, index, snapshots...), ignoring tmp and locks."""
    out: dict[str, set[str]] = {}
    for kind in ("packs", "index", "snapshots", "archives"):
        d = repo / kind
        names = {p.name for p in d.rglob("*") if p.is_file()} if d.is_dir() else set()
        out[kind] = names
    return out


def file_chunk_location(ws: Workspace, snapshot: str, rel: bytes) -> tuple[Path, int, int]:
    """(pack file, offset, length) of the first chunk of file ``rel`` in ``snapshot``."""
    manager = ws.manager()
    entry = next(e for _, e in manager.snapshot_files(snapshot) if e.path == rel)
    assert entry.chunks, f"{rel!r} has no chunks"
    backend = LocalBackend(ws.repo)
    store = ChunkStore.open(backend, str(ws.cache))
    try:
        loc = store.locate(entry.chunks[0])
    finally:
        store.close()
    assert loc is not None
    return ws.repo / "packs" / loc.pack[:2] / loc.pack, loc.offset, loc.length


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


# -- hypothesis strategies -----------------------------------------------------------------------

# Names a user can really have: non-UTF-8 bytes, spaces, newlines, unicode, leading dashes.
ODD_NAMES = (
    b"\xff\xfe",
    b"with space",
    b"new\nline",
    "ünïcødé".encode(),
    "日本語".encode(),
    b"-dash",
    b".hidden",
    b"tab\tname",
    b"a",
    b"A",
    b"\x01ctl",
    b"trailing ",
)
_EXCLUDED = {b".", b"..", b".tmp", b"__pycache__", b".git"}


def _valid_name(name: bytes) -> bool:
    return bool(name) and b"/" not in name and b"\x00" not in name and name not in _EXCLUDED


names = st.one_of(
    st.sampled_from(ODD_NAMES),
    st.binary(min_size=1, max_size=10).filter(_valid_name),
    st.text(min_size=1, max_size=10).map(os.fsencode).filter(_valid_name),
)
mtimes = st.integers(min_value=0, max_value=4_000_000_000 * 10**9)
owners = st.sampled_from([0, 65534, 1234]) if IS_ROOT else st.just(os.geteuid())
_shared_content = st.sampled_from([b"", b"same content\n" * 40, bytes(range(256)) * 9])
contents = st.one_of(
    st.binary(max_size=3000),
    _shared_content,
    st.integers(min_value=0, max_value=2**32).map(lambda s: random.Random(s).randbytes(6000)),
)
file_specs = st.builds(
    FileSpec,
    content=contents,
    mode=st.sampled_from([0o644, 0o600, 0o755, 0o400, 0o000, 0o777, 0o640]),
    mtime_ns=mtimes,
    uid=owners,
    gid=owners,
)
link_specs = st.builds(
    LinkSpec,
    target=st.one_of(
        st.sampled_from([b"nowhere", b"../outside", b"/absolute/path", b"\xff\xfe", b"."]),
        st.binary(min_size=1, max_size=30).filter(lambda t: b"\x00" not in t),
    ),
    mtime_ns=mtimes,
    uid=owners,
    gid=owners,
)
dir_modes = st.sampled_from([0o755, 0o700, 0o555, 0o750, 0o2755, 0o1777])


def dir_specs(children: st.SearchStrategy[Any]) -> st.SearchStrategy[DirSpec]:
    return st.builds(
        DirSpec,
        children=st.dictionaries(names, children, max_size=6),
        mode=dir_modes,
        mtime_ns=mtimes,
        uid=owners,
        gid=owners,
    )


trees = dir_specs(st.recursive(st.one_of(file_specs, link_specs), dir_specs, max_leaves=14))
