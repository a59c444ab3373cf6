"""The words and numbers the pages show, computed without a browser (snapstore/ui/views.py,
viewer.py; spec/browse.md, "ui")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from snapstore.ui.viewer import link_target, preview
from snapstore.ui.views import relative, size

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


def test_relative_dates() -> None:
    cases = [
        (timedelta(seconds=20), "just now"),
        (timedelta(minutes=1, seconds=5), "1 minute ago"),
        (timedelta(minutes=59), "59 minutes ago"),
        (timedelta(hours=3), "3 hours ago"),
        (timedelta(days=1, hours=2), "yesterday"),
        (timedelta(days=3), "3 days ago"),
        (timedelta(days=13), "13 days ago"),
        (timedelta(days=15), "2 weeks ago"),
        (timedelta(days=125), "4 months ago"),
        (timedelta(days=800), "2 years ago"),
    ]
    assert [relative(NOW - ago, NOW) for ago, _ in cases] == [said for _, said in cases]


def test_sizes() -> None:
    assert [size(n) for n in (0, 1023, 1024, 1536, 5 << 20, 3 << 30)] == [
        "0 B",
        "1023 B",
        "1.0 KB",
        "1.5 KB",
        "5.0 MB",
        "3.0 GB",
    ]


def test_previews() -> None:
    assert preview("héllo\n".encode(), 7).encoding == "UTF-8"
    cut = "é".encode() * 10
    assert preview(cut[:-1], 20).body == "é" * 9  # a character cut by the 1 MiB limit
    latin = preview("café\n".encode("latin-1"), 5)
    assert (latin.kind, latin.body) == ("text", "café\n") and "Windows-1252" in latin.encoding
    binary = preview(bytes(range(256)), 256)
    assert binary.kind == "hex" and binary.body.splitlines()[1].startswith("00000010: 1011")


def test_symlink_targets() -> None:
    assert link_target("a/b/link", "../c.txt") == "a/c.txt"
    assert link_target("link", "data/x") == "data/x"
    assert link_target("a/link", "../../etc/passwd") is None  # above the snapshot
    assert link_target("link", "/etc/passwd") is None
