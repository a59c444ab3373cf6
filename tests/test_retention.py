"""Tests for snapstore.base.retention: unit tests per rule, golden files, hypothesis properties.

Golden files live in tests/data/retention/*.json, one case per file, in the spirit of
restic's testdata/policy_keep_snapshots_N: a description, "now", the policy (the TOML
table form accepted by RetentionPolicy.from_mapping), the input snapshots and the
expected decisions (name, fate, reasons), newest first. The expected decisions were
written by hand from spec/retention.md and checked line by line; the test compares them
with apply_policy's output.

To regenerate the "expected" parts after an intended change of the rules, run

    SNAPSTORE_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_retention.py -k golden

then review the diff of tests/data/retention/ (git diff) before committing: a golden
file is only worth something if a human has read it. Only "expected" is rewritten; the
description, now, policy and snapshots are kept as they are.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from snapstore.base.retention import (
    REASON_FUTURE,
    REASON_NOT_KEPT,
    REASON_PERMANENT,
    Decision,
    Fate,
    RetentionPolicy,
    SnapshotFacts,
    apply_policy,
    iso_week_label,
    parse_now,
)

GOLDEN_DIR = Path(__file__).parent / "data" / "retention"
NOW = datetime(2025, 10, 15, 12, 0, tzinfo=UTC)  # a Wednesday, ISO week 2025-W42
DAY = timedelta(days=1)
US = timedelta(microseconds=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def snap(
    name: str,
    created: datetime | str,
    *,
    permanent: bool = False,
    safety: bool = False,
    compressed: bool = False,
) -> SnapshotFacts:
    when = utc(created) if isinstance(created, str) else created
    return SnapshotFacts(name, when, permanent=permanent, safety=safety, compressed=compressed)


def by_name(decisions: list[Decision]) -> dict[str, Decision]:
    return {d.name: d for d in decisions}


def fates(decisions: list[Decision]) -> dict[str, Fate]:
    return {d.name: d.fate for d in decisions}


def daily(count: int, *, start: datetime = NOW - timedelta(hours=1)) -> list[SnapshotFacts]:
    """`count` snapshots one day apart, the newest one hour before NOW, named d00 (newest)..."""
    return [snap(f"d{i:02d}", start - i * DAY) for i in range(count)]


NO_WEEKLY = RetentionPolicy(keep_weekly_weeks=0)


# --- policy settings -------------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = RetentionPolicy()
    assert policy.keep_last == 10
    assert policy.keep_weekly_weeks == 13
    assert policy.weekly_window == timedelta(days=91)
    assert policy.compress_after == timedelta(days=7)
    assert policy.safety_keep_last == 3
    assert policy.safety_keep_days == 7


def test_from_mapping_reads_every_key() -> None:
    policy = RetentionPolicy.from_mapping(
        {
            "keep_last": 3,
            "keep_weekly_weeks": 4,
            "compress_after_days": 1.5,
            "safety_keep_last": 2,
            "safety_keep_days": 1,
        }
    )
    assert policy == RetentionPolicy(3, 4, timedelta(days=1.5), 2, 1)


def test_from_mapping_empty_table_gives_defaults() -> None:
    assert RetentionPolicy.from_mapping({}) == RetentionPolicy()


def test_from_mapping_safety_same_means_none() -> None:
    assert RetentionPolicy.from_mapping({"safety_keep_last": "same"}).safety_keep_last is None


@pytest.mark.parametrize(
    "policy",
    [RetentionPolicy(), RetentionPolicy(0, 0, timedelta(0), 0), RetentionPolicy(5, 2, DAY / 2)],
)
def test_to_mapping_round_trips(policy: RetentionPolicy) -> None:
    assert RetentionPolicy.from_mapping(policy.to_mapping()) == policy


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"keep_lats": 3}, "keep_lats"),
        ({"keep_last": -1}, "keep_last"),
        ({"keep_last": "10"}, "keep_last"),
        ({"keep_last": 2.5}, "keep_last"),
        ({"keep_last": True}, "keep_last"),
        ({"keep_weekly_weeks": -3}, "keep_weekly_weeks"),
        ({"keep_weekly_weeks": None}, "keep_weekly_weeks"),
        ({"compress_after_days": -1}, "compress_after_days"),
        ({"compress_after_days": "7"}, "compress_after_days"),
        ({"compress_after_days": float("nan")}, "compress_after_days"),
        ({"compress_after_days": float("inf")}, "compress_after_days"),
        ({"compress_after_days": 1e12}, "compress_after_days"),
        ({"compress_after_days": False}, "compress_after_days"),
        ({"safety_keep_last": "different"}, "safety_keep_last"),
        ({"safety_keep_last": -2}, "safety_keep_last"),
    ],
)
def test_from_mapping_rejects_bad_settings_naming_the_key(table: dict, key: str) -> None:
    with pytest.raises(ValueError, match=f"'{key}'") as info:
        RetentionPolicy.from_mapping(table)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"keep_last": -1},
        {"keep_weekly_weeks": -1},
        {"compress_after": -DAY},
        {"compress_after": 7},
        {"safety_keep_last": -1},
    ],
)
def test_policy_constructor_validates(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RetentionPolicy(**kwargs)


# --- inputs ------------------------------------------------------------------------------


def test_facts_require_timezone_aware_created() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SnapshotFacts("s", datetime(2025, 10, 1, 12, 0))


def test_facts_normalise_created_to_utc() -> None:
    facts = snap("s", "2025-10-01T14:00:00+02:00")
    assert facts.created == datetime(2025, 10, 1, 12, 0, tzinfo=UTC)
    assert facts.created.tzinfo is UTC


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="now must be a timezone-aware"):
        apply_policy([], datetime(2025, 10, 1), RetentionPolicy())


def test_duplicate_names_are_rejected() -> None:
    twins = [snap("same", NOW - DAY), snap("same", NOW - 2 * DAY)]
    with pytest.raises(ValueError, match="duplicate snapshot name 'same'"):
        apply_policy(twins, NOW, RetentionPolicy())


# --- the rules ---------------------------------------------------------------------------


def test_empty_list() -> None:
    assert apply_policy([], NOW, RetentionPolicy()) == []


def test_fewer_than_keep_last_keeps_everything_however_old() -> None:
    old = [snap(f"old{i}", NOW - (400 + i) * DAY) for i in range(4)]
    decisions = apply_policy(old, NOW, RetentionPolicy())
    assert all(d.kept for d in decisions)
    assert [d.reasons[0] for d in decisions] == [f"newest 10 (#{i})" for i in range(1, 5)]


def test_keep_last_keeps_exactly_the_newest_n() -> None:
    decisions = apply_policy(daily(12), NOW, NO_WEEKLY)
    assert [d.name for d in decisions if d.kept] == [f"d{i:02d}" for i in range(10)]
    assert by_name(decisions)["d03"].reasons[0] == "newest 10 (#4)"
    assert by_name(decisions)["d10"].reasons == (REASON_NOT_KEPT,)
    assert by_name(decisions)["d11"].fate is Fate.DELETE


def test_keep_last_zero_and_no_weekly_deletes_all_but_permanent() -> None:
    snapshots = [*daily(3), snap("pinned", NOW - 500 * DAY, permanent=True)]
    policy = RetentionPolicy(keep_last=0, keep_weekly_weeks=0)
    assert fates(apply_policy(snapshots, NOW, policy)) == {
        "d00": Fate.DELETE,
        "d01": Fate.DELETE,
        "d02": Fate.DELETE,
        "pinned": Fate.COMPRESS,
    }


def test_permanent_is_never_deleted() -> None:
    snapshots = [*daily(15), snap("ancient", NOW - 3000 * DAY, permanent=True, compressed=True)]
    decision = by_name(apply_policy(snapshots, NOW, RetentionPolicy()))["ancient"]
    assert decision.fate is Fate.KEEP
    assert decision.reasons == (REASON_PERMANENT,)


def test_permanent_in_the_newest_n_counts_as_one_of_them() -> None:
    snapshots = daily(11)
    snapshots[0] = snap("d00", snapshots[0].created, permanent=True)
    decisions = by_name(apply_policy(snapshots, NOW, NO_WEEKLY))
    assert decisions["d00"].reasons == (REASON_PERMANENT, "newest 10 (#1)")
    assert decisions["d10"].fate is Fate.DELETE


def test_weekly_keeps_the_newest_of_each_week() -> None:
    # Three snapshots in ISO week 2025-W38 (Mon 15 .. Sun 21 September), none in the top 1.
    week = [snap(n, f"2025-09-{d}T10:00:00Z") for n, d in (("mon", 15), ("wed", 17), ("sun", 21))]
    policy = RetentionPolicy(keep_last=1)
    decisions = by_name(apply_policy([snap("top", NOW - US), *week], NOW, policy))
    assert decisions["sun"].reasons[0] == "weekly 2025-W38 (newest of the week)"
    assert decisions["wed"].fate is Fate.DELETE
    assert decisions["mon"].fate is Fate.DELETE


def test_weekly_week_is_the_utc_week_not_the_local_one() -> None:
    # Monday 00:30 at +02:00 is Sunday 22:30 UTC: it belongs to the week before.
    local_monday = snap("local_monday", "2025-09-22T00:30:00+02:00")
    utc_sunday = snap("utc_sunday", "2025-09-21T20:00:00Z")
    decisions = by_name(apply_policy([local_monday, utc_sunday], NOW, RetentionPolicy(0)))
    assert decisions["local_monday"].reasons[0] == "weekly 2025-W38 (newest of the week)"
    assert decisions["utc_sunday"].fate is Fate.DELETE


def test_weekly_window_boundary_is_inclusive_at_exactly_91_days() -> None:
    policy = RetentionPolicy(keep_last=0)
    edge = NOW - timedelta(weeks=13)
    assert edge == utc("2025-07-16T12:00:00Z")
    at_edge = apply_policy([snap("edge", edge)], NOW, policy)[0]
    assert at_edge.kept
    assert at_edge.reasons[0] == "weekly 2025-W29 (newest of the week)"
    assert apply_policy([snap("edge", edge - US)], NOW, policy)[0].fate is Fate.DELETE


def test_older_snapshot_of_a_week_cut_by_the_window_is_not_kept() -> None:
    # 2025-W29 runs Mon 14 .. Sun 20 July; the window starts Wed 16 July 12:00 UTC.
    # Only the part of the week inside the window counts.
    inside = snap("inside", "2025-07-17T00:00:00Z")
    outside = snap("outside", "2025-07-15T00:00:00Z")
    decisions = by_name(apply_policy([inside, outside], NOW, RetentionPolicy(keep_last=0)))
    assert decisions["inside"].kept
    assert decisions["outside"].fate is Fate.DELETE
    # With the newest of the week gone, the older one is still outside the window.
    alone = apply_policy([outside], NOW, RetentionPolicy(keep_last=0))
    assert alone[0].fate is Fate.DELETE


def test_weekly_rule_across_the_year_boundary() -> None:
    # 2024-12-30 (Monday) starts 2025-W01; 2024-12-29 (Sunday) ends 2024-W52.
    assert iso_week_label(utc("2024-12-29T23:59:59Z")) == "2024-W52"
    assert iso_week_label(utc("2024-12-30T00:00:00Z")) == "2025-W01"
    assert iso_week_label(utc("2025-01-05T23:59:59Z")) == "2025-W01"
    assert iso_week_label(utc("2021-01-03T12:00:00Z")) == "2020-W53"  # a 53-week year
    now = utc("2025-01-08T00:00:00Z")
    snapshots = [
        snap("w52_sun", "2024-12-29T23:59:59Z"),
        snap("w01_mon", "2024-12-30T00:00:00Z"),
        snap("w01_wed", "2025-01-01T12:00:00Z"),
    ]
    decisions = by_name(apply_policy(snapshots, now, RetentionPolicy(keep_last=0)))
    assert decisions["w01_wed"].reasons[0] == "weekly 2025-W01 (newest of the week)"
    assert decisions["w01_mon"].fate is Fate.DELETE
    assert decisions["w52_sun"].reasons[0] == "weekly 2024-W52 (newest of the week)"


def test_dst_is_irrelevant_because_everything_is_utc() -> None:
    # Europe/Berlin leaves summer time on 2025-10-26 (+02:00 -> +01:00); written with
    # fixed offsets so the test needs no tz database. The same instants in any offset
    # give the same decisions, and the window is an exact number of 24-hour days.
    now_local = datetime(2025, 11, 5, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    cest = timezone(timedelta(hours=2))
    cet = timezone(timedelta(hours=1))
    local = [
        SnapshotFacts("before_change", datetime(2025, 10, 25, 23, 30, tzinfo=cest)),
        SnapshotFacts("after_change", datetime(2025, 10, 26, 3, 30, tzinfo=cet)),
        SnapshotFacts("week_edge", datetime(2025, 10, 29, 13, 0, tzinfo=cet)),
    ]
    in_utc = [SnapshotFacts(s.name, s.created.astimezone(UTC)) for s in local]
    policy = RetentionPolicy(keep_last=0, keep_weekly_weeks=1)
    from_local = apply_policy(local, now_local, policy)
    assert from_local == apply_policy(in_utc, now_local.astimezone(UTC), policy)
    # now = 2025-11-05T12:00Z; one week back is exactly 2025-10-29T12:00Z = week_edge:
    # inside the window, and not (strictly) older than compress_after.
    assert fates(from_local) == {
        "week_edge": Fate.KEEP,
        "after_change": Fate.DELETE,
        "before_change": Fate.DELETE,
    }


def test_compress_boundary_is_strictly_older_than_compress_after() -> None:
    snapshots = [
        snap("exactly_a_week", NOW - 7 * DAY),
        snap("a_week_and_a_tick", NOW - 7 * DAY - US),
        snap("old_but_compressed", NOW - 30 * DAY, compressed=True),
        snap("fresh", NOW - DAY),
    ]
    decisions = by_name(apply_policy(snapshots, NOW, NO_WEEKLY))
    assert decisions["exactly_a_week"].fate is Fate.KEEP
    assert decisions["a_week_and_a_tick"].fate is Fate.COMPRESS
    assert decisions["a_week_and_a_tick"].reasons[-1] == "compress: older than 7 days"
    assert decisions["old_but_compressed"].fate is Fate.KEEP
    assert decisions["fresh"].fate is Fate.KEEP


def test_compress_reason_formats_other_durations() -> None:
    one_day = RetentionPolicy(compress_after=DAY)
    assert apply_policy([snap("s", NOW - 2 * DAY)], NOW, one_day)[0].reasons[-1] == (
        "compress: older than 1 day"
    )
    half_day = RetentionPolicy(compress_after=DAY / 2)
    assert apply_policy([snap("s", NOW - DAY)], NOW, half_day)[0].reasons[-1] == (
        "compress: older than 12:00:00"
    )


def test_deleted_snapshots_are_never_marked_for_compression() -> None:
    decisions = apply_policy(daily(12, start=NOW - 30 * DAY), NOW, NO_WEEKLY)
    assert {d.fate for d in decisions} == {Fate.COMPRESS, Fate.DELETE}
    assert all(d.reasons == (REASON_NOT_KEPT,) for d in decisions if d.fate is Fate.DELETE)


def test_future_snapshots_are_kept_and_not_ranked() -> None:
    snapshots = [snap("tomorrow", NOW + DAY), snap("in_a_second", NOW + timedelta(seconds=1))]
    snapshots += daily(3)
    policy = RetentionPolicy(keep_last=2, keep_weekly_weeks=0)
    decisions = apply_policy(snapshots, NOW, policy)
    assert [(d.name, d.fate, d.reasons) for d in decisions] == [
        ("tomorrow", Fate.KEEP, (REASON_FUTURE,)),
        ("in_a_second", Fate.KEEP, (REASON_FUTURE,)),
        ("d00", Fate.KEEP, ("newest 2 (#1)",)),
        ("d01", Fate.KEEP, ("newest 2 (#2)",)),
        ("d02", Fate.DELETE, (REASON_NOT_KEPT,)),
    ]


def test_snapshot_created_exactly_now_is_not_future() -> None:
    decision = apply_policy([snap("now", NOW)], NOW, RetentionPolicy())[0]
    assert decision.reasons == ("newest 10 (#1)", "weekly 2025-W42 (newest of the week)")


def test_ties_are_broken_by_name_whatever_the_input_order() -> None:
    same_time = [snap(name, NOW - DAY) for name in ("b", "c", "a")]
    policy = RetentionPolicy(keep_last=1, keep_weekly_weeks=0)
    for order in (same_time, same_time[::-1], sorted(same_time, key=lambda s: s.name)):
        decisions = apply_policy(order, NOW, policy)
        assert [(d.name, d.fate) for d in decisions] == [
            ("c", Fate.KEEP),
            ("b", Fate.DELETE),
            ("a", Fate.DELETE),
        ]


def test_safety_snapshots_never_push_a_users_snapshot_out_by_default() -> None:
    """Ten restores in a row must not cost the user the snapshots of "keep the
    last 10"; the safety snapshots are kept by a rule of their own."""
    users = [snap(f"user{i}", NOW - (i + 2) * DAY) for i in range(12)]
    safety = [snap(f"safety{i}", NOW - i * timedelta(hours=1), safety=True) for i in range(10)]
    old_safety = [snap(f"old_safety{i}", NOW - (30 + i) * DAY, safety=True) for i in range(5)]
    decisions = by_name(apply_policy(users + safety + old_safety, NOW, RetentionPolicy()))
    assert all(decisions[f"user{i}"].reasons[0] == f"newest 10 (#{i + 1})" for i in range(10))
    assert decisions["safety0"].reasons == ("newest 3 safety (#1)", "safety, younger than 7 days")
    assert decisions["safety9"].reasons == ("safety, younger than 7 days",)
    # Old safety snapshots go once three newer ones exist; none is a weekly candidate.
    assert all(decisions[f"old_safety{i}"].fate is Fate.DELETE for i in range(5))


def test_safety_snapshots_follow_the_same_rules_when_same() -> None:
    snapshots = [snap(f"safety{i}", NOW - i * timedelta(hours=1), safety=True) for i in range(10)]
    snapshots.append(snap("regular", NOW - DAY))
    same = RetentionPolicy.from_mapping({"keep_weekly_weeks": 0, "safety_keep_last": "same"})
    decisions = by_name(apply_policy(snapshots, NOW, same))
    assert decisions["safety0"].reasons == ("newest 10 (#1)",)
    # Ten safety snapshots fill the newest 10; the older regular one goes.
    assert decisions["regular"].fate is Fate.DELETE


def test_safety_snapshots_ruled_separately() -> None:
    snapshots = [snap(f"safety{i}", NOW - i * timedelta(hours=1), safety=True) for i in range(3)]
    snapshots.append(snap("regular", NOW - DAY))
    snapshots.append(snap("pinned_safety", NOW - 2 * DAY, safety=True, permanent=True))
    policy = RetentionPolicy(
        keep_last=1, keep_weekly_weeks=0, safety_keep_last=2, safety_keep_days=0
    )
    decisions = by_name(apply_policy(snapshots, NOW, policy))
    assert decisions["safety0"].reasons == ("newest 2 safety (#1)",)
    assert decisions["safety1"].reasons == ("newest 2 safety (#2)",)
    assert decisions["safety2"].fate is Fate.DELETE
    assert decisions["regular"].reasons == ("newest 1 (#1)",)
    assert decisions["pinned_safety"].reasons == (REASON_PERMANENT,)


def test_future_safety_snapshots_are_not_ranked_either() -> None:
    snapshots = [
        snap("future_safety", NOW + DAY, safety=True),
        snap("past_safety", NOW - DAY, safety=True),
        snap("older_safety", NOW - 2 * DAY, safety=True),
    ]
    policy = RetentionPolicy(
        keep_last=0, keep_weekly_weeks=0, safety_keep_last=1, safety_keep_days=0
    )
    decisions = by_name(apply_policy(snapshots, NOW, policy))
    assert decisions["future_safety"].reasons == (REASON_FUTURE,)
    assert decisions["past_safety"].reasons == ("newest 1 safety (#1)",)
    assert decisions["older_safety"].fate is Fate.DELETE


def test_safety_snapshots_separate_are_not_weekly_candidates() -> None:
    safety = snap("safety", "2025-09-21T12:00:00Z", safety=True)
    regular = snap("regular", "2025-09-20T12:00:00Z")
    policy = RetentionPolicy(keep_last=0, safety_keep_last=0, safety_keep_days=0)
    decisions = by_name(apply_policy([safety, regular], NOW, policy))
    assert decisions["safety"].fate is Fate.DELETE
    assert decisions["regular"].reasons[0] == "weekly 2025-W38 (newest of the week)"


def test_output_is_newest_first_and_carries_the_facts() -> None:
    snapshots = daily(5)
    random.Random(7).shuffle(snapshots)
    decisions = apply_policy(snapshots, NOW, RetentionPolicy())
    assert [d.name for d in decisions] == [f"d{i:02d}" for i in range(5)]
    assert all(d.facts.name == d.name for d in decisions)


def test_decision_as_dict_is_json_ready() -> None:
    facts = snap("s", "2025-10-01T14:00:00+02:00", permanent=True)
    decision = apply_policy([facts], NOW, RetentionPolicy())[0]
    assert json.loads(json.dumps(decision.as_dict())) == {
        "name": "s",
        "created": "2025-10-01T12:00:00Z",
        "permanent": True,
        "safety": False,
        "compressed": False,
        "fate": "compress",
        "reasons": [
            REASON_PERMANENT,
            "newest 10 (#1)",
            "weekly 2025-W40 (newest of the week)",
            "compress: older than 7 days",
        ],
    }
    assert [str(f) for f in Fate] == ["keep", "delete", "compress"]


# --- parse_now ---------------------------------------------------------------------------

PLUS_TWO = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-10-07", "2025-10-06T22:00:00+00:00"),  # midnight local (+02:00)
        ("2025-10-07T14:30:22", "2025-10-07T12:30:22+00:00"),
        ("2025-10-07 14:30", "2025-10-07T12:30:00+00:00"),
        ("2025-10-07T14:30:22Z", "2025-10-07T14:30:22+00:00"),
        ("2025-10-07T14:30:22+00:00", "2025-10-07T14:30:22+00:00"),
        ("2025-10-07T14:30:22-05:00", "2025-10-07T19:30:22+00:00"),
        ("20251007T143022Z", "2025-10-07T14:30:22+00:00"),
        ("20251007_143022", "2025-10-07T12:30:22+00:00"),
        ("  2025-10-07T14:30:22Z\n", "2025-10-07T14:30:22+00:00"),
    ],
)
def test_parse_now_accepts_iso_and_name_stamps(text: str, expected: str) -> None:
    parsed = parse_now(text, local_tz=PLUS_TWO)
    assert parsed.tzinfo is UTC
    assert parsed.isoformat() == expected


def test_parse_now_naive_defaults_to_the_system_zone() -> None:
    expected = datetime(2025, 10, 7, 14, 30, 22).astimezone().astimezone(UTC)
    assert parse_now("2025-10-07T14:30:22") == expected
    assert parse_now("20251007_143022") == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2025-13-01",
        "2025-10-07T25:00",
        "20251007_1430",
        "07.10.2025",
        "2025-10-07x14:30",
    ],
)
def test_parse_now_rejects_garbage_with_one_line(text: str) -> None:
    with pytest.raises(ValueError, match="cannot parse time") as info:
        parse_now(text)
    assert "\n" not in str(info.value)
    assert repr(text) in str(info.value)


def test_parse_now_out_of_range_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_now("0001-01-01T00:00:00", local_tz=PLUS_TWO)


def test_window_reaching_before_year_one_covers_all_time() -> None:
    now = datetime(1, 1, 8, tzinfo=UTC)
    decision = apply_policy([snap("first", datetime(1, 1, 1, tzinfo=UTC))], now, RetentionPolicy(0))
    assert decision[0].reasons[0] == "weekly 0001-W01 (newest of the week)"


# --- golden files ------------------------------------------------------------------------

REGEN = os.environ.get("SNAPSTORE_REGEN_GOLDEN") == "1"


def _facts_from_json(entry: dict) -> SnapshotFacts:
    return SnapshotFacts(
        name=entry["name"],
        created=datetime.fromisoformat(entry["created"]),
        permanent=entry.get("permanent", False),
        safety=entry.get("safety", False),
        compressed=entry.get("compressed", False),
    )


def _decision_json(decision: Decision) -> dict:
    return {"name": decision.name, "fate": str(decision.fate), "reasons": list(decision.reasons)}


def _dump_golden(case: dict) -> str:
    """One snapshot or decision per line, so diffs of golden files stay readable."""

    def rows(items: list[dict]) -> str:
        if not items:
            return "[]"
        return "[\n" + ",\n".join(f"    {json.dumps(i)}" for i in items) + "\n  ]"

    return (
        "{\n"
        f'  "description": {json.dumps(case["description"])},\n'
        f'  "now": {json.dumps(case["now"])},\n'
        f'  "policy": {json.dumps(case["policy"])},\n'
        f'  "snapshots": {rows(case["snapshots"])},\n'
        f'  "expected": {rows(case["expected"])}\n'
        "}\n"
    )


GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.json"))


def test_golden_files_exist() -> None:
    assert len(GOLDEN_FILES) >= 7


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    case = json.loads(text)
    assert _dump_golden(case) == text, "golden file layout drifted; regenerate it"
    snapshots = [_facts_from_json(entry) for entry in case["snapshots"]]
    policy = RetentionPolicy.from_mapping(case["policy"])
    now = parse_now(case["now"])
    actual = [_decision_json(d) for d in apply_policy(snapshots, now, policy)]
    if REGEN:
        path.write_text(_dump_golden({**case, "expected": actual}), encoding="utf-8")
    assert actual == case["expected"]
    # The golden cases are also held to the properties below.
    _check_invariants(snapshots, now, policy)


# --- hypothesis properties ---------------------------------------------------------------

# Offsets before "now", in seconds. Besides random ages, the exact rule boundaries and a
# small set of repeated values (to force equal timestamps, i.e. name tie-breaks).
_BOUNDARIES = [0, 1, 86_400, 7 * 86_400, 7 * 86_400 + 1, 91 * 86_400, 91 * 86_400 + 1]
_offsets = st.one_of(
    st.integers(min_value=-5 * 86_400, max_value=200 * 86_400),
    st.sampled_from(_BOUNDARIES),
    st.sampled_from([3_600, 10 * 86_400, 40 * 86_400, -3_600]),
)
_nows = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_policies = st.builds(
    RetentionPolicy,
    keep_last=st.integers(0, 12),
    keep_weekly_weeks=st.integers(0, 20),
    compress_after=st.sampled_from([timedelta(0), DAY / 2, DAY, 7 * DAY, 30 * DAY]),
    safety_keep_last=st.none() | st.integers(0, 4),
    safety_keep_days=st.integers(0, 10),
)
_records = st.lists(
    st.tuples(
        st.text("abcdefgh", min_size=1, max_size=3),
        _offsets,
        st.booleans(),
        st.booleans(),
        st.booleans(),
    ),
    max_size=40,
    unique_by=lambda r: r[0],
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[SnapshotFacts], datetime, RetentionPolicy]:
    now = draw(_nows)
    snapshots = [
        SnapshotFacts(name, now - timedelta(seconds=offset), perm, safety, packed)
        for name, offset, perm, safety, packed in draw(_records)
    ]
    return snapshots, now, draw(_policies)


def _newest_first(snapshots: list[SnapshotFacts]) -> list[SnapshotFacts]:
    return sorted(snapshots, key=lambda s: (s.created, s.name), reverse=True)


def _protected(
    snapshots: list[SnapshotFacts], policy: RetentionPolicy, now: datetime | None = None
) -> tuple[list[SnapshotFacts], list[SnapshotFacts]]:
    """(newest keep_last of the ruled population, newest safety_keep_last safety ones).

    Without `now`, ranked over ALL snapshots including future ones: the spec promises
    that the newest N of the list survive whatever "now" is. With `now`, ranked over the
    snapshots created by then, which is the ranking the rules themselves use.
    """
    present = [s for s in snapshots if now is None or s.created <= now]
    separate = policy.safety_keep_last is not None
    regular = [s for s in _newest_first(present) if not (separate and s.safety)]
    safety = [s for s in _newest_first(present) if s.safety] if separate else []
    return regular[: policy.keep_last], safety[: policy.safety_keep_last or 0]


def _survivors(decisions: list[Decision]) -> list[SnapshotFacts]:
    return [d.facts for d in decisions if d.kept]


def _check_invariants(
    snapshots: list[SnapshotFacts], now: datetime, policy: RetentionPolicy
) -> None:
    decisions = apply_policy(snapshots, now, policy)
    kept = {d.name for d in decisions if d.kept}

    # One decision per snapshot, newest first.
    assert [d.name for d in decisions] == [s.name for s in _newest_first(snapshots)]

    # Permanent snapshots and the newest keep_last always survive.
    newest, newest_safety = _protected(snapshots, policy)
    assert {s.name for s in snapshots if s.permanent} <= kept
    assert {s.name for s in newest} <= kept
    assert {s.name for s in newest_safety} <= kept

    # The ranked reasons name exactly the ranking over the snapshots that exist at now,
    # and "newer than now" exactly the future ones.
    ranked, ranked_safety = _protected(snapshots, policy, now)
    expected_ranked: dict[str, list[str]] = {s.name: [] for s in snapshots}
    for rank, s in enumerate(ranked, 1):
        expected_ranked[s.name].append(f"newest {policy.keep_last} (#{rank})")
    for rank, s in enumerate(ranked_safety, 1):
        expected_ranked[s.name].append(f"newest {policy.safety_keep_last} safety (#{rank})")
    assert {
        d.name: [r for r in d.reasons if r.startswith("newest ")] for d in decisions
    } == expected_ranked
    assert {d.name for d in decisions if REASON_FUTURE in d.reasons} == {
        s.name for s in snapshots if s.created > now
    }

    # Every decision has a reason; delete means exactly "not kept by any rule".
    for d in decisions:
        assert d.reasons
        assert (d.fate is Fate.DELETE) == (d.reasons == (REASON_NOT_KEPT,))

    # Compress means: kept, not compressed yet, strictly older than compress_after.
    for d in decisions:
        old = now - d.facts.created > policy.compress_after
        assert (d.fate is Fate.COMPRESS) == (d.kept and old and not d.facts.compressed)

    # The weekly rule keeps at most one snapshot per ISO week, the newest of that week
    # among the snapshots it rules, inside the window; and one for every such week.
    window_start = now - policy.weekly_window
    ruled = [
        s
        for s in snapshots
        if window_start <= s.created <= now
        and not (policy.safety_keep_last is not None and s.safety)
        and policy.keep_weekly_weeks > 0
    ]
    weekly = {d.name: r.split()[1] for d in decisions for r in d.reasons if r.startswith("weekly ")}
    assert max(Counter(weekly.values()).values(), default=0) <= 1
    newest_of_week: dict[str, SnapshotFacts] = {}
    for s in _newest_first(ruled):
        newest_of_week.setdefault(iso_week_label(s.created), s)
    assert weekly == {s.name: week for week, s in newest_of_week.items()}

    # With a separate safety rule, exactly the safety snapshots younger than
    # safety_keep_days are kept for being young (future ones are kept by rule 2 instead).
    young = {
        s.name
        for s in snapshots
        if policy.safety_keep_last is not None
        and s.safety
        and timedelta(0) <= now - s.created < timedelta(days=policy.safety_keep_days)
    }
    kept_young = {
        d.name for d in decisions if any(r.startswith("safety, younger") for r in d.reasons)
    }
    assert kept_young == young

    # Nothing older than the window survives unless permanent, in the newest counts, or a
    # young safety snapshot.
    allowed_old = {s.name for s in [*ranked, *ranked_safety]} | young
    for d in decisions:
        if d.kept and d.facts.created < window_start:
            assert d.facts.permanent or d.name in allowed_old, d

    # Idempotence: the survivors, once compressed as asked, are all kept as they are.
    compress = {d.name for d in decisions if d.fate is Fate.COMPRESS}
    after = [
        SnapshotFacts(s.name, s.created, s.permanent, s.safety, s.compressed or s.name in compress)
        for s in _survivors(decisions)
    ]
    again = apply_policy(after, now, policy)
    assert {d.fate for d in again} <= {Fate.KEEP}
    assert [(d.name, d.reasons) for d in again] == [
        (d.name, tuple(r for r in d.reasons if not r.startswith("compress:")))
        for d in decisions
        if d.kept
    ]


@given(scenarios())
def test_property_permanent_and_newest_always_survive(
    scenario: tuple[list[SnapshotFacts], datetime, RetentionPolicy],
) -> None:
    snapshots, now, policy = scenario
    kept = {d.name for d in apply_policy(snapshots, now, policy) if d.kept}
    newest, newest_safety = _protected(snapshots, policy)
    assert {s.name for s in snapshots if s.permanent} <= kept
    assert {s.name for s in [*newest, *newest_safety]} <= kept


@given(scenarios())
def test_property_at_most_one_weekly_keep_per_week_inside_the_window(
    scenario: tuple[list[SnapshotFacts], datetime, RetentionPolicy],
) -> None:
    snapshots, now, policy = scenario
    weeks = []
    for d in apply_policy(snapshots, now, policy):
        for reason in d.reasons:
            if reason.startswith("weekly "):
                assert now - policy.weekly_window <= d.facts.created <= now
                assert reason.split()[1] == iso_week_label(d.facts.created)
                weeks.append(reason.split()[1])
    assert len(weeks) == len(set(weeks))


@given(scenarios())
def test_property_applying_twice_deletes_nothing_more(
    scenario: tuple[list[SnapshotFacts], datetime, RetentionPolicy],
) -> None:
    snapshots, now, policy = scenario
    first = apply_policy(snapshots, now, policy)
    survivors = _survivors(first)
    second = apply_policy(survivors, now, policy)
    assert all(d.kept for d in second)
    # Without compressing in between, the second run's decisions are the same ones.
    assert second == [d for d in first if d.kept]


@given(scenarios(), st.randoms(use_true_random=False))
def test_property_result_does_not_depend_on_input_order(
    scenario: tuple[list[SnapshotFacts], datetime, RetentionPolicy], rnd: random.Random
) -> None:
    snapshots, now, policy = scenario
    shuffled = list(snapshots)
    rnd.shuffle(shuffled)
    assert apply_policy(shuffled, now, policy) == apply_policy(snapshots, now, policy)


# The way back from a restore: with the weekly rule off (window of length 0), a safety
# snapshot one day old is "older than the window" and is still kept, as spec/retention.md
# section 5 says, for being younger than safety_keep_days.
_YOUNG_SAFETY_OUTSIDE_THE_WINDOW = (
    [
        SnapshotFacts("user", NOW - timedelta(hours=1)),
        SnapshotFacts("before-restore", NOW - DAY, safety=True),
        SnapshotFacts("older-restore", NOW - 2 * DAY, safety=True),
    ],
    NOW,
    RetentionPolicy(keep_last=1, keep_weekly_weeks=0, safety_keep_last=1, safety_keep_days=7),
)


@given(scenarios())
@example(_YOUNG_SAFETY_OUTSIDE_THE_WINDOW)
def test_property_nothing_older_than_the_window_survives_unprotected(
    scenario: tuple[list[SnapshotFacts], datetime, RetentionPolicy],
) -> None:
    snapshots, now, policy = scenario
    newest, newest_safety = _protected(snapshots, policy, now)
    young_safety = {
        s.name
        for s in snapshots
        if policy.safety_keep_last is not None
        and s.safety
        and timedelta(0) <= now - s.created < timedelta(days=policy.safety_keep_days)
    }
    protected = {s.name for s in [*newest, *newest_safety]} | young_safety
    for d in apply_policy(snapshots, now, policy):
        if d.kept and d.facts.created < now - policy.weekly_window:
            assert d.facts.permanent or d.name in protected, d


@given(scenarios())
def test_property_every_decision_has_a_reason(
    scenario: tuple[list[SnapshotFacts], datetime, RetentionPolicy],
) -> None:
    snapshots, now, policy = scenario
    for d in apply_policy(snapshots, now, policy):
        assert d.reasons
        assert d.fate is not Fate.DELETE or d.reasons == (REASON_NOT_KEPT,)


@pytest.mark.slow
@given(scenarios())
@settings(max_examples=max(1_000, settings.default.max_examples), deadline=None)
def test_property_all_invariants_long_run(
    scenario: tuple[list[SnapshotFacts], datetime, RetentionPolicy],
) -> None:
    _check_invariants(*scenario)
