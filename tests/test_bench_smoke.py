"""Smoke tests of the benchmark: the generator is deterministic, the change step touches
about 1%, and `python -m bench.run` works end to end on a tiny tree.

Never a timing assertion: these machines are too noisy for that, and the real figures come
from `python -m bench.run` at scale 1 (see bench/README.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import lz4.frame
import pytest

from bench.change import apply_change
from bench.dataset import generate, generate_many_files
from bench.layout import EXCLUDED_NAMES
from bench.treecmp import compare, fingerprint, walk

ROOT = Path(__file__).resolve().parents[1]
SCALE = 0.002  # about 2.8 MB


def test_same_seed_and_scale_give_a_byte_identical_tree(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", SCALE, seed=1)
    generate(tmp_path / "b", SCALE, seed=1, jobs=1)
    generate(tmp_path / "c", SCALE, seed=3)
    assert a.bytes > 2_000_000
    assert fingerprint(tmp_path / "a") == fingerprint(tmp_path / "b")
    assert fingerprint(tmp_path / "a") != fingerprint(tmp_path / "c")


def test_tree_has_every_kind_of_entry(tmp_path: Path) -> None:
    generate(tmp_path / "t", SCALE, seed=1)
    entries = walk(tmp_path / "t")
    names = {p.rsplit("/", 1)[-1] for p in entries}
    assert names >= EXCLUDED_NAMES
    links = [e for e in entries.values() if e.kind == "link"]
    assert len(links) >= 3
    assert any(e.target.startswith("/nonexistent") for e in links)  # one dangling
    assert {0o600, 0o644, 0o755} <= {e.mode for e in entries.values() if e.kind == "file"}
    suffixes = {Path(p).suffix for p in entries}
    assert {".jsonl", ".npy", ".py"} <= suffixes


def test_json_lines_compress_like_text_and_embeddings_do_not(tmp_path: Path) -> None:
    generate(tmp_path / "t", SCALE, seed=1)
    text = b"".join(
        p.read_bytes() for p in sorted((tmp_path / "t").rglob("*.jsonl")) if not p.is_symlink()
    )
    npy = b"".join(p.read_bytes() for p in sorted((tmp_path / "t").rglob("*.npy")))
    assert 2.5 < len(text) / len(lz4.frame.compress(text)) < 5
    assert len(npy) / len(lz4.frame.compress(npy)) < 1.01


def test_change_step_touches_about_one_percent_deterministically(tmp_path: Path) -> None:
    generate(tmp_path / "a", SCALE, seed=1)
    shutil.copytree(tmp_path / "a", tmp_path / "b", symlinks=True)
    before = walk(tmp_path / "a")
    first = apply_change(tmp_path / "a", seed=2)
    second = apply_change(tmp_path / "b", seed=2)
    assert first.as_dict() == second.as_dict()
    assert fingerprint(tmp_path / "a") == fingerprint(tmp_path / "b")
    assert 0.005 < first.fraction < 0.02
    assert first.appended and first.rewritten and first.added and first.deleted
    after = walk(tmp_path / "a")
    for rel in first.rewritten:  # same size, so only the mtime tells a stat-based tool
        assert after[rel].size == before[rel].size
        assert after[rel].mtime_ns != before[rel].mtime_ns
    assert not set(first.deleted) & after.keys()
    assert set(first.added) <= after.keys()


def test_compare_finds_differences(tmp_path: Path) -> None:
    generate(tmp_path / "src", SCALE, seed=1)
    shutil.copytree(tmp_path / "src", tmp_path / "dst", symlinks=True)
    assert not compare(tmp_path / "src", tmp_path / "dst").ok  # noise was copied too
    for path in sorted((tmp_path / "dst").rglob("*"), reverse=True):
        if path.name in EXCLUDED_NAMES:
            shutil.rmtree(path)
    assert compare(tmp_path / "src", tmp_path / "dst").ok
    victim = next(p for p in sorted((tmp_path / "dst").rglob("*.py")))
    victim.write_bytes(victim.read_bytes()[:-1] + b"#")
    result = compare(tmp_path / "src", tmp_path / "dst")
    assert not result.ok and "content differs" in result.problems[0]


def _bench_run(
    tmp_path: Path, *args: str, tools: str = "rsync", timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "bench.run", "--tools", tools, "--runs", "1"]
    argv += ["--workdir", str(tmp_path / "work"), "--results-dir", str(tmp_path / "results")]
    argv += ["--no-install", "--no-drop-caches", *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_bench_run_ci_size_with_snapstore(tmp_path: Path) -> None:
    """The CI-sized benchmark (scale 0.02, about 26 MB): every phase of snapstore runs, the
    restore verifies, and the unchanged re-snapshot stores (almost) nothing. No timings."""
    done = _bench_run(tmp_path, "--scale", "0.02", tools="snapstore", timeout=600)
    assert done.returncode == 0, done.stderr
    figures = json.loads(next((tmp_path / "results").glob("*-0.02.json")).read_text())
    (run,) = figures["runs"]
    assert run["tool"] == "snapstore" and run["available"], run.get("reason")
    phases = run["phases"]
    assert {name: p["status"] for name, p in phases.items()} == dict.fromkeys(
        ("init", "first", "unchanged", "changed", "restore", "compress"), "ok"
    ), {name: p.get("error") for name, p in phases.items()}
    assert run["verify"]["ok"], run["verify"]["problems"]
    assert phases["unchanged"]["added_bytes"] < 64 * 1024  # a manifest, an index at most
    assert 0 < phases["changed"]["added_bytes"] < phases["first"]["added_bytes"] / 2
    report = next((tmp_path / "results").glob("*-0.02.md")).read_text()
    assert "| snapstore | 1 of 1 |" in report


@pytest.mark.skipif(
    shutil.which("rsync") is None, reason="rsync is not installed (apt-get install rsync)"
)
def test_bench_run_end_to_end_with_rsync(tmp_path: Path) -> None:
    done = _bench_run(tmp_path, "--scale", str(SCALE))
    assert done.returncode == 0, done.stderr
    md = sorted((tmp_path / "results").glob(f"*-{SCALE:g}.md"))
    raw = sorted((tmp_path / "results").glob(f"*-{SCALE:g}.json"))
    assert len(md) == 1 and len(raw) == 1
    report = md[0].read_text()
    assert "## Wall time" in report and "| rsync | 1 of 1 |" in report  # restore verified
    figures = json.loads(raw[0].read_text())
    (run,) = figures["runs"]
    assert run["tool"] == "rsync"
    assert run["verify"]["ok"], run["verify"]["problems"]
    assert run["verify"]["files"] > 40
    assert {name: p["status"] for name, p in run["phases"].items()} == dict.fromkeys(
        ("init", "first", "unchanged", "changed", "restore", "compress"), "ok"
    )
    assert run["phases"]["unchanged"]["added_bytes"] > 0  # a full copy per snapshot
    assert 0.005 < figures["meta"]["change"]["fraction"] < 0.02
    assert not (tmp_path / "work" / "areas" / "run1-rsync").exists()  # cleaned up


@pytest.mark.skipif(
    shutil.which("rsync") is None, reason="rsync is not installed (apt-get install rsync)"
)
def test_bench_scale_runs_write_their_reports(tmp_path: Path) -> None:
    done = _bench_run(tmp_path, "--many-files", "300", "--many-snapshots", "2")
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert any(n.endswith("-many-files-300.md") for n in names)
    assert any(n.endswith("-many-snapshots-2.json") for n in names)
    many = json.loads(next((tmp_path / "results").glob("*-many-files-300.json")).read_text())
    assert many["runs"][0]["phases"]["first"]["status"] == "ok"


def test_many_files_tree_has_the_requested_count(tmp_path: Path) -> None:
    made = generate_many_files(tmp_path / "m", 1000)
    files = [e for e in walk(tmp_path / "m").values() if e.kind == "file"]
    assert made.files == len(files) == 1000
    assert all(128 <= e.size <= 2048 for e in files)
