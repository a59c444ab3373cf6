"""Finding and finishing what interrupted restores left (spec/restore.md, "Swap, journal and
recovery").

Beside each target a restore owns names tagged with its token (``swap``). ``recover`` looks
beside the given targets: a restore whose journal is complete (or one of whose trees is
already swapped in) had committed and is finished (swap in what is not yet, remove the
replaced trees); one that had not committed is undone (its staging removed). A partial
restore (``--include``) also left ``.ROOT.snapstore-parts-TOKEN.json`` beside the bulk root,
naming where it staged; recovery looks there too. Nothing of a restore that is still running
on this host, or that ran on another host, is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path

from snapstore.base.reporting import Reporter
from snapstore.sources.files.restore.swap import (
    JOURNAL_EXT,
    JOURNAL_TAG,
    OLD_TAG,
    PARTS_TAG,
    STAGING_TAG,
    Journal,
    read_journal,
    remove_journal,
    remove_tree,
    swap_in,
)


def _ident(path: Path) -> tuple[int, int] | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def _running(token: str) -> bool:
    """Whether the restore that owns ``token`` is still running on this host."""
    pid_text = token.split("-", 1)[0]
    if "-" not in token or not pid_text.isdigit():
        return False  # an older snapstore's name: no process to ask
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def committed(journal: Journal) -> bool:
    """Whether the restore had committed: every copy of its journal was written (the swaps
    begin only then), or a swap has happened (the copies are removed only after the swaps)."""
    if all(os.path.exists(n.journal) for n in journal.copies()):
        return True
    return any(
        _ident(n.target) == tuple(r.staged)
        for r, n in zip(journal.roots, journal.names(), strict=True)
    )


def finish(journal: Journal) -> tuple[bool, list[str]]:
    """Complete a committed restore (swap in what is not yet, remove the replaced trees) or
    undo one that had not committed (remove its staging folders); remove the journal.
    Returns whether it was completed and one line per target saying what was done."""
    done: list[str] = []
    forward = committed(journal)
    for r, n in zip(journal.roots, journal.names(), strict=True):
        staged = tuple(r.staged)
        if not forward:
            remove_tree(n.staging)
            state = "not changed"
        elif _ident(n.target) == staged:
            state = "had been swapped in"
        elif _ident(n.staging) == staged:
            swap_in(n)
            state = "swapped in now"
        else:
            state = "not found: neither it nor its staging folder holds the restored tree"
        for p in (n.staging, n.old):
            if forward and os.path.lexists(p) and _ident(p) != staged:
                remove_tree(p)
        done.append(f"{n.target} {state}")
    remove_journal(journal)
    for n in journal.copies():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(n.journal.with_name(n.journal.name + ".tmp"))
    return forward, done


def recover(targets: list[Path], reporter: Reporter) -> list[str]:
    """Find what interrupted restores left beside ``targets`` and finish or undo it (see the
    module doc); report each action through ``reporter.warn`` and return the messages."""
    messages: list[str] = []
    seen: set[Path] = set()
    queue = [Path(os.path.abspath(t)) for t in targets]
    while queue:
        target = queue.pop(0)
        if os.path.islink(target):
            target = Path(os.path.realpath(target))
        if target in seen:
            continue
        seen.add(target)
        for msg, more in _recover_one(target):
            messages.append(msg)
            reporter.warn(msg)
            queue.extend(more)
    return messages


def _owned(target: Path) -> list[tuple[str, str, Path]]:
    """(tag, token, path) of every leftover name of ``target``'s restores."""
    parent = target.parent
    try:
        names = os.listdir(parent)
    except OSError:
        return []
    out = []
    head = f".{target.name}"
    for name in sorted(names):
        if not name.startswith(head):
            continue
        rest = name[len(head) :]
        for tag in (JOURNAL_TAG, STAGING_TAG, OLD_TAG, PARTS_TAG):
            if rest.startswith(tag):
                out.append((tag, rest[len(tag) :], parent / name))
    return out


def _recover_parts(path: Path, token: str) -> list[tuple[str, list[Path]]]:
    """An interrupted partial restore: recover beside each path it named, then forget it."""
    out: list[tuple[str, list[Path]]] = []
    if path.name.endswith(".tmp"):
        path.unlink(missing_ok=True)  # nothing was staged before this was complete
        return out
    try:
        targets = [Path(t) for t in json.loads(path.read_bytes())["targets"]]
    except (OSError, ValueError, KeyError, TypeError):
        return out  # unreadable: leave it for a person to look at
    for t in targets:
        out.extend(_recover_one(t))
    path.unlink(missing_ok=True)
    return out


def _recover_one(target: Path) -> list[tuple[str, list[Path]]]:
    out: list[tuple[str, list[Path]]] = []
    owned = _owned(target)
    finished: set[str] = set()
    for tag, token, path in owned:
        if tag != JOURNAL_TAG:
            continue
        if token.endswith(JOURNAL_EXT + ".tmp"):
            token = token[: -len(JOURNAL_EXT + ".tmp")]
            if not _running(token):
                path.unlink(missing_ok=True)  # never committed: the staging goes below
            continue
        token = token.removesuffix(JOURNAL_EXT)
        said = _recover_journal(target, token, path)
        if said is not None:
            out.append(said)
            finished.add(token)
    # A partial restore's journal (above) has finished or undone its parts; what is left
    # beside them (staging of a restore that never committed) goes now.
    for tag, token, path in owned:
        if tag == PARTS_TAG:
            token = token.removesuffix(".tmp").removesuffix(JOURNAL_EXT)
            if not _running(token):
                out.extend(_recover_parts(path, token))
    for tag, token, path in owned:
        if tag in (JOURNAL_TAG, PARTS_TAG) or token in finished or not os.path.lexists(path):
            continue
        if not _running(token):
            out.append(_recover_leftover(target, tag, path))
    return out


def _recover_journal(target: Path, token: str, path: Path) -> tuple[str, list[Path]] | None:
    """Finish or undo the restore whose committed journal is ``path`` (what was done, and the
    targets it rewrote), or say why it is left alone; None for a journal nobody can read,
    left with its folders for a person to look at."""
    if _running(token):
        return (f"a restore (pid {token.split('-')[0]}) is running into {target}", [])
    journal = read_journal(path)
    if journal is None or journal.token != token:
        return None
    if journal.host != socket.gethostname():
        # Its pid means nothing here: the restore may still be running there.
        return (
            f"an interrupted or running restore from host {journal.host} left {path}; "
            f"run `snapstore check` there to finish it",
            [],
        )
    forward, done = finish(journal)
    safety = (
        f"; the state before it is in snapshot {journal.safety_snapshot}"
        if journal.safety_snapshot and forward
        else ""
    )
    what = "finished" if forward else "undid (it had not committed)"
    return (
        f"{what} the interrupted restore of {journal.snapshot} (pid "
        f"{token.split('-')[0]}, {journal.created}): " + "; ".join(done) + safety,
        [Path(r.target) for r in journal.roots],
    )


def _recover_leftover(target: Path, tag: str, path: Path) -> tuple[str, list[Path]]:
    """Remove an unfinished staging folder, or put back (or remove) the tree a dead restore
    moved aside from ``target``."""
    if tag == STAGING_TAG:
        remove_tree(path)
        return (
            f"removed {path.name}, the unfinished staging folder of an interrupted "
            f"restore; {target} was not changed by it",
            [],
        )
    if not os.path.lexists(target):
        os.rename(path, target)
        return (f"put back {target}, moved aside by an interrupted restore", [])
    remove_tree(path)
    return (f"removed {path.name}, the tree an interrupted restore had replaced", [])
