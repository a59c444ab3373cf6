"""What restore checks before it writes anything: that a listing describes one tree, that root
labels and paths from the manifest are safe, and that the targets asked for are usable.

A repository may be damaged or hostile (spec/restore.md, "Hostile listings"): every entry is
validated as it is decoded (``FileEntry.from_map``), and ``TreeChecker`` (``snapstore.tree.bulk``,
shared with ls, cat, export and mount) refuses, as the listing streams by, anything that would
make restore create an entry through a symlink or twice.
"""

from __future__ import annotations

import os
from pathlib import Path
from shlex import quote

from snapstore.base.errors import CorruptData, InvalidInput
from snapstore.manifest.schema import BulkRoot, Manifest
from snapstore.tree.bulk import check_label


def check_root_path(m: Manifest, path: object) -> str:
    """A root's recorded path (the default target) must be absolute and normal, not ``/``."""
    if (
        not isinstance(path, str)
        or "\0" in path
        or not path.startswith("/")
        or os.path.normpath(path) != path
        or path.startswith("//")
        or path == "/"
    ):
        raise CorruptData(f"snapshot {m.name}: bulk root path {path!r} is not a safe target")
    return path


def _inside(a: str, b: str) -> bool:
    """Whether path ``a`` is ``b`` or below it (both real, absolute)."""
    return a == b or a.startswith(b.rstrip("/") + "/")


def plan_targets(
    m: Manifest, target: str | None, keep_out: list[str], configured: list[str]
) -> list[tuple[BulkRoot, Path]]:
    """The (root, directory) pairs a restore of ``m`` writes, ``target`` being ``--target``.

    Without ``target`` each root goes back to its recorded path, which must be one of the
    ``configured`` bulk roots: where an in-place restore writes comes from the configuration,
    never from the repository (a forged manifest cannot aim it at another folder). Refuses
    (bad input) an empty or unsafe ``--target``, one that is not a directory, targets inside
    one another, and targets that lie inside a path of ``keep_out`` (the repository, the
    cache); a ``--target`` that holds one is refused too, while a configured root that holds
    one is restored around it (the caller keeps it). Labels and recorded root paths come from
    the manifest: unsafe ones make the snapshot corrupt.
    """
    roots = m.bulk or []
    base = None if target is None else _target_base(target)
    labels: set[str] = set()
    paths: set[str] = set()
    out: list[tuple[BulkRoot, Path]] = []
    for root in roots:
        path = check_root_path(m, root.path)
        if path in paths:
            raise CorruptData(f"snapshot {m.name}: bulk root {path} is listed twice")
        paths.add(path)
        if base is None:
            dest = Path(path)
        elif len(roots) == 1:
            dest = base
        else:
            label = check_label(m, root.label)
            if label in labels:
                raise CorruptData(f"snapshot {m.name}: bulk root label {label!r} is used twice")
            labels.add(label)
            dest = base / label
        out.append((root, dest))
    if base is None:
        _check_configured(m, [r.path for r, _ in out], configured)
    _check_dests([d for _, d in out], keep_out, holds_refused=base is not None)
    return out


def _target_base(target: str) -> Path:
    """``--target`` as an absolute directory; InvalidInput when empty, unsafe or a file."""
    if not target.strip():
        raise InvalidInput("--target is empty: name the directory to restore into")
    if "\0" in target:
        raise InvalidInput("--target holds a NUL character")
    base = Path(os.path.abspath(os.path.expanduser(target)))
    if str(base) == "/":
        raise InvalidInput("--target / would replace the whole file system")
    if os.path.lexists(base) and not os.path.isdir(base):
        raise InvalidInput(f"--target {base} exists and is not a directory")
    return base


def _check_dests(dests: list[Path], keep_out: list[str], *, holds_refused: bool) -> None:
    """InvalidInput for a destination that is a file, lies inside another one, or lies inside
    a path of ``keep_out``; with ``holds_refused`` (a ``--target``) also one that holds such a
    path."""
    real = [os.path.realpath(d) for d in dests]
    for dest, r in zip(dests, real, strict=True):
        if os.path.lexists(dest) and not os.path.isdir(dest):
            raise InvalidInput(f"restore target {dest} exists and is not a directory")
        for other in real:
            if other != r and _inside(other, r):
                raise InvalidInput(f"restore targets overlap: {other} is inside {r}")
        for k in keep_out:
            kr = os.path.realpath(k)
            if _inside(r, kr) or (holds_refused and _inside(kr, r)):
                raise InvalidInput(
                    f"restore target {dest} would replace the repository or cache at {k}"
                )


def check_roots(m: Manifest) -> None:
    """The manifest-only part of ``plan_targets``, for ``check``: every root path is a safe
    target and listed once, and (with several roots, which ``--target`` places by label) every
    label is a folder name used once. CorruptData names the snapshot."""
    roots = m.bulk or []
    paths: set[str] = set()
    labels: set[str] = set()
    for root in roots:
        path = check_root_path(m, root.path)
        if path in paths:
            raise CorruptData(f"snapshot {m.name}: bulk root {path} is listed twice")
        paths.add(path)
        if len(roots) > 1:
            label = check_label(m, root.label)
            if label in labels:
                raise CorruptData(f"snapshot {m.name}: bulk root label {label!r} is used twice")
            labels.add(label)


def _check_configured(m: Manifest, recorded: list[str], configured: list[str]) -> None:
    """An in-place restore writes only into configured bulk roots; anything else takes
    ``--target`` (one line saying what to type)."""
    known = {os.path.normpath(os.path.abspath(os.path.expanduser(p))) for p in configured}
    other = [p for p in recorded if p not in known]
    if not other:
        return
    now = ", ".join(sorted(known)) or "none"
    if len(recorded) > 1:
        hint = "restore it with --target DIR (each root then goes to DIR/<its name>)"
    elif m.kind == "safety":  # taken before a --target restore: its way back is that folder
        hint = f"restore it with --target DIR (--target {quote(other[0])} puts it back)"
    elif len(known) == 1:
        hint = f"restore it with --target DIR (--target {quote(next(iter(known)))} to put it there)"
    else:
        hint = "restore it with --target DIR"
    raise InvalidInput(
        f"snapshot {m.name} holds bulk root {other[0]}, which is not a configured bulk root "
        f"(configured: {now}), and an in-place restore writes only into those: {hint}"
    )


MOUNTINFO = "/proc/self/mountinfo"


def mount_points_inside(dest: Path, mountinfo: str = MOUNTINFO) -> list[str]:
    """The mount points strictly inside ``dest`` (from the kernel's mount table; empty where
    there is none to read). A restore replaces the tree at ``dest`` and removes the old one:
    what is mounted inside would be left behind in the old tree, or, by a removal that
    crossed into it, emptied."""
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    base = os.path.realpath(dest).rstrip("/") + "/"
    out = []
    for line in lines:
        fields = line.split(" ")
        if len(fields) < 5:
            continue
        # Field 5 is the mount point, with space, tab, newline and backslash as octal escapes.
        point = fields[4]
        for esc, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
            point = point.replace(esc, ch)
        if point.startswith(base):
            out.append(point)
    return sorted(set(out))


def refuse_mount_points(dest: Path) -> None:
    """Refuse to replace a tree that has a file system mounted inside it (one line naming the
    mount point); checked before anything is written."""
    if not dest.exists():
        return
    inside = mount_points_inside(dest)
    if inside:
        more = f" (and {len(inside) - 1} more)" if len(inside) > 1 else ""
        raise InvalidInput(
            f"{inside[0]}{more} is a mount point inside {dest}: a restore replaces that tree "
            f"and cannot carry a mounted file system along; unmount it, or restore with "
            f"--target into another folder"
        )
