"""The test suite's own promises: every test works in its own tmp folders (home, cache,
config), and a run that selects no test says so and fails."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import PYTHON, REPO_ROOT


def test_home_cache_and_config_are_this_tests_own(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.getbasetemp().resolve()
    for where in (
        Path.home(),
        Path(os.environ["XDG_CACHE_HOME"]),
        Path(os.environ["XDG_CONFIG_HOME"]),
        Path(os.environ["SNAPSTORE_CACHE_DIR"]),
    ):
        assert where.resolve().is_relative_to(base), where


def test_a_run_that_selects_no_test_fails_and_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    r = subprocess.run(
        [
            PYTHON,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'inner'}",
            "tests/test_suite_setup.py",
            "-k",
            "no_test_has_this_name",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, r.stdout + r.stderr
    assert "error: no tests ran (exit code 5)" in r.stdout
