"""boto3 is needed only for S3 (the ``[s3]`` extra), and S3 settings come from the TOML ``[s3]``
table as well as from the environment. Real CLI processes; "boto3 is not installed" is a real
import failure: a ``boto3`` package first on the path that fails to import, as an absent one
does, while everything else stays the installed product."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Workspace, created_name, error_line, ok


def without_boto3(ws: Workspace, tmp_path: Path) -> dict[str, str]:
    shadow = tmp_path / "no-boto3"
    for name in ("boto3", "botocore"):
        (shadow / name).mkdir(parents=True)
        (shadow / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{name}'\", name={name!r})\n"
        )
    env = ws.env()
    env["PYTHONPATH"] = f"{shadow}:{env['PYTHONPATH']}"
    return env


def test_s3_without_boto3_names_the_extra(ws: Workspace, tmp_path: Path) -> None:
    env = without_boto3(ws, tmp_path)
    r = ws.run("--repo", "s3://snapshots/metis", "list", env=env)
    assert r.returncode == 2, r.stderr
    error_line(r.stderr, "s3:// repository needs boto3", "pip install 'snapstore[s3]'")


def test_local_repository_works_without_boto3(ws: Workspace, tmp_path: Path) -> None:
    env = without_boto3(ws, tmp_path)
    name = created_name(ok(ws.run("create", "no boto3 here", env=env)).stdout)
    assert name in ok(ws.run("list", env=env)).stdout
    assert "healthy" in ok(ws.run("check", env=env)).stdout


def test_s3_endpoint_from_the_toml_file(ws: Workspace) -> None:
    # Port 9 (discard) has no listener on loopback: the error shows which endpoint was used.
    (ws.root / "s3.toml").write_text(
        'repository = "s3://snapshots/metis"\n'
        '[s3]\nendpoint = "http://127.0.0.1:9"\nmax_attempts = 1\nconnect_timeout = 2\n'
    )
    env = ws.env(AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s")
    for var in ("SNAPSTORE_REPO", "SNAPSTORE_S3_ENDPOINT", "AWS_MAX_ATTEMPTS"):
        env.pop(var, None)
    r = ws.run("--config", str(ws.root / "s3.toml"), "list", env=env, timeout=60)
    assert r.returncode == 1, r.stderr
    error_line(r.stderr, "cannot reach S3 endpoint http://127.0.0.1:9", "connection refused")
    # The environment overrides the file.
    env["SNAPSTORE_S3_ENDPOINT"] = "http://127.0.0.1:7"
    r = ws.run("--config", str(ws.root / "s3.toml"), "list", env=env, timeout=60)
    error_line(r.stderr, "cannot reach S3 endpoint http://127.0.0.1:7")


def test_every_third_party_import_is_declared() -> None:
    """Each distribution the product imports is a dependency or in a product extra (s3, ui,
    mount), never only in `test` or only pulled in by another package."""
    import ast
    import importlib.metadata as md
    import re
    import sys
    import tomllib

    from tests.helpers import REPO_ROOT

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    requirements = project["dependencies"] + [
        r for extra, reqs in extras.items() if extra != "test" for r in reqs
    ]

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    declared = {norm(re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0]) for r in requirements}
    dists = md.packages_distributions()
    imported: set[str] = set()
    for folder in ("snapstore", "tools"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"snapstore", "tools"}
    missing = {
        module: dists.get(module, [module])
        for module in sorted(third_party)
        if not any(norm(d) in declared for d in dists.get(module, [module]))
    }
    # botocore comes with boto3 (it is boto3's own half, released in lockstep).
    missing.pop("botocore", None)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
