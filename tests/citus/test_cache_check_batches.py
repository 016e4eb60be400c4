"""tests/api/test_cache_check_batches.py on Citus (see conftest.py)."""

from tests.api.test_cache_check_batches import *  # noqa: F403
