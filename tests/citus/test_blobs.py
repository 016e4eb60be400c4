"""tests/api/blobs/test_blobs.py on Citus (see conftest.py)."""

from tests.api.blobs.test_blobs import *  # noqa: F403
