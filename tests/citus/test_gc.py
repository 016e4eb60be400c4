"""tests/api/blobs/test_gc.py on Citus (see conftest.py)."""

from tests.api.blobs.test_gc import *  # noqa: F403
