"""Kill every mutating command at each of its filesystem steps; nothing kept is ever lost.

For each command a small repository is built once, then for every chosen step a fresh copy is
taken, the real CLI process is SIGKILLed just before that step, and the invariant of
``tests.faults.scenarios`` is checked: after the next gc, ``check --read-data`` passes and
every snapshot listed before (except those the command was meant to remove) restores exactly.

CI kills before each step that changes what a reader sees (renames, links, removals); ``make
verify`` (or ``KILL_ALL=1``) kills before every step, temporary files included.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from snapstore.backend.local import LocalBackend
from snapstore.manifest.catalog import Catalog
from tests.faults.scenarios import (
    Template,
    build_template,
    everything_requested,
    kill_at_every_step,
    kill_copy_at_every_step,
    summary,
)
from tests.helpers import Workspace
from tests.lifecycle.conftest import text, write

# Kills of the copy scenario, spread over its 28 visible steps: bounds its time (about 3 s each).
KILL_COPY_STEPS = 16


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="module")
def compressed_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("ctemplate"), compressed=True)


def _unpublish(name_of: Callable[[Template], str]) -> Callable[[Template], Callable]:
    """A prepare step: remove a manifest without gc, so that the gc under test has work."""

    def make(t: Template) -> Callable[[Workspace], None]:
        def prepare(ws: Workspace) -> None:
            Catalog(LocalBackend(ws.repo)).delete(name_of(t))

        return prepare

    return make


def _change_tree(ws: Workspace) -> None:
    write(ws.bulk, "fifth.txt", text(7, 9_000))


# (id, arguments, snapshots it may remove, prepare, which template)
CASES: list[tuple[str, Callable[[Template], list[str]], Callable[[Template], set[str]], object]] = [
    ("delete", lambda t: ["delete", t.names[2], "--yes"], lambda t: {t.names[2]}, None),
    (
        "gc",
        lambda t: ["gc", "--max-unused", "0"],
        lambda t: {t.names[2]},
        _unpublish(lambda t: t.names[2]),
    ),
    (
        "cleanup",
        lambda t: ["cleanup", "--yes"],
        lambda t: set(t.names[2:]),
        None,
    ),
    ("archive", lambda t: ["archive", t.names[-1]], lambda t: set(), None),
    ("pin", lambda t: ["pin", t.names[1]], lambda t: set(), None),
    ("rebuild-index", lambda t: ["rebuild-index"], lambda t: set(), None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_kill_at_every_step_loses_nothing(template: Template, tmp_path: Path, case) -> None:
    _, args, may_go, prepare = case
    steps, runs = kill_at_every_step(
        template,
        tmp_path,
        args(template),
        may_go(template),
        everything=everything_requested(),
        prepare=prepare(template) if prepare else None,
    )
    assert runs, f"no step to kill at: {steps.events}"
    assert all(r.killed for r in runs), [r.step for r in runs if not r.killed]
    assert not any(r.lost or r.problems for r in runs), summary(runs)


def test_kill_create_with_its_automatic_cleanup(template: Template, tmp_path: Path) -> None:
    steps, runs = kill_at_every_step(
        template,
        tmp_path,
        ["create", "fifth", "--no-db"],
        set(template.names[1:]),  # keep_last = 2 with the new one: cleanup deletes these
        everything=everything_requested(),
        prepare=_change_tree,
        config=template.config_auto,
    )
    assert any("snapshots/" in e and e.startswith("os.remove") for e in steps.events), (
        "the automatic cleanup deleted nothing: the case tests nothing"
    )
    assert not any(r.lost or r.problems for r in runs), summary(runs)


def test_kill_gc_of_a_compressed_repository(compressed_template: Template, tmp_path: Path) -> None:
    t = compressed_template
    _, runs = kill_at_every_step(
        t,
        tmp_path,
        ["cleanup", "--yes"],
        set(t.names[2:]),
        everything=everything_requested(),
    )
    assert not any(r.lost or r.problems for r in runs), summary(runs)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_kill_copy_at_every_step(
    template: Template, tmp_path: Path, encrypted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy killed at any step leaves the destination valid, and the next copy sends
    exactly the chunks the destination's index did not name yet (spec/copy.md); into an
    encrypted destination too, where every chunk is re-identified and files are cut again."""
    monkeypatch.setenv("SNAPSTORE_PASSWORD", "offsite secret")  # the encrypted destination's
    steps, total, runs = kill_copy_at_every_step(
        template,
        tmp_path,
        everything=everything_requested(),
        most=KILL_COPY_STEPS // 2 if encrypted else KILL_COPY_STEPS,
        encrypted=encrypted,
    )
    assert any("/snapshots/" in e for e in steps.events), steps.events
    assert runs and all(r.killed for r in runs), [r.step for r in runs if not r.killed]
    bad = [(r.step, r.event, r.problems[:3]) for r in runs if r.problems]
    assert not bad, bad
    # Nothing indexed is sent again: what the index held plus what was sent is the whole.
    assert [r.indexed + r.resent for r in runs] == [total] * len(runs)
    assert any(0 < r.indexed < total for r in runs)  # some kills fall between snapshots
