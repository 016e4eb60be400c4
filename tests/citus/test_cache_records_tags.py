"""tests/api/test_cache_records_tags.py on Citus (see conftest.py)."""

from tests.api.test_cache_records_tags import *  # noqa: F403
