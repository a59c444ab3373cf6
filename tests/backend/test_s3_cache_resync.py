"""The index cache re-sync of tests/test_cache_resync.py on an S3 repository (SeaweedFS).

Two caches on two "machines" share one bucket: a create that waited for the other machine's
gc stores again the chunks that gc deleted, instead of deduplicating against its stale cache.
"""

from __future__ import annotations

import time

import pytest

from tests.backend.conftest import SeaweedS3
from tests.helpers import Workspace
from tests.test_cache_resync import create_waiting_for_a_gc

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def bucket(seaweedfs: SeaweedS3) -> str:
    name = seaweedfs.new_bucket_name()
    seaweedfs.client().create_bucket(Bucket=name)
    return name


def test_create_waiting_for_a_gc_on_s3(ws: Workspace, bucket: str, s3_env: SeaweedS3) -> None:
    create_waiting_for_a_gc(ws, repository=f"s3://{bucket}/resync-{time.time_ns()}/repo")
