"""tests/api/blobs/test_records.py on Citus (see conftest.py)."""

from tests.api.blobs.test_records import *  # noqa: F403
