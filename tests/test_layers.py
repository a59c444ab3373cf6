"""The layers of spec/README.md, enforced: every import in the product points downward (or
stays within its layer), and the product never imports the tests (the ArangoDB test server
included). A new module must be given a layer here, which is where the diagram is kept true.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO_ROOT

# Highest first; a module belongs to the longest prefix listed. Keep in step with
# spec/README.md's "Layers" picture.
# Ranks may be fractions: a layer slotted between two others (crypto, between backend and store).
LAYERS: list[tuple[float, tuple[str, ...]]] = [
    (9, ("snapstore.cli", "snapstore.ui", "snapstore.__main__", "tools")),
    (8, ("snapstore.manager",)),
    (7, ("snapstore.ops",)),
    (6, ("snapstore.maintenance", "snapstore.inspection")),
    (5, ("snapstore.sources",)),
    (4, ("snapstore.tree", "snapstore.config")),
    (3, ("snapstore.manifest",)),
    (2, ("snapstore.store",)),
    (1.5, ("snapstore.crypto",)),
    (1, ("snapstore.backend",)),
    (0, ("snapstore.base", "snapstore")),
]


def layer(module: str) -> float:
    best: tuple[int, float] | None = None  # (prefix length, rank)
    for rank, prefixes in LAYERS:
        for prefix in prefixes:
            # The package itself is only its own __init__: a new top-level module must be
            # given a layer, not fall into the base one.
            inside = module == prefix or (prefix != "snapstore" and module.startswith(prefix + "."))
            if inside and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rank)
    assert best is not None, f"{module} has no layer in tests/test_layers.py"
    return best[1]


def _modules() -> list[tuple[str, Path]]:
    out = []
    for base in ("snapstore", "tools"):
        for path in sorted((REPO_ROOT / base).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out.append((name, path))
    return out


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            if node.module == "snapstore":  # from snapstore import browse
                names += [f"snapstore.{a.name}" for a in node.names]
    return names


def test_every_import_points_down_and_none_reaches_the_tests() -> None:
    upward = []
    for module, path in _modules():
        here = layer(module)
        for target in _imports(path):
            assert not target.startswith("tests"), f"{module} imports {target}"
            if not target.startswith(("snapstore", "tools")):
                continue
            if target == "snapstore" or target.startswith("snapstore.__"):
                continue  # the package itself (its version)
            if layer(target) > here:
                upward.append(f"{module} (layer {here}) imports {target} (layer {layer(target)})")
    assert upward == [], "\n".join(upward)


def test_the_layer_table_names_real_modules() -> None:
    names = {m for m, _ in _modules()}
    for _, prefixes in LAYERS:
        for prefix in prefixes:
            assert any(n == prefix or n.startswith(prefix + ".") for n in names), prefix
