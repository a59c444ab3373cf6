"""Retention policy: decide which snapshots to keep, delete or compress, and why.

This module is a pure function of metadata and a clock: given the facts about every
snapshot (name, creation time, permanent / safety / compressed flags), the time "now" and
a `RetentionPolicy`, `apply_policy` returns one `Decision` per snapshot with its fate
(keep / delete / compress) and every rule that kept it. It reads no repository, no
environment and no clock of its own, so `cleanup --dry-run --now ...` and the real
cleanup after `create` give the same answer for the same inputs. It imports nothing from
the rest of snapstore. The rules are written out precisely in `spec/retention.md`; the
short version:

- every permanent snapshot is kept;
- the `keep_last` newest snapshots are kept;
- within the last `keep_weekly_weeks` weeks, the newest snapshot of each ISO week (UTC)
  is kept;
- snapshots created after "now" are kept (and take no part in the other rules);
- safety snapshots (taken before a restore) are ruled apart so that they never push a
  user's snapshot out of a rule: the `safety_keep_last` newest ones and every one younger
  than `safety_keep_days` are kept (`safety_keep_last = "same"` opts back into ruling them
  like all others);
- everything else is deleted;
- kept snapshots older than `compress_after` that are not compressed yet are marked
  "compress" (the caller moves their chunks into archives).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum

__all__ = [
    "REASON_FUTURE",
    "REASON_NOT_KEPT",
    "REASON_PERMANENT",
    "Decision",
    "Fate",
    "RetentionPolicy",
    "SnapshotFacts",
    "apply_policy",
    "iso_week_label",
    "parse_now",
]

# Reason texts that are not parameterised; kept as constants so callers and tests can
# recognise them without parsing prose.
REASON_PERMANENT = "permanent"
REASON_FUTURE = "newer than now"
REASON_NOT_KEPT = "not kept by any rule"

# The TOML keys `RetentionPolicy.from_mapping` understands, in documentation order.
_CONFIG_KEYS = (
    "keep_last",
    "keep_weekly_weeks",
    "compress_after_days",
    "safety_keep_last",
    "safety_keep_days",
)


def _is_count(value: object) -> bool:
    # bool is a subclass of int; `keep_last = true` in TOML is a mistake, not 1.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _format_duration(duration: timedelta) -> str:
    """Human form of a duration for reason texts: "7 days", "1 day", "12:00:00"."""
    if duration % timedelta(days=1) == timedelta(0):
        days = duration.days
        return f"{days} day" if days == 1 else f"{days} days"
    return str(duration)


@dataclass(frozen=True)
class RetentionPolicy:
    """The settings of the retention rules (see spec/retention.md).

    keep_last: how many of the newest snapshots are always kept (0 disables the rule).
    keep_weekly_weeks: length of the weekly window in weeks, counted back from "now"
        as an exact duration (13 weeks = 91 days, our reading of "3 months": a fixed
        length in the rule's own unit, instead of calendar months of 89..92 days).
        Within it the newest snapshot of each ISO week (UTC) is kept. 0 disables it.
    compress_after: kept snapshots strictly older than this are to be compressed.
    safety_keep_last: an integer N (default 3) rules safety snapshots (taken automatically
        before a restore) separately: they take no part in the `keep_last` count or the
        weekly rule, the N newest of them are kept, and so is every one younger than
        `safety_keep_days`; the others are deleted unless permanent. None ("same" in
        TOML) rules them exactly like all other snapshots (they then compete with the
        user's snapshots for the newest-N places).
    safety_keep_days: with a separate safety rule, safety snapshots younger than this
        many days are kept as well (default 7; 0 disables this part).
    """

    keep_last: int = 10
    keep_weekly_weeks: int = 13
    compress_after: timedelta = field(default_factory=lambda: timedelta(days=7))
    safety_keep_last: int | None = 3
    safety_keep_days: int = 7

    def __post_init__(self) -> None:
        if not _is_count(self.keep_last):
            raise ValueError(f"keep_last must be a non-negative integer, got {self.keep_last!r}")
        if not _is_count(self.keep_weekly_weeks):
            raise ValueError(
                f"keep_weekly_weeks must be a non-negative integer, got {self.keep_weekly_weeks!r}"
            )
        if not isinstance(self.compress_after, timedelta) or self.compress_after < timedelta(0):
            raise ValueError(
                f"compress_after must be a non-negative timedelta, got {self.compress_after!r}"
            )
        if self.safety_keep_last is not None and not _is_count(self.safety_keep_last):
            raise ValueError(
                "safety_keep_last must be None or a non-negative integer, "
                f"got {self.safety_keep_last!r}"
            )
        if not _is_count(self.safety_keep_days):
            raise ValueError(
                f"safety_keep_days must be a non-negative integer, got {self.safety_keep_days!r}"
            )

    @property
    def weekly_window(self) -> timedelta:
        """Length of the weekly rule's window (zero when the rule is disabled)."""
        return timedelta(weeks=self.keep_weekly_weeks)

    @classmethod
    def from_mapping(cls, table: Mapping[str, object]) -> RetentionPolicy:
        """Build a policy from a config table such as the `[retention]` TOML table.

        Keys (all optional, defaults as in the dataclass): keep_last (int >= 0),
        keep_weekly_weeks (int >= 0), compress_after_days (int or float >= 0),
        safety_keep_last (int >= 0, or the string "same": rule safety snapshots like all
        others), safety_keep_days (int >= 0).
        Raises ValueError naming the offending key for unknown keys and bad values.
        """
        unknown = sorted(str(key) for key in table if key not in _CONFIG_KEYS)
        if unknown:
            raise ValueError(
                f"unknown retention setting {unknown[0]!r} (known: {', '.join(_CONFIG_KEYS)})"
            )
        kwargs: dict[str, object] = {}
        for key in ("keep_last", "keep_weekly_weeks", "safety_keep_days"):
            if key in table:
                value = table[key]
                if not _is_count(value):
                    raise ValueError(
                        f"retention setting {key!r} must be a non-negative integer, got {value!r}"
                    )
                kwargs[key] = value
        if "compress_after_days" in table:
            days = table["compress_after_days"]
            if (
                isinstance(days, bool)
                or not isinstance(days, int | float)
                or not math.isfinite(days)
                or days < 0
            ):
                raise ValueError(
                    "retention setting 'compress_after_days' must be a non-negative number "
                    f"of days, got {days!r}"
                )
            try:
                kwargs["compress_after"] = timedelta(days=days)
            except OverflowError:
                raise ValueError(
                    f"retention setting 'compress_after_days' is too large, got {days!r}"
                ) from None
        if "safety_keep_last" in table:
            value = table["safety_keep_last"]
            if value == "same":
                kwargs["safety_keep_last"] = None
            elif _is_count(value):
                kwargs["safety_keep_last"] = value
            else:
                raise ValueError(
                    "retention setting 'safety_keep_last' must be a non-negative integer "
                    f'or "same", got {value!r}'
                )
        return cls(**kwargs)  # type: ignore[arg-type]

    def to_mapping(self) -> dict[str, object]:
        """The inverse of `from_mapping`: a JSON/TOML-ready table of all settings."""
        days = self.compress_after / timedelta(days=1)
        return {
            "keep_last": self.keep_last,
            "keep_weekly_weeks": self.keep_weekly_weeks,
            "compress_after_days": int(days) if days.is_integer() else days,
            "safety_keep_last": "same" if self.safety_keep_last is None else self.safety_keep_last,
            "safety_keep_days": self.safety_keep_days,
        }


@dataclass(frozen=True)
class SnapshotFacts:
    """What the policy needs to know about one snapshot.

    `created` must be timezone-aware; it is normalised to UTC. `safety` marks the
    snapshots taken automatically before a restore.
    """

    name: str
    created: datetime
    permanent: bool = False
    safety: bool = False
    compressed: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"snapshot name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.created, datetime) or self.created.utcoffset() is None:
            raise ValueError(
                f"snapshot {self.name!r}: created must be a timezone-aware datetime, "
                f"got {self.created!r}"
            )
        # Normalise so that ISO weeks and printed times are always UTC.
        object.__setattr__(self, "created", self.created.astimezone(UTC))

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form; `created` as ISO 8601 with a trailing Z."""
        return {
            "name": self.name,
            "created": _iso_utc(self.created),
            "permanent": self.permanent,
            "safety": self.safety,
            "compressed": self.compressed,
        }


class Fate(StrEnum):
    """What cleanup does with a snapshot."""

    KEEP = "keep"
    DELETE = "delete"
    # Kept, older than compress_after, and not compressed yet.
    COMPRESS = "compress"


@dataclass(frozen=True)
class Decision:
    """The policy's verdict on one snapshot.

    reasons: for KEEP and COMPRESS, every rule that keeps the snapshot (in rule order:
    "permanent", "newer than now", "newest N (#k)", "newest N safety (#k)",
    "weekly YYYY-Www (newest of the week)"), and for COMPRESS additionally a last entry
    "compress: older than D". For DELETE exactly ("not kept by any rule",).
    """

    name: str
    fate: Fate
    reasons: tuple[str, ...]
    facts: SnapshotFacts

    @property
    def kept(self) -> bool:
        return self.fate is not Fate.DELETE

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for `cleanup --json`: the facts plus fate and reasons."""
        return {**self.facts.as_dict(), "fate": str(self.fate), "reasons": list(self.reasons)}


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _newest_first_key(snapshot: SnapshotFacts) -> tuple[datetime, str]:
    # Used with reverse=True: newer first; for equal times the name that sorts later
    # counts as newer, which makes every ranking independent of input order.
    return (snapshot.created, snapshot.name)


def iso_week_label(moment: datetime) -> str:
    """The ISO 8601 week of `moment` in UTC, e.g. "2025-W01" for 2024-12-30."""
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year:04d}-W{week:02d}"


Reasons = dict[str, list[str]]  # snapshot name -> the rules that keep it, in rule order


def apply_policy(
    snapshots: Iterable[SnapshotFacts], now: datetime, policy: RetentionPolicy
) -> list[Decision]:
    """Decide the fate of every snapshot; see spec/retention.md for the rules.

    Pure and deterministic: the result depends only on the arguments, not on the order
    of `snapshots` (ties in `created` are broken by name). Returns one Decision per
    snapshot, newest first. Raises ValueError if `now` is naive or two snapshots share
    a name.
    """
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")
    now = now.astimezone(UTC)

    ordered = sorted(snapshots, key=_newest_first_key, reverse=True)
    reasons: dict[str, list[str]] = {}
    for snapshot in ordered:
        if snapshot.name in reasons:
            raise ValueError(f"duplicate snapshot name {snapshot.name!r}")
        reasons[snapshot.name] = []

    # Rules 1 and 2, per snapshot.
    for snapshot in ordered:
        if snapshot.permanent:
            reasons[snapshot.name].append(REASON_PERMANENT)
        if snapshot.created > now:
            # A future snapshot did not exist yet at `now` (clock skew, or --now in the
            # past): keep it and leave it out of the rankings below, so the remaining
            # decisions are what cleanup would have decided at `now`.
            reasons[snapshot.name].append(REASON_FUTURE)

    past = [s for s in ordered if s.created <= now]
    separate_safety = policy.safety_keep_last is not None
    # Snapshots ruled by keep_last and the weekly rule.
    regular = [s for s in past if not (separate_safety and s.safety)]

    # Rule 3: the newest keep_last.
    for rank, snapshot in enumerate(regular[: policy.keep_last], start=1):
        reasons[snapshot.name].append(f"newest {policy.keep_last} (#{rank})")
    _keep_safety(past, now, policy, reasons)
    _keep_weekly(regular, now, policy, reasons)
    return [_decision(s, tuple(reasons[s.name]), now, policy) for s in ordered]


def _keep_safety(
    past: list[SnapshotFacts], now: datetime, policy: RetentionPolicy, reasons: Reasons
) -> None:
    """Rule 3s: when ruled separately, the newest safety_keep_last safety snapshots and
    every one younger than safety_keep_days."""
    if policy.safety_keep_last is None:
        return
    safety = [s for s in past if s.safety]
    for rank, snapshot in enumerate(safety[: policy.safety_keep_last], start=1):
        reasons[snapshot.name].append(f"newest {policy.safety_keep_last} safety (#{rank})")
    young = timedelta(days=policy.safety_keep_days)
    for snapshot in safety:
        if now - snapshot.created < young:
            reasons[snapshot.name].append(f"safety, younger than {_format_duration(young)}")


def _keep_weekly(
    regular: list[SnapshotFacts], now: datetime, policy: RetentionPolicy, reasons: Reasons
) -> None:
    """Rule 4: the newest snapshot of each ISO week inside the window [now - W, now].
    Walking newest first, the first snapshot met in a week is that week's newest."""
    if policy.keep_weekly_weeks <= 0:
        return
    try:
        window_start = now - policy.weekly_window
    except OverflowError:  # `now` within W weeks of year 1: the window is all time
        window_start = datetime.min.replace(tzinfo=UTC)
    weeks_seen: set[str] = set()
    for snapshot in regular:
        if snapshot.created < window_start:
            break  # sorted newest first: everything after this is older still
        week = iso_week_label(snapshot.created)
        if week not in weeks_seen:
            weeks_seen.add(week)
            reasons[snapshot.name].append(f"weekly {week} (newest of the week)")


def _decision(
    snapshot: SnapshotFacts, kept_by: tuple[str, ...], now: datetime, policy: RetentionPolicy
) -> Decision:
    """The fate that the rules keeping ``snapshot`` (``kept_by``) give it."""
    if not kept_by:
        return Decision(snapshot.name, Fate.DELETE, (REASON_NOT_KEPT,), snapshot)
    if not snapshot.compressed and now - snapshot.created > policy.compress_after:
        compress = f"compress: older than {_format_duration(policy.compress_after)}"
        return Decision(snapshot.name, Fate.COMPRESS, (*kept_by, compress), snapshot)
    return Decision(snapshot.name, Fate.KEEP, kept_by, snapshot)


# The seed's snapshot-name timestamp, e.g. 20251007_143022 (local time).
_NAME_STAMP = re.compile(r"\d{8}_\d{6}")
# Characters of ISO 8601 text. datetime.fromisoformat takes ANY character between date
# and time ("2025-10-07x14:30", "20251007_1430"); we only want T or a space there.
_ISO_CHARS = re.compile(r"[0-9T:.,+\- ZW]+", re.IGNORECASE)


def parse_now(text: str, local_tz: tzinfo | None = None) -> datetime:
    """Parse a `--now` value into a timezone-aware UTC datetime.

    Accepts ISO 8601 dates ("2025-10-07", meaning 00:00 that day) and datetimes
    ("2025-10-07T14:30:22", "2025-10-07 14:30", "...Z", "...+02:00", basic and week
    forms that `datetime.fromisoformat` reads), and the seed's name timestamp
    "YYYYMMDD_HHMMSS". Values without an offset are local time: `local_tz` if given,
    else the system's local time zone. Raises ValueError with a one-line message.
    """
    stripped = text.strip()
    try:
        if _NAME_STAMP.fullmatch(stripped):
            parsed = datetime.strptime(stripped, "%Y%m%d_%H%M%S")
        elif _ISO_CHARS.fullmatch(stripped):
            parsed = datetime.fromisoformat(stripped)
        else:
            raise ValueError(stripped)
    except ValueError:
        raise ValueError(
            f"cannot parse time {text!r}: expected an ISO 8601 date or datetime "
            "(2025-10-07, 2025-10-07T14:30:22, 2025-10-07T14:30:22+02:00) "
            "or YYYYMMDD_HHMMSS"
        ) from None
    try:
        if parsed.utcoffset() is None:
            # Naive: local wall-clock time. astimezone() on a naive value assumes the
            # system zone; an explicit zone makes callers (and tests) machine-independent.
            parsed = (
                parsed.replace(tzinfo=local_tz) if local_tz is not None else parsed.astimezone()
            )
        return parsed.astimezone(UTC)
    except (OverflowError, OSError):
        # Years 1 and 9999 can leave datetime's range once shifted to UTC.
        raise ValueError(f"time {text!r} is out of range") from None
