"""A source added through the registry alone works with every command (spec/sources.md)."""

from __future__ import annotations

import pytest

from snapstore.sources import registry
from tests.helpers import Workspace, created_name
from tests.sources.kv.source import KeyValueSource


def test_a_registered_source_is_snapshotted_diffed_kept_and_restored(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    kv = ws.root / "kv"
    kv.mkdir()
    (kv / "a").write_text("alpha value " * 8)
    (kv / "b").write_text("bravo value, first " * 8)
    monkeypatch.setattr(registry, "section_sources", lambda: (KeyValueSource(kv),))

    def cli(*args: str, stdin: str | None = None) -> str:
        r = ws.invoke(*args, input=stdin)
        assert r.exit_code == 0, r.output
        return r.output

    one = created_name(cli("create", "one"))
    (kv / "b").write_text("bravo value, second " * 8)
    (kv / "c").write_text("charlie value " * 8)
    two = created_name(cli("create", "two"))
    assert one in cli("list") and "one" in cli("show", one)
    assert "  kv:\n    ~ b\n    + c\n" in cli("diff", one, two)
    cli("delete", two, "--yes")
    cli("gc", "--max-unused", "0")  # rewrites every pack: one's values must stay
    cli("check", "--read-data")
    assert "  kv: write b\n  kv: remove c\n" in cli("restore", one, "--dry-run")
    shown = cli("restore", one, stdin="yes\n")
    assert "  kv:\n    write b\n    remove c\n" in shown
    assert "  kv: 1 written, 1 removed" in shown
    assert {p.name: p.read_text() for p in kv.iterdir()} == {
        "a": "alpha value " * 8,
        "b": "bravo value, first " * 8,
    }
