"""tests/api/test_namespaces.py on Citus (see conftest.py)."""

from tests.api.test_namespaces import *  # noqa: F403
