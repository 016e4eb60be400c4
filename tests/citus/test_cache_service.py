"""tests/api/test_cache_service.py on Citus (see conftest.py)."""

from tests.api.test_cache_service import *  # noqa: F403
