"""Functions stay short: at most a handful in snapstore/ run over MAX_LINES lines, each listed
here with the reason it is long (and, for a function of this change, that reason in its own
docstring). A new long function fails this test; so does an entry whose function got short
or moved, so that the list only ever names functions that are long today."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT

MAX_LINES = 60
OTHERS = "owned by another change this round"

# "path::qualified name" -> why it is long. Entries whose reason is OTHERS are functions that
# another change in progress is rewriting; the rest must carry their reason in a docstring.
ALLOWED: dict[str, str] = {}


def long_functions() -> dict[str, tuple[int, str | None]]:
    """Every function of snapstore/ over MAX_LINES lines: key -> (lines, docstring)."""
    found: dict[str, tuple[int, str | None]] = {}
    for path in sorted((REPO_ROOT / "snapstore").rglob("*.py")):
        rel = path.relative_to(REPO_ROOT).as_posix()
        _visit(ast.parse(path.read_text(), rel), rel, "", found)
    return found


def _visit(node: ast.AST, rel: str, prefix: str, found: dict[str, tuple[int, str | None]]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            _visit(child, rel, f"{prefix}{child.name}.", found)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}{child.name}"
            lines = (child.end_lineno or child.lineno) - child.lineno + 1
            if lines > MAX_LINES:
                found[f"{rel}::{name}"] = (lines, ast.get_docstring(child))
            _visit(child, rel, f"{name}.", found)


def test_only_listed_functions_are_long() -> None:
    found = long_functions()
    unlisted = {k: n for k, (n, _) in found.items() if k not in ALLOWED}
    assert not unlisted, (
        f"functions over {MAX_LINES} lines: {unlisted}; split them (or list one in ALLOWED "
        "with the reason it is long, and say it in its docstring)"
    )
    stale = sorted(k for k in ALLOWED if k not in found)
    assert not stale, f"no longer over {MAX_LINES} lines (or moved): remove from ALLOWED: {stale}"


def test_long_functions_are_few_and_say_why() -> None:
    assert len(ALLOWED) <= 10, "a handful, not a habit"
    found = long_functions()
    for key, reason in ALLOWED.items():
        if reason == OTHERS or key not in found:
            continue
        doc = found[key][1] or ""
        assert reason in " ".join(doc.split()), f"{key}: its docstring must say {reason!r}"


def test_no_dead_code() -> None:
    """vulture, as `make lint` runs it ([tool.vulture] in pyproject.toml): what it cannot see
    used is named, with the reason, in scripts/vulture_whitelist.py."""
    pytest.importorskip("vulture")
    r = subprocess.run(
        [sys.executable, "-m", "vulture"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
