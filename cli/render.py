"""Rendering: the seed's human-readable formats and the ``--json`` documents."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

import click

from snapstore.records import CreateResult, RestorePlan, SnapshotInfo


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
        click.echo(f"   {s.description}")
        click.echo(f"   Created: {s.timestamp}")
        click.echo(
            f"   {len(s.collections)} collections, {s.document_count} docs, "
            f"{size_mb(s.total_mb)} total"
        )
        if verbose:
            for name, count in sorted(s.collections.items()):
                click.echo(f"     {name}: {count} docs")
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


def render_show(s: SnapshotInfo) -> None:
    click.echo(f"Snapshot: {s.snapshot_name}{tags(s)}")
    click.echo(f"  Description: {s.description}")
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
    echo(f"  Description: {s.description}")
    echo(f"  Created: {s.timestamp}")
    if plan.restore_db:
        echo(f"  Collections: {s.document_count} documents")
        echo(f"  Database: {s.database_size_mb:.1f} MB")
        for what in ("drop", "replace", "create"):
            names = plan.database_changes.get(what) or []
            if names:
                echo(f"    {what}: {', '.join(names)}")
    if plan.restore_bulk:
        echo(f"  Bulk storage: {s.bulk_store_size_mb:.1f} MB")
        for t in plan.targets:
            state = "replaces its current contents" if t.exists else "new directory"
            echo(f"    into {t.target} ({state})")
    echo(
        "  Safety snapshot: "
        + ("taken first" if plan.safety_snapshot else "skipped (--no-safety-snapshot)")
    )
    echo()


def lines(items: Iterable[str], prefix: str = "  ") -> None:
    for item in items:
        click.echo(f"{prefix}{item}")
