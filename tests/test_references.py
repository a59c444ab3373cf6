"""Comments, docstrings and spec pages cite only files that are in the repository, and no
issue numbers: a reader of the checkout can follow every reference (spec/README.md).

Scanned: the comments and docstrings of snapstore/, tests/ and bench/ (Python), and the text
of every Markdown page under spec/, tests/ and bench/. A reference is a path naming one of the
repository's top folders (``spec/gc.md``, ``tests/data/...``), a module path inside the
package (``store/reader.py``), any ``.md`` page, or a path leaving the checkout
(``../shared/...``, ``.notes/...``, always refused). Example file names in prose
(``results/run1.csv``) are not references.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import REPO_ROOT

SCANNED = ("snapstore", "tests", "spec", "bench")
TOP = ("snapstore", "tests", "spec", "bench", "tools", "docs", "scripts")
PATH = re.compile(
    r"(?<![\w./@:<-])((?:\.\.?/)*(?:[\w*.-]+/)*[\w*-][\w*.-]*"
    r"\.(?:py|md|toml|json|txt|sh|html|css|js|ya?ml|cfg|ini|tsv|csv|rst))(?![\w/-])"
)
ISSUE = re.compile(r"(?i)\bissues?\s*#?\s*\d+|\bgh-\d+")
OUTSIDE = ("../", ".notes/", "shared/")


def _files() -> list[Path]:
    out = []
    for top in SCANNED:
        for path in sorted((REPO_ROOT / top).rglob("*")):
            if path.suffix in (".py", ".md") and path.is_file():
                out.append(path)
    return out


def _texts(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every comment and docstring of a Python file; a Markdown page whole."""
    src = path.read_text()
    if path.suffix == ".md":
        yield from enumerate(src.splitlines(), 1)
        return
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            yield tok.start[0], tok.string
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                for n, line in enumerate(doc.splitlines()):
                    yield node.body[0].lineno + n, line


def _repository_files() -> list[str]:
    skip = {".git", ".venv", "__pycache__"}
    return [
        p.relative_to(REPO_ROOT).as_posix()
        for p in REPO_ROOT.rglob("*")
        if not skip & set(p.relative_to(REPO_ROOT).parts)
    ]


def _is_reference(ref: str) -> bool:
    first = ref.split("/", 1)[0]
    package_dirs = {p.name for p in (REPO_ROOT / "snapstore").iterdir() if p.is_dir()}
    return (
        ref.startswith(OUTSIDE)
        or first in TOP
        or ref.endswith(".md")
        or (ref.endswith(".py") and "/" in ref and first in package_dirs | {"arangodb", "restore"})
    )


def _resolves(ref: str, where: Path, files: list[str]) -> bool:
    if ref.startswith(OUTSIDE):
        return False
    bases = [REPO_ROOT, REPO_ROOT / "spec", REPO_ROOT / "snapstore", *where.parents]
    for base in bases:
        if "*" in ref:
            if any(base.glob(ref)):
                return True
        elif (base / ref).exists():
            return True
    # A module path relative to the package it sits in (``restore/write_files.py``), or a page
    # named alone (``2026-11-25-1.md`` in bench/results/).
    return any(f.endswith("/" + ref) or f == ref for f in files)


def test_references_name_files_in_the_repository() -> None:
    files = _repository_files()
    bad = []
    for path in _files():
        rel = path.relative_to(REPO_ROOT)
        for line, text in _texts(path):
            for m in PATH.finditer(text):
                ref = m.group(1)
                if _is_reference(ref) and not _resolves(ref, path, files):
                    bad.append(f"{rel}:{line}: {ref}")
    assert not bad, "references to files not in the repository:\n" + "\n".join(bad)


def test_no_issue_numbers() -> None:
    """An issue number means nothing to a reader of the checkout: say what it was about, or
    cite the spec page that states the rule."""
    bad = []
    for path in _files():
        for line, text in _texts(path):
            bad += [
                f"{path.relative_to(REPO_ROOT)}:{line}: {m.group(0)}" for m in ISSUE.finditer(text)
            ]
    assert not bad, "\n".join(bad)
