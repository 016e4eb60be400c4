"""tests/api/test_lists.py on Citus (see conftest.py)."""

from tests.api.test_lists import *  # noqa: F403
