"""Plan, then execute (spec/cli.md, "Confirmation"): each command opens the repository once,
the question shows the plan, and that plan runs, or nothing when the repository changed while
the question waited."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

import snapstore.ops.repository as repository_module
from snapstore.base.errors import RepositoryError
from snapstore.manager import SnapshotManager
from tests.helpers import Workspace, created_name
from tests.lifecycle.conftest import lifecycle_manager, text, write

if TYPE_CHECKING:
    from snapstore.ops.maintain import DeletePlan


def _count_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every backend the product opens, by location (the real backend is opened)."""
    opened: list[str] = []
    real = repository_module.open_backend

    def counting(location: str, **kwargs: Any) -> Any:
        opened.append(location)
        return real(location, **kwargs)

    monkeypatch.setattr(repository_module, "open_backend", counting)
    return opened


def _snapshots(ws: Workspace, n: int) -> list[str]:
    names = []
    for k in range(n):
        write(ws.bulk, f"f{k}.txt", text(k, 3000))
        r = ws.invoke("create", f"snap {k}", "--no-cleanup")
        assert r.exit_code == 0, r.output
        names.append(created_name(r.stdout))
    return names


def test_delete_with_its_question_and_gc_opens_the_repository_once(
    lws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    [name] = _snapshots(lws, 1)
    opened = _count_opens(monkeypatch)
    r = lws.invoke("delete", name, input="yes\n")
    assert r.exit_code == 0, r.output
    assert "Reclaimed" in r.stderr and f"Delete snapshot: {name}" in r.stderr
    assert len(opened) == 1, opened


def test_cleanup_with_its_question_opens_the_repository_once(
    lws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = lifecycle_manager(lws, retention={"keep_last": 1, "keep_weekly_weeks": 0})
    _snapshots(lws, 2)
    opened = _count_opens(monkeypatch)
    result = m.apply_retention_policy(confirm=lambda plan: None)
    assert len(result.deleted) == 1 and result.gc is not None
    assert len(opened) == 1, opened


def _pin_meanwhile(ws: Workspace, name: str) -> Callable[[DeletePlan], None]:
    def confirm(plan: DeletePlan) -> None:
        assert plan.snapshot is not None and not plan.snapshot.permanent
        ws.manager().pin(name)  # another user, while the question waits

    return confirm


def test_delete_runs_nothing_when_the_snapshot_changed_while_asked(lws: Workspace) -> None:
    [name] = _snapshots(lws, 1)
    m: SnapshotManager = lws.manager()
    with pytest.raises(RepositoryError, match="changed while the question waited"):
        m.delete(name, force=True, confirm=_pin_meanwhile(lws, name))
    assert [s.snapshot_name for s in m.list_snapshots()] == [name]
    # Asked again, the plan shows it as permanent, and that plan runs.
    shown: list[DeletePlan] = []
    done = m.delete(name, force=True, confirm=shown.append)
    assert shown == [done] and done.snapshot is not None and done.snapshot.permanent
    assert m.list_snapshots() == []


def test_create_with_its_automatic_cleanup_opens_the_repository_once(
    lws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = lifecycle_manager(
        lws, auto_cleanup=True, retention={"keep_last": 1, "keep_weekly_weeks": 0}
    )
    _snapshots(lws, 1)
    write(lws.bulk, "new.txt", text(9, 3000))
    opened = _count_opens(monkeypatch)
    result = m.create("newest")
    assert result.cleanup is not None and len(result.cleanup.deleted) == 1
    assert len(opened) == 1, opened
