"""Rendering: the seed's human-readable formats and the ``--json`` documents."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

from snapstore.ops.records import CreateResult, RestorePlan, SnapshotInfo
from snapstore.sources.database import DatabaseSection

if TYPE_CHECKING:  # hints only: `list` and `create` render without importing diff or gc
    from snapstore.inspection.diff import CollectionChange, FileChange, SnapshotDiff
    from snapstore.maintenance.gc import GcResult
    from snapstore.maintenance.lifecycle import ArchiveResult, CleanupResult


def one_line(text: str) -> str:
    """Text on one line: newlines and other control characters escaped, so that line-based
    output (``| grep``, ``| head``) never breaks on a strange description or file name."""
    if text.isprintable():
        return text
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")


def size_mb(mb: float) -> str:
    """The seed's size style: ``250.5 MB`` below a gigabyte, ``2.4 GB`` above."""
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.1f} MB"


def size_bytes(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def git_line(s: SnapshotInfo) -> str:
    if not s.git_commit:
        return "not a git repository"
    dirty = " (uncommitted changes)" if s.git_dirty else ""
    return f"{s.git_branch or 'detached'}@{s.git_commit[:7]}{dirty}"


def emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, default=str, ensure_ascii=False))


def tags(s: SnapshotInfo) -> str:
    out = []
    if s.compression:
        out.append("[compressed]")
    if s.kind == "safety":
        out.append("[safety]")
    if s.partial:
        out.append("[partial]")
    return (" " + " ".join(out)) if out else ""


def render_list(
    snaps: list[SnapshotInfo], verbose: bool, usage: dict[str, dict[str, int]] | None
) -> None:
    if not snaps:
        click.echo("No snapshots found.")
        return
    click.echo(f"Found {len(snaps)} snapshot(s):")
    for s in snaps:
        click.echo()
        icon = "📌" if s.permanent else "📦"
        click.echo(f"{icon} {s.snapshot_name}{tags(s)}")
        click.echo(f"   {one_line(s.description)}")
        click.echo(f"   Created: {s.timestamp}")
        click.echo(
            f"   {len(s.collections)} collections, {s.document_count} docs, "
            f"{size_mb(s.total_mb)} total"
        )
        if verbose:
            for name, count in sorted(s.collections.items()):
                click.echo(f"     {name}: {count} docs")
            if s.includes_database:
                click.echo(f"   Database: {size_mb(s.database_size_mb)}")
            if s.includes_bulk:
                click.echo(f"   Bulk: {size_mb(s.bulk_store_size_mb)} in {s.files} files")
            click.echo(f"   Git: {git_line(s)}")
            line = f"   Stored: {size_bytes(s.added_bytes)} new when created"
            if usage and s.snapshot_name in usage:
                u = usage[s.snapshot_name]
                line += f", {size_bytes(u['unique_bytes'])} used by this snapshot alone"
            click.echo(line)
            if s.safety_for:
                click.echo(f"   Taken automatically before restoring {s.safety_for}")


def consistency_line(section: dict[str, Any] | None) -> str:
    """How consistent a database dump is (spec/database.md, ``consistency``)."""
    mode, reason = DatabaseSection(section or {}).consistency
    if mode == "transaction":
        return "one transaction (all collections from the same moment)"
    if mode:
        return f"{mode} only ({reason or 'no reason recorded'})"
    return "unknown"


def render_show(s: SnapshotInfo) -> None:
    click.echo(f"Snapshot: {s.snapshot_name}{tags(s)}")
    click.echo(f"  Description: {one_line(s.description)}")
    click.echo(f"  Created: {s.timestamp} ({s.created.isoformat()})")
    kind = s.kind + (f" (taken before restoring {s.safety_for})" if s.safety_for else "")
    click.echo(f"  Kind: {kind}")
    click.echo(f"  Permanent: {'yes' if s.permanent else 'no'}")
    click.echo(f"  Git: {git_line(s)}")
    if s.includes_database:
        click.echo(
            f"  Collections: {s.document_count} documents in {len(s.collections)} collections"
        )
        for name, count in sorted(s.collections.items()):
            click.echo(f"    {name}: {count}")
        click.echo(f"  Database: {s.database_size_mb:.1f} MB")
        click.echo(f"  Consistency: {consistency_line(s.database)}")
        for w in DatabaseSection(s.database or {}).warnings:
            click.echo(f"    warning: {w}")
    else:
        click.echo("  Database: not included")
    if s.includes_bulk:
        click.echo(f"  Bulk storage: {s.bulk_store_size_mb:.1f} MB in {s.files} files")
        for root in s.bulk_roots:
            click.echo(f"    {root}")
    else:
        click.echo("  Bulk storage: not included")
    click.echo(f"  Compression: {s.compression or 'none'}")
    click.echo(f"  Stored when created: {size_bytes(s.added_bytes)}")
    if s.partial:
        click.echo(f"  Partial: {len(s.warnings)} path(s) could not be read:")
        for w in s.warnings:
            click.echo(f"    {w}")


def render_created(r: CreateResult, db_configured: bool, no_db: bool) -> None:
    s = r.snapshot
    click.echo(f"✓ Snapshot created: {s.snapshot_name}")
    if s.includes_database:
        click.echo(f"  Collections: {s.document_count} documents")
        click.echo(f"  Database: {s.database_size_mb:.1f} MB")
    elif no_db:
        click.echo("  Database: skipped (--no-db)")
    elif not db_configured:
        click.echo("  Database: not configured (bulk-only snapshot)")
    if s.includes_bulk:
        click.echo(f"  Bulk storage: {s.bulk_store_size_mb:.1f} MB")
    else:
        click.echo("  Bulk storage: skipped (--no-bulk)")
    click.echo(f"  Git: {git_line(s)}")
    click.echo(
        f"  Stored: {size_bytes(r.added_bytes)} new data "
        f"({size_bytes(r.read_bytes)} read, {r.reused_files} unchanged files reused, "
        f"{r.elapsed:.1f}s)"
    )
    if r.skipped:
        click.echo(f"⚠ Snapshot is partial: {len(r.skipped)} path(s) could not be read")


def render_plan(plan: RestorePlan) -> None:
    """The restore confirmation text, on stderr (stdout stays clean for ``--json``)."""
    echo = functools.partial(click.echo, err=True)
    s = plan.snapshot
    echo(f"Restore snapshot: {s.snapshot_name}")
    echo(f"  Description: {one_line(s.description)}")
    echo(f"  Created: {s.timestamp}")
    if plan.restore_db:
        echo(f"  Collections: {s.document_count} documents")
        into = plan.database_changes.get("database")
        echo(
            f"  Database: {s.database_size_mb:.1f} MB"
            + (f" into database {into[0]}" if into else "")
        )
        for what in ("drop", "replace", "create"):
            names = plan.database_changes.get(what) or []
            if names:
                echo(f"    {what}: {', '.join(names)}")
    if plan.restore_bulk:
        echo(f"  Bulk storage: {s.bulk_store_size_mb:.1f} MB")
        for t in plan.targets:
            if plan.include:
                echo(f"    into {t.target}")
                continue
            state = "replaces its current contents" if t.exists else "new directory"
            echo(f"    into {t.target} ({state})")
        if plan.include:
            echo("    only these paths (nothing else changes):")
            for path in plan.include:
                echo(f"      {one_line(path)}")
    for sp in plan.sources:
        echo(f"  {sp.source}:")
        for line in sp.lines:
            echo(f"    {line}")
    echo(
        "  Safety snapshot: "
        + ("taken first" if plan.safety_snapshot else "skipped (--no-safety-snapshot)")
    )
    echo()


def render_database_writes(d: SnapshotDiff) -> None:
    """``restore --dry-run``: per collection, the path the database restore takes and what
    it writes (spec/database.md, *Restore by difference*)."""
    if not d.database_writes:
        return
    click.echo("Database restore writes:")
    for w in d.database_writes:
        if w.path == "merge":
            if not (w.removed or w.inserted or w.replaced):
                click.echo(f"  {w.name}: merge: nothing to write (indexes kept)")
                continue
            click.echo(
                f"  {w.name}: merge: {w.removed} removed, {w.inserted} inserted, "
                f"{w.replaced} replaced (indexes kept)"
            )
        elif w.path == "reload":
            click.echo(
                f"  {w.name}: reload ({w.reason}): dropped with its {w.removed} documents, "
                f"{w.inserted} loaded, indexes rebuilt"
            )
        elif w.path == "create":
            click.echo(f"  {w.name}: create: {w.inserted} documents loaded")
        else:
            click.echo(f"  {w.name}: drop: {w.removed} documents (not in the snapshot)")


def lines(items: Iterable[str], prefix: str = "  ") -> None:
    for item in items:
        click.echo(f"{prefix}{item}")


# -- lifecycle: cleanup, gc, archive, diff (cli/commands/lifecycle.py) --------------------------

_FATE_ICON = {"keep": "keep    ", "compress": "compress", "delete": "delete  "}


def render_cleanup(result: CleanupResult) -> None:
    """``cleanup [--dry-run]``: every snapshot with its fate and the rules that decided it."""
    p = result.policy
    click.echo(
        f"Retention policy at {result.now.isoformat().replace('+00:00', 'Z')}: keep the "
        f"{p.keep_last} newest, the newest of each week for {p.keep_weekly_weeks} weeks, "
        f"permanent ones; compress after {p.to_mapping()['compress_after_days']} days"
    )
    if p.safety_keep_last is None:
        click.echo("Safety snapshots (taken before a restore) follow the same rules.")
    else:
        click.echo(
            f"Safety snapshots (taken before a restore) are kept apart and never take a place "
            f"above: the {p.safety_keep_last} newest, and every one younger than "
            f"{p.safety_keep_days} days."
        )
    if not result.decisions:
        click.echo("No snapshots.")
        return
    for d in result.decisions:
        flags = " 📌" if d.facts.permanent else ""
        flags += " [safety]" if d.facts.safety else ""
        flags += " [compressed]" if d.facts.compressed else ""
        click.echo(f"  {_FATE_ICON[str(d.fate)]}  {d.name}{flags}")
        click.echo(f"            {'; '.join(d.reasons)}")
    counts = {f: sum(1 for d in result.decisions if str(d.fate) == f) for f in _FATE_ICON}
    if result.dry_run:
        click.echo(
            f"Dry run: would delete {counts['delete']}, compress {counts['compress']}, "
            f"keep {counts['keep']} unchanged. Nothing was changed."
        )
        return
    click.echo(
        f"✓ Deleted {len(result.deleted)} snapshot(s), compressed {len(result.compressed)}, "
        f"kept {len(result.decisions) - len(result.deleted)}"
    )
    if result.archive and result.archive.chunks:
        render_archive(result.archive, header=False)
    if result.gc:
        render_gc(result.gc)
    if result.archive and result.archive.chunks and result.gc:
        written = result.archive.archive_bytes + result.archive.index_bytes
        net = result.gc.reclaimed_bytes - written
        click.echo(
            f"  Net: the repository is {size_bytes(abs(net))} "
            + ("smaller" if net >= 0 else "larger")
            + f" (archives written: {size_bytes(written)})"
        )


def render_gc(r: GcResult) -> None:
    verb = "Would reclaim" if r.dry_run else "✓ Reclaimed"
    parts = [
        f"{r.packs_deleted} pack(s) deleted",
        f"{r.packs_repacked} repacked into {r.packs_written}",
    ]
    if r.unindexed_packs:
        parts.append(f"{r.unindexed_packs} unindexed leftover pack(s) removed")
    if r.archives_deleted or r.archives_rewritten:
        parts.append(f"{r.archives_deleted} archive(s) deleted, {r.archives_rewritten} rewritten")
    click.echo(
        f"{verb} {size_bytes(max(0, r.reclaimed_bytes))} ({', '.join(parts)}; "
        f"{r.live_chunks} live chunks in {r.snapshots} snapshots, {r.elapsed:.1f}s)"
    )
    if r.dead_bytes_kept:
        click.echo(
            f"  {size_bytes(r.dead_bytes_kept)} of dead data stays in packs under the "
            "rewrite threshold (gc --max-unused 0 reclaims it)"
        )


def render_archive(r: ArchiveResult, header: bool = True) -> None:
    if header and r.snapshots:
        click.echo(f"✓ Compressed {len(r.snapshots)} snapshot(s): {', '.join(r.snapshots)}")
    elif header:
        click.echo("✓ No snapshot to compress")
    if r.chunks:
        saved = 100 * (1 - r.archive_bytes / r.lz4_bytes) if r.lz4_bytes else 0.0
        click.echo(
            f"  Archived {r.chunks} chunks: {size_bytes(r.raw_bytes)} raw, "
            f"{size_bytes(r.lz4_bytes)} in lz4 packs -> {size_bytes(r.archive_bytes)} in "
            f"{r.archives_written} tar.gz archive(s) ({saved:.0f}% smaller)"
        )
    if header and r.gc:
        render_gc(r.gc)


_OBJECT_MARK = {"added": "+", "removed": "-", "changed": "~"}
_CHANGE_MARK = {"added": "+", "removed": "-", "modified": "M", "metadata": "m", "type": "T"}


def _file_line(c: FileChange) -> str:
    if c.entries:
        size = size_bytes(c.bytes)
        return f"{one_line(c.path)}/ ({c.type_after or c.type_before}, {c.entries} entries, {size})"
    if c.change == "added":
        return f"{one_line(c.path)} ({c.type_after}, {size_bytes(c.size_after)})"
    if c.change == "removed":
        return f"{one_line(c.path)} ({c.type_before}, {size_bytes(c.size_before)})"
    if c.change == "type":
        return f"{one_line(c.path)} ({c.type_before} -> {c.type_after})"
    if c.change == "modified" and "symlink" in (c.type_before, c.type_after):
        return f"{one_line(c.path)} ({', '.join(c.details)})"  # sizes of links say nothing
    if c.change == "modified":
        extra = f"; {', '.join(c.details)}" if c.details else ""
        return (
            f"{one_line(c.path)} ({size_bytes(c.size_before)} -> {size_bytes(c.size_after)}{extra})"
        )
    return f"{one_line(c.path)} ({', '.join(c.details)})"


def _render_sections(d: SnapshotDiff) -> None:
    """The other sources' lines, under each source's name (spec/sources.md)."""
    for name, lines in d.sections.items():
        click.echo(f"  {name}:")
        for line in lines:
            click.echo(f"    {line}")


def render_diff(d: SnapshotDiff, title: str | None = None) -> None:
    """``diff A B`` and ``restore --dry-run``: one line per change, grouped by root."""
    click.echo(title or f"Changes from {d.before} to {d.after}:")
    if d.empty:
        click.echo("  no differences")
        return
    for root in d.roots_removed:
        click.echo(f"  - bulk root {root} (not in {d.after})")
    for root in d.roots_added:
        click.echo(f"  + bulk root {root} (not in {d.before})")
    current = None
    for c in d.files:
        if c.root != current:
            current = c.root
            click.echo(f"  {current}:")
        click.echo(f"    {_CHANGE_MARK[c.change]} {_file_line(c)}")
    if d.database:
        click.echo(f"  database dump {d.database}")
    _render_sections(d)
    if d.collections:
        click.echo("  Collections:")
    for coll in d.collections:
        _render_collection(coll)
    if d.objects:
        click.echo("  Views, analyzers, graphs, AQL functions:")
    for o in d.objects:
        click.echo(f"    {_OBJECT_MARK[o.change]} {o.kind} {one_line(o.name)}")
    n = d.counts()
    objects = f", {n['objects_changed']} view/analyzer/graph/function(s)" if d.objects else ""
    click.echo(
        f"Summary: {n['added']} added, {n['removed']} removed, {n['modified']} modified, "
        f"{n['metadata']} metadata-only, {n['type']} type changes; "
        f"{n['collections_changed']} collection(s){objects} differ"
    )


def _render_collection(coll: CollectionChange) -> None:
    """One collection of a diff, with up to 20 of the keys added, removed and changed."""
    if coll.change == "added":
        docs = coll.count_after if coll.count_after is not None else "?"
        click.echo(f"    + {coll.name} ({docs} docs)")
        return
    if coll.change == "removed":
        count = f" ({coll.count_before} docs)" if coll.count_before is not None else ""
        click.echo(f"    - {coll.name}{count}")
        return
    if coll.change == "replaced":
        click.echo(f"    ~ {coll.name} (replaced by the snapshot's {coll.count_after} docs)")
        return
    line = f"    ~ {coll.name}: {coll.count_before} -> {coll.count_after} docs"
    if coll.keys_known:
        line += f"; keys +{coll.n_added} -{coll.n_removed} ~{coll.n_changed}"
    if coll.structure_changed:
        line += "; properties or indexes changed"
    click.echo(line)
    for label, keys, total in (
        ("+", coll.keys_added, coll.n_added),
        ("-", coll.keys_removed, coll.n_removed),
        ("~", coll.keys_changed, coll.n_changed),
    ):
        if keys:
            more = f" (+{total - len(keys)} more)" if total > len(keys) else ""
            click.echo(
                f"        {label} {', '.join(keys[:20])}"
                + (" ..." if len(keys) > 20 else "")
                + more
            )
