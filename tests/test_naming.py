"""Snapshot names (snapstore/base/naming.py): the slug of a long description ends at a word."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from snapstore.base.naming import MAX_SLUG, slugify, snapshot_name
from tests.helpers import Workspace


def _whole_words(slug: str, description: str) -> bool:
    words = re.findall(r"[^\W_]+", description.lower())
    return any(slug == "_".join(words[:k]) for k in range(1, len(words) + 1))


def test_a_long_description_is_cut_after_a_whole_word() -> None:
    slug = slugify("Before the calibration of the detector array, second attempt with filters")
    assert slug == "before_the_calibration_of_the_detector_array_second_attempt"
    assert len(slug) <= MAX_SLUG


def test_a_single_overlong_word_is_still_cut_to_the_limit() -> None:
    assert slugify("x" * 100) == "x" * MAX_SLUG


@given(st.lists(st.text("abcdefghij", min_size=1, max_size=25), min_size=1, max_size=12))
def test_every_slug_is_whole_leading_words(words: list[str]) -> None:
    description = " ".join(words)
    slug = slugify(description)
    assert len(slug) <= MAX_SLUG
    if len(words[0]) <= MAX_SLUG:
        assert _whole_words(slug, description)


def test_safety_snapshot_names_end_at_a_word(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    manager = ws.manager()
    name = manager.create("calibration", cleanup=False).snapshot.snapshot_name
    (ws.bulk / "notes.txt").write_text("changed\n")
    result = manager.restore_snapshot(name, confirm=True)
    assert result.safety_snapshot is not None
    description = manager.get_snapshot(result.safety_snapshot).description
    slug = result.safety_snapshot.split("_", 3)[3]
    assert _whole_words(slug, description), (slug, description)
    when = datetime(2026, 1, 2, 3, 4, 5)
    assert snapshot_name("metis", when, "a b") == "metis_20260102_030405_a_b"
