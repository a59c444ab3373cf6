"""Restore plans once and executes that plan (spec/restore.md, "Plan, then execute"): one
command opens the repository once (its safety snapshot included), and the dry run, the
confirmation and the restore all come from the same plan."""

from __future__ import annotations

from typing import Any

import pytest

import snapstore.ops.repository as repository
from tests.helpers import Workspace, created_name, tree_state


def _count_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every opening of the repository's backend from now on (its location)."""
    opened: list[str] = []
    real = repository.open_backend

    def counting(location: str, **kw: Any) -> Any:
        opened.append(location)
        return real(location, **kw)

    monkeypatch.setattr(repository, "open_backend", counting)
    return opened


def _snapshot_then_change(ws: Workspace) -> tuple[str, dict[bytes, Any]]:
    r = ws.invoke("create", "before")
    assert r.exit_code == 0, r.output
    before = tree_state(ws.bulk)
    (ws.bulk / "new.txt").write_text("written after the snapshot\n")
    return created_name(r.stdout), before


@pytest.mark.parametrize("flags", [("--yes",), ()])
def test_a_restore_opens_the_repository_once(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...]
) -> None:
    name, before = _snapshot_then_change(ws)
    opened = _count_opens(monkeypatch)
    r = ws.invoke("restore", name, *flags, input=None if flags else "yes\n")
    assert r.exit_code == 0, r.output
    assert "Safety snapshot taken: " in r.output  # the safety snapshot used that opening too
    assert tree_state(ws.bulk) == before
    assert opened == [str(ws.repo)]


def test_a_dry_run_opens_the_repository_once_and_changes_nothing(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, _ = _snapshot_then_change(ws)
    after = tree_state(ws.bulk)
    opened = _count_opens(monkeypatch)
    r = ws.invoke("restore", name, "--dry-run")
    assert r.exit_code == 0, r.output
    assert "new.txt" in r.stdout
    assert tree_state(ws.bulk) == after
    assert opened == [str(ws.repo)]
