"""tests/api/test_connection.py on Citus (see conftest.py)."""

from tests.api.test_connection import *  # noqa: F403
