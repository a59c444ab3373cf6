"""Where the browser tests save their screenshots: a tmp folder, unless asked otherwise.

``SNAPSTORE_SCREENSHOTS=docs/screenshots`` (a folder, relative to the checkout or absolute)
saves them where the README shows them from; without it they go into this test session's tmp
folder, so a test run never writes into the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

ENV = "SNAPSTORE_SCREENSHOTS"


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The screenshot folder ($SNAPSTORE_SCREENSHOTS, else a tmp folder), created."""
    explicit = os.environ.get(ENV)
    folder = REPO_ROOT / explicit if explicit else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def _screenshots_go_to_the_chosen_folder(
    request: pytest.FixtureRequest, screenshots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The browser tests name their folder in a module constant SHOTS; point it at the
    # chosen folder for the duration of each test.
    if hasattr(request.module, "SHOTS"):
        monkeypatch.setattr(request.module, "SHOTS", screenshots)
